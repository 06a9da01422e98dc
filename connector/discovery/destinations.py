"""Where saved searches deliver new creators: rows appended to a sheet, or HubSpot list members."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from connector.config import HubSpotSourceSettings, SheetSourceSettings
from connector.discovery.context import DiscoveryServices
from connector.errors import ConfigError, InvalidHandleError, SourceError
from connector.handles import Handle, parse_handle
from connector.sources.sheets.rows import format_timestamp
from connector.sources.sheets.source import SheetsSource

log = logging.getLogger(__name__)

DISCOVERED_BY = "IC Discovered By"
DISCOVERED_AT = "IC Discovered At"
DISCOVERY_COLUMNS = {
    "full_name": "IC Discovery Name",
    "followers": "IC Discovery Followers",
    "engagement_percent": "IC Discovery Engagement",
}


@dataclass(frozen=True)
class Creator:
    """One creator a discovery page returned, with the profile fields discovery gives."""

    handle: Handle
    user_id: str
    full_name: str
    followers: int | None
    engagement_percent: float | None


def parse_creator(account: Any, platform: str) -> Creator | None:
    """A ``Creator`` from one ``accounts[]`` item, or None when it carries no usable username."""
    if not isinstance(account, dict):
        return None
    found = account.get("profile")
    profile: dict[str, Any] = found if isinstance(found, dict) else {}
    try:
        handle = parse_handle(str(profile.get("username") or ""), platform)
    except InvalidHandleError:
        return None
    followers, engagement = profile.get("followers"), profile.get("engagement_percent")
    return Creator(
        handle=handle,
        user_id=str(account.get("user_id") or ""),
        full_name=str(profile.get("full_name") or ""),
        followers=int(followers) if isinstance(followers, int | float) else None,
        engagement_percent=float(engagement) if isinstance(engagement, int | float) else None,
    )


def parse_known_handles(cells: Iterable[tuple[str, str | None]], platform: str) -> list[Handle]:
    """The valid handles of ``platform`` among ``(handle text, platform text)`` pairs."""
    found = []
    for text, platform_text in cells:
        try:
            handle = parse_handle(text, platform_text or None)
        except InvalidHandleError:
            continue
        if handle.platform == platform:
            found.append(handle)
    return found


class Destination(Protocol):
    """A configured source that accepts discovered creators."""

    name: str

    def fetch_known(self) -> list[Handle]:
        """Handles already in the destination on the search's platform, most recent first."""
        ...

    def deliver(self, creators: Sequence[Creator]) -> int:
        """Add creators so the pipeline enriches them; returns how many were added."""
        ...


class SheetDestination:
    """Appends one row per creator: handle, platform and the discovery fields."""

    def __init__(
        self,
        services: DiscoveryServices,
        config: SheetSourceSettings,
        *,
        search: str,
        platform: str,
    ) -> None:
        source = services.get_source(config.name)
        if not isinstance(source, SheetsSource):  # pragma: no cover - settings decide the type
            raise ConfigError([f"source {config.name!r} is not a sheet"])
        self.name = config.name
        self._source = source
        self._config = config
        self._search = search
        self._platform = platform
        self._clock = services.clock

    def fetch_known(self) -> list[Handle]:
        """Handles in the sheet's handle column, bottom row first."""
        return parse_known_handles(reversed(self._source.fetch_handles()), self._platform)

    def deliver(self, creators: Sequence[Creator]) -> int:
        """Append the rows in one ``values:append``."""
        now = format_timestamp(self._clock())
        rows = []
        for creator in creators:
            row: dict[str, Any] = {self._config.handle_column: creator.handle.value}
            if self._config.platform_column:
                row[self._config.platform_column] = creator.handle.platform
            for field, column in DISCOVERY_COLUMNS.items():
                row[column] = getattr(creator, field)
            row[DISCOVERED_BY] = self._search
            row[DISCOVERED_AT] = now
            rows.append(row)
        return self._source.append_rows(rows)


class HubSpotDestination:
    """Finds or creates a contact per creator (keyed by the handle property) and lists it."""

    def __init__(
        self,
        services: DiscoveryServices,
        config: HubSpotSourceSettings,
        *,
        search: str,
        platform: str,
    ) -> None:
        self.name = config.name
        self._client = services.hubspot
        self._config = config
        self._platform = platform

    def fetch_known(self) -> list[Handle]:
        """Handle property values of the list's members, newest contact first."""
        config = self._config
        listed = self._client.fetch_list(config.list)
        ids = list(dict.fromkeys(self._client.iter_memberships(listed.list_id)))
        names = [config.handle_property]
        if config.platform_property:
            names.append(config.platform_property)
        batch = self._client.fetch_contacts(ids, names)
        cells = []
        for record_id in sorted(batch.found, key=_numeric_id, reverse=True):
            values = batch.found[record_id]
            platform = (
                values.get(config.platform_property) if config.platform_property else None
            ) or config.platform
            cells.append((values.get(config.handle_property) or "", platform))
        return parse_known_handles(cells, self._platform)

    def deliver(self, creators: Sequence[Creator]) -> int:
        """Reuse contacts that already carry the handle, create the rest, add all to the list."""
        config = self._config
        listed = self._client.fetch_list(config.list)
        if listed.processing_type not in ("MANUAL", "SNAPSHOT"):
            raise SourceError(
                f"HubSpot list {config.list!r} is {listed.processing_type}; discovery can only "
                "add contacts to a MANUAL (static) list",
                hint="point the search at a static list",
            )
        values = [v for c in creators for v in (c.handle.value, "@" + c.handle.value.lstrip("@"))]
        existing = self._client.fetch_contact_ids_by(config.handle_property, values)
        ids: list[str] = []
        missing: list[Creator] = []
        for creator in creators:
            key = creator.handle.value.lstrip("@").casefold()
            found = existing.get(key) or existing.get("@" + key)
            if found:
                ids.append(found)
            else:
                missing.append(creator)
        outcome = self._client.create_contacts([self._properties(c) for c in missing])
        ids.extend(outcome.ids[i] for i in sorted(outcome.ids))
        for index, reason in sorted(outcome.failed.items()):
            log.warning(
                "discovered contact not created",
                extra={"handle": missing[index].handle.value, "error": reason},
            )
        self._client.add_to_list(listed.list_id, ids)
        return len(ids)

    def _properties(self, creator: Creator) -> dict[str, str]:
        config = self._config
        properties = {config.handle_property: creator.handle.value}
        if config.platform_property:
            properties[config.platform_property] = creator.handle.platform
        first, _, last = creator.full_name.strip().partition(" ")
        if first:
            properties["firstname"] = first
        if last:
            properties["lastname"] = last.strip()
        return properties


def _numeric_id(record_id: str) -> int:
    return int(record_id) if record_id.isdigit() else -1


def build_destination(
    services: DiscoveryServices,
    config: SheetSourceSettings | HubSpotSourceSettings,
    *,
    search: str,
    platform: str,
) -> Destination:
    """The destination adapter for a configured source."""
    if isinstance(config, SheetSourceSettings):
        return SheetDestination(services, config, search=search, platform=platform)
    return HubSpotDestination(services, config, search=search, platform=platform)
