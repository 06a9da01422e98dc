"""HubSpot property rules: type/fieldType pairs, value conversion and bootstrap definitions."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from connector.sources.base import Status

FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("text", "textarea", "html", "phonenumber", "file"),
    "number": ("number", "calculation_equation"),
    "date": ("date",),
    "datetime": ("date",),
    "bool": ("booleancheckbox", "calculation_equation"),
    "enumeration": ("select", "radio", "checkbox", "booleancheckbox"),
}
DEFAULT_FIELD_TYPE = {
    "string": "text",
    "number": "number",
    "date": "date",
    "datetime": "date",
    "bool": "booleancheckbox",
    "enumeration": "select",
}
STATUS_OPTIONS = (*Status.ALL, Status.RETRY)


@dataclass(frozen=True)
class PropertySpec:
    """A property the connector writes, with how to create it when it is missing."""

    name: str
    type: str = "string"
    field_type: str | None = None
    label: str | None = None
    description: str = ""
    options: tuple[tuple[str, str], ...] = ()
    group: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def build_definition(self, default_group: str) -> dict[str, Any]:
        """The ``PropertyCreate`` JSON body for this property."""
        field_type = self.field_type or DEFAULT_FIELD_TYPE.get(self.type, "text")
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label or self.name.replace("_", " ").strip().title(),
            "type": self.type,
            "fieldType": field_type,
            "groupName": self.group or default_group,
        }
        if self.description:
            body["description"] = self.description
        options = self.options
        if self.type == "bool" and not options:
            options = (("Yes", "true"), ("No", "false"))
        if options:
            body["options"] = [
                {"label": label, "value": value, "displayOrder": i, "hidden": False}
                for i, (label, value) in enumerate(options)
            ]
        return body

    def describe(self, default_group: str) -> str:
        """How a human creates it in HubSpot (for ``sources check`` with bootstrap off)."""
        body = self.build_definition(default_group)
        text = (
            f"create contact property {self.name!r} (label {body['label']!r}, group "
            f"{body['groupName']!r}, type {self.type}, field type {body['fieldType']}"
        )
        if "options" in body:
            text += ", options " + ", ".join(o["value"] for o in body["options"])
        return text + ")"


def check_field_type(type_: str, field_type: str) -> str | None:
    """Return a problem when ``type_``/``field_type`` is not a pair HubSpot accepts."""
    allowed = FIELD_TYPES.get(type_)
    if allowed is None:
        return f"unknown property type {type_!r} (use one of {', '.join(FIELD_TYPES)})"
    if field_type not in allowed:
        return f"type {type_} cannot use field type {field_type!r} (use {', '.join(allowed)})"
    return None


def build_status_specs(status: str, error: str, enriched_at: str) -> list[PropertySpec]:
    """The status, error and enriched-at properties every HubSpot source writes."""
    return [
        PropertySpec(
            status,
            "enumeration",
            "select",
            "IC Status",
            "Enrichment status written by the influencers.club connector",
            tuple((s.title(), s) for s in STATUS_OPTIONS),
        ),
        PropertySpec(error, "string", "textarea", "IC Error", "Why the last enrichment failed"),
        PropertySpec(
            enriched_at,
            "datetime",
            "date",
            "IC Enriched At",
            "When influencers.club data was last written",
        ),
    ]


def build_mapping_specs(mapping: Any) -> list[PropertySpec]:
    """Read the targets of a HubSpot mapping as ``PropertySpec`` objects."""
    fields = getattr(mapping, "fields", None) or []
    if isinstance(fields, Mapping):
        fields = list(fields.values())
    specs = []
    for spec in fields:
        options = tuple(
            (str(_get(o, "label") or _get(o, "value")), str(_get(o, "value")))
            for o in (getattr(spec, "options", None) or [])
        )
        specs.append(
            PropertySpec(
                name=str(spec.target),
                type=str(getattr(spec, "type", None) or "string"),
                field_type=getattr(spec, "field_type", None),
                label=getattr(spec, "label", None),
                description=getattr(spec, "description", None) or "",
                options=options,
                group=getattr(spec, "group", None),
            )
        )
    return specs


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def apply_value(value: Any, type_: str, options: Iterable[Mapping[str, str]] = ()) -> str:
    """Convert a Python value into the string HubSpot stores for a property of ``type_``.

    ``None`` and ``""`` clear the property. Dates become midnight-UTC ``YYYY-MM-DD``, datetimes
    ISO 8601 in UTC with milliseconds, bools ``true``/``false``, enumerations the option value
    (a matching label is translated to its value; lists join with ``;``).
    """
    if value is None or value == "":
        return ""
    if type_ == "bool":
        return _bool_text(value)
    if type_ == "number":
        return _number_text(value)
    if type_ == "date":
        return _date_text(value)
    if type_ == "datetime":
        return _datetime_text(value)
    if type_ == "enumeration":
        items = value if isinstance(value, list | tuple | set) else [value]
        by_label = {
            str(o.get("label", "")).lower(): str(o["value"]) for o in options if "value" in o
        }
        values = {str(o["value"]) for o in options if "value" in o}
        out = []
        for item in items:
            text = _bool_text(item) if isinstance(item, bool) else str(item)
            if text not in values and text.lower() in by_label:
                text = by_label[text.lower()]
            out.append(text)
        return ";".join(out)
    if isinstance(value, bool):
        return _bool_text(value)
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, float):
        return _number_text(value)
    return str(value)


def _bool_text(value: Any) -> str:
    if isinstance(value, str):
        return "true" if value.strip().lower() in ("true", "yes", "1", "y") else "false"
    return "true" if value else "false"


def _number_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return ""
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    return str(value).strip()


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, int | float):
        # Epoch values above ~1e11 are milliseconds (HubSpot's own format).
        seconds = value / 1000 if abs(value) > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _date_text(value: Any) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    parsed = _as_datetime(value)
    return parsed.astimezone(UTC).date().isoformat() if parsed else str(value)


def _datetime_text(value: Any) -> str:
    parsed = _as_datetime(value)
    if parsed is None:
        return str(value)
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
