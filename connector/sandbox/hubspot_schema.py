"""Contact property definitions and HubSpot's value validation rules for the sandbox."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from connector.sandbox.hubspot_common import ApiError, get_iso, get_now

DEFAULT_GROUP = "contactinformation"
READ_ONLY = frozenset({"hs_object_id", "createdate", "lastmodifieddate"})
FIELD_TYPES_BY_TYPE: dict[str, frozenset[str]] = {
    "string": frozenset({"text", "textarea", "file", "phonenumber", "html"}),
    "number": frozenset({"number", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "enumeration": frozenset({"select", "radio", "checkbox", "booleancheckbox"}),
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
}
_DEFAULTS: list[tuple[str, str, str, str]] = [
    ("email", "Email", "string", "text"),
    ("firstname", "First Name", "string", "text"),
    ("lastname", "Last Name", "string", "text"),
    ("hs_object_id", "Record ID", "number", "number"),
    ("createdate", "Create Date", "datetime", "date"),
    ("lastmodifieddate", "Last Modified Date", "datetime", "date"),
    ("twitterhandle", "Twitter Username", "string", "text"),
]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def build_group(name: str, label: str, display_order: int = -1) -> dict[str, Any]:
    """A ``PropertyGroup`` JSON object."""
    return {"name": name, "label": label, "displayOrder": display_order, "archived": False}


def build_property(spec: dict[str, Any], *, hubspot_defined: bool = False) -> dict[str, Any]:
    """A ``ModelProperty`` JSON object from a ``PropertyCreate``-shaped dict."""
    now = get_iso(get_now())
    name = spec["name"]
    options = [
        {
            "label": str(option.get("label", option.get("value", ""))),
            "value": str(option.get("value", "")),
            "displayOrder": int(option.get("displayOrder", index)),
            "hidden": bool(option.get("hidden", False)),
            **({"description": option["description"]} if option.get("description") else {}),
        }
        for index, option in enumerate(spec.get("options") or [])
    ]
    read_only = name in READ_ONLY
    return {
        "name": name,
        "label": spec.get("label") or name,
        "type": spec["type"],
        "fieldType": spec["fieldType"],
        "groupName": spec.get("groupName", DEFAULT_GROUP),
        "description": spec.get("description", ""),
        "options": options,
        "displayOrder": int(spec.get("displayOrder", -1)),
        "hidden": bool(spec.get("hidden", False)),
        "formField": bool(spec.get("formField", False)),
        "hasUniqueValue": bool(spec.get("hasUniqueValue", name == "email")),
        "calculated": False,
        "externalOptions": bool(spec.get("externalOptions", False)),
        "hubspotDefined": hubspot_defined,
        "showCurrencySymbol": False,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": read_only,
            "readOnlyOptions": False,
        },
        "createdAt": now,
        "updatedAt": now,
        "archived": False,
    }


def build_default_schema() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The default contact groups and properties of a fresh portal."""
    groups = {DEFAULT_GROUP: build_group(DEFAULT_GROUP, "Contact information", 0)}
    properties = {
        name: build_property(
            {"name": name, "label": label, "type": type_, "fieldType": field_type},
            hubspot_defined=True,
        )
        for name, label, type_, field_type in _DEFAULTS
    }
    return groups, properties


def check_property_create(
    spec: Any, groups: dict[str, Any], properties: dict[str, Any]
) -> dict[str, Any]:
    """Validate a ``PropertyCreate`` body and return it; 400/409 as HubSpot answers."""
    if not isinstance(spec, dict):
        raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not spec.get(k)]
    if missing:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Invalid input JSON: missing required fields {missing}",
            errors=[
                {"message": f"{k} is required", "code": "REQUIRED_FIELD", "context": {"field": [k]}}
                for k in missing
            ],
        )
    name = str(spec["name"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ApiError(400, "VALIDATION_ERROR", f"Property name '{name}' is not valid.")
    if name in properties:
        raise ApiError(409, "OBJECT_ALREADY_EXISTS", f"Property named '{name}' already exists.")
    if spec["groupName"] not in groups:
        raise ApiError(
            400, "VALIDATION_ERROR", f"Property group '{spec['groupName']}' does not exist."
        )
    allowed = FIELD_TYPES_BY_TYPE.get(str(spec["type"]))
    if allowed is None or spec["fieldType"] not in allowed:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Invalid type/fieldType combination: type '{spec['type']}' does not support "
            f"fieldType '{spec['fieldType']}'.",
        )
    return spec


def _check_value(definition: dict[str, Any], value: str) -> tuple[str, str] | None:
    """``(error_code, message)`` when ``value`` is invalid for the property, else None."""
    type_ = definition["type"]
    if type_ == "enumeration":
        allowed = {o["value"] for o in definition["options"]}
        chosen = value.split(";") if definition["fieldType"] == "checkbox" else [value]
        bad = [v for v in chosen if v not in allowed]
        if bad:
            return (
                "INVALID_OPTION",
                f"{bad[0]} was not one of the allowed options: {sorted(allowed)}",
            )
    elif type_ == "number":
        try:
            float(value)
        except ValueError:
            return "INVALID_DECIMAL", f"{value} was not a valid number."
    elif type_ == "bool":
        if value.lower() not in ("true", "false"):
            return "INVALID_BOOLEAN", f"{value} was not a valid boolean. Use true or false."
    elif type_ == "date":
        return _check_date(value)
    elif type_ == "datetime":
        if not value.isdigit():
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return "INVALID_DATETIME", f"{value} was not a valid datetime."
    elif definition["name"] == "email" and not _EMAIL.match(value):
        return "INVALID_EMAIL", f"Email address {value} is invalid"
    return None


def _check_date(value: str) -> tuple[str, str] | None:
    if _DAY.match(value):
        try:
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            return "INVALID_DATE", f"{value} is not a valid date."
        return None
    if not value.isdigit():
        return "INVALID_DATE", f"{value} is not a valid date; use midnight UTC epoch milliseconds."
    moment = datetime.fromtimestamp(int(value) / 1000, UTC)
    if int(value) % 86_400_000:
        clock = f"{moment.strftime('%H:%M:%S')}.{int(value) % 1000:03d}"
        return "INVALID_DATE", f"{value} is at {clock} UTC, not midnight!"
    return None


def check_property_values(
    values: Any, properties: dict[str, dict[str, Any]], portal_id: int
) -> dict[str, str]:
    """Validate a write's ``properties`` map; 400 VALIDATION_ERROR in HubSpot's embedded form."""
    if not isinstance(values, dict):
        raise ApiError(
            400, "VALIDATION_ERROR", "Invalid input JSON: 'properties' must be an object"
        )
    problems: list[dict[str, Any]] = []
    for name, raw in values.items():
        value = _as_text(raw)
        definition = properties.get(name)
        if definition is None:
            code, message = "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist'
        elif name in READ_ONLY:
            code, message = (
                "READ_ONLY_VALUE",
                f'"{name}" is a read only property; its value cannot be set.',
            )
        elif value == "":
            continue
        else:
            found = _check_value(definition, value)
            if found is None:
                continue
            code, message = found
        problems.append(
            {
                "isValid": False,
                "message": message,
                "error": code,
                "name": name,
                "localizedErrorMessage": message,
                "portalId": portal_id,
            }
        )
    if problems:
        embedded = json.dumps(problems, separators=(",", ":"))
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Property values were not valid: {embedded}",
            errors=[
                {
                    "message": p["message"],
                    "code": p["error"],
                    "context": {"propertyName": [p["name"]]},
                }
                for p in problems
            ],
        )
    return {name: _as_text(raw) for name, raw in values.items()}


def _as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return str(raw).lower()
    return str(raw)
