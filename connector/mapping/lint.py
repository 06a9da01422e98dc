"""Linting a mapping against its live target: sheet header columns or HubSpot properties."""

from __future__ import annotations

import difflib
from collections.abc import Mapping as AbcMapping

from connector.mapping.model import Mapping, TargetInfo, normalise_target


def lint_mapping(
    mapping: Mapping,
    available: AbcMapping[str, TargetInfo | None],
    *,
    creates_missing: bool = False,
) -> list[str]:
    """Problems between a mapping and its live target: missing columns or incompatible properties.

    For sheets ``available`` holds the header names (matched trimmed, case-insensitively); for
    HubSpot the existing properties, with their details when known. With ``creates_missing``
    (the source adds missing columns itself) only columns that look misspelled are reported.
    """
    if mapping.kind == "sheets":
        return _lint_sheet(mapping, available, creates_missing=creates_missing)
    return _lint_hubspot(mapping, available)


def _lint_sheet(
    mapping: Mapping, available: AbcMapping[str, TargetInfo | None], *, creates_missing: bool
) -> list[str]:
    headers = {normalise_target(name): name for name in available}
    problems = []
    for spec in mapping.fields:
        if spec.policy == "never":
            continue
        for column in (spec.target, spec.image_formula):
            if column is None or normalise_target(column) in headers:
                continue
            close = difflib.get_close_matches(normalise_target(column), list(headers), n=1)
            if creates_missing and not close:
                continue
            hint = f" (a column {headers[close[0]]!r} exists: rename it?)" if close else ""
            problems.append(
                f"{mapping.path}: column {column!r} is missing from the sheet "
                f"header{hint}: add column {column!r} or let the connector create it"
            )
    return problems


_COMPATIBLE = {
    ("date", "datetime"),
    ("number", "string"),
    ("date", "string"),
    ("datetime", "string"),
    ("bool", "string"),
    ("enumeration", "string"),
    ("bool", "enumeration"),
}


def _lint_hubspot(mapping: Mapping, available: AbcMapping[str, TargetInfo | None]) -> list[str]:
    problems = []
    for spec in mapping.fields:
        if spec.policy == "never":
            continue
        if spec.target not in available:
            problems.append(
                f"{mapping.path}: property {spec.target!r} does not exist on contacts: create it "
                f"(type {spec.type}, field type {spec.field_type}, label {spec.label!r}) or let "
                "the connector create it (hubspot.bootstrap_properties: true)"
            )
            continue
        info = available[spec.target]
        if info is None or info.type is None:
            continue
        if info.type != spec.type and (spec.type, info.type) not in _COMPATIBLE:
            problems.append(
                f"{mapping.path}: property {spec.target!r} is {info.type!r} in HubSpot but the "
                f"mapping writes {spec.type!r}: change the mapping's type to {info.type!r} "
                "or map to another property"
            )
        elif spec.type == "enumeration" and info.type == "enumeration":
            missing = [o.value for o in spec.options if o.value not in set(info.options)]
            if missing:
                problems.append(
                    f"{mapping.path}: property {spec.target!r} lacks option(s) "
                    f"{', '.join(repr(m) for m in missing)}: add them in HubSpot "
                    "or remove them from the mapping"
                )
    return problems
