"""The HubSpot source's properties: create the missing ones, check them and the mapping."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from connector.config import HubSpotSettings, HubSpotSourceSettings
from connector.errors import ConnectorError
from connector.mapping import TargetInfo, lint_mapping
from connector.sources.hubspot.client import HubSpotClient, HubSpotList
from connector.sources.hubspot.properties import PropertySpec

# The same logger as HubSpotSource, so its records keep one name whichever part logs them.
log = logging.getLogger("connector.sources.hubspot.source")


class HubSpotProperties:
    """Mixin of ``HubSpotSource``: property bootstrap and the source check."""

    name: str
    settings: HubSpotSourceSettings
    _client: HubSpotClient
    _mapping: Any
    _hubspot: HubSpotSettings
    _list: HubSpotList | None
    _bootstrapped: bool
    _specs: dict[str, PropertySpec]
    _types: dict[str, tuple[str, tuple[dict[str, str], ...]]]

    if TYPE_CHECKING:

        def _all_specs(self) -> list[PropertySpec]: ...

        def fetch_list(self) -> HubSpotList: ...

        @property
        def _email_property(self) -> str | None: ...

    def bootstrap_properties(self) -> list[str]:
        """Create the group and every missing target property; return the names created."""
        existing = self._client.fetch_properties()
        self._remember_types(existing)
        missing = [spec for spec in self._all_specs() if spec.name not in existing]
        hs = self._hubspot
        for group in dict.fromkeys(spec.group or hs.property_group for spec in missing):
            label = hs.property_group_label if group == hs.property_group else group
            self._client.ensure_group(group, label)
        created = []
        for spec in missing:
            if self._client.create_property(spec.build_definition(hs.property_group)):
                created.append(spec.name)
        if created:
            log.info("hubspot source %s: created properties %s", self.name, ", ".join(created))
        self._bootstrapped = True
        return created

    def _remember_types(self, existing: dict[str, Any]) -> None:
        for name in self._types:
            prop = existing.get(name)
            if prop is not None:
                self._types[name] = (prop.type, prop.options)

    def check(self) -> list[str]:
        """Probe token, scopes, list, handle property and mapping against the real properties."""
        problems: list[str] = []
        try:
            self._list = None
            listed = self.fetch_list()
        except ConnectorError as exc:
            return [f"{self.name}: {exc}"]
        try:
            # Reading one member probes the list-membership and contact-read scopes.
            first = next(iter(self._client.iter_memberships(listed.list_id, limit=1)), None)
            if first is not None:
                self._client.fetch_contacts([first], [self.settings.handle_property])
        except ConnectorError as exc:
            problems.append(f"{self.name}: {exc}")
        try:
            existing = self._client.fetch_properties()
        except ConnectorError as exc:
            return [*problems, f"{self.name}: {exc}"]
        self._remember_types(existing)
        s = self.settings
        by_label = {p.label.strip().lower(): p.name for p in existing.values()}
        for prop in (s.handle_property, s.platform_property, self._email_property):
            if prop and prop not in existing:
                problems.append(
                    f"{self.name}: contact property {prop!r} does not exist"
                    + _label_hint(prop, by_label)
                )
        group = self._hubspot.property_group
        for spec in self._all_specs():
            found = existing.get(spec.name)
            if found is None:
                if not self._hubspot.bootstrap_properties:
                    problems.append(
                        f"{self.name}: missing property {spec.name!r}: {spec.describe(group)}"
                        + _label_hint(spec.name, by_label)
                    )
                continue
            if found.read_only:
                problems.append(f"{self.name}: property {spec.name!r} is read-only")
            if spec.name not in self._specs and found.type == "enumeration":
                values = {o["value"] for o in found.options}
                lacking = [v for _, v in spec.options if v not in values]
                if lacking:
                    problems.append(
                        f"{self.name}: property {spec.name!r} lacks option(s) "
                        + ", ".join(repr(v) for v in lacking)
                    )
        problems.extend(self._lint(existing))
        return problems

    def _lint(self, existing: dict[str, Any]) -> list[str]:
        available: dict[str, Any] = {
            p.name: TargetInfo(
                name=p.name,
                type=p.type,
                field_type=p.field_type,
                options=tuple(o["value"] for o in p.options),
            )
            for p in existing.values()
        }
        if self._hubspot.bootstrap_properties:
            # Missing targets are created by the bootstrap, so they are not problems here.
            available.update({n: None for n in self._specs if n not in available})
        return [f"{self.name}: {p}" for p in lint_mapping(self._mapping, available)]


def _label_hint(name: str, by_label: dict[str, str]) -> str:
    found = by_label.get(name.strip().lower()) or by_label.get(name.replace("_", " ").lower())
    return f" (that is a label; use the internal name {found!r})" if found else ""
