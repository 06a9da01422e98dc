"""YAML field mappings: load and check mapping files, lint them against their live targets."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from collections.abc import Mapping as AbcMapping
from pathlib import Path

import yaml

from connector.errors import MappingError
from connector.mapping_apply import (
    FieldOutcome,
    MappingResult,
    PreviewRow,
    apply_mapping,
    build_root,
    expand_source,
    guess_platform,
    normalise_profile,
    preview_mapping,
    value_hash,
)
from connector.mapping_check import Checker, parse_defaults, parse_fields
from connector.mapping_models import (
    KINDS,
    EnumOption,
    FieldSpec,
    Mapping,
    TargetInfo,
    TransformCall,
    normalise_target,
)
from connector.transforms import TransformContext

__all__ = [
    "EnumOption",
    "FieldOutcome",
    "FieldSpec",
    "Mapping",
    "MappingResult",
    "PreviewRow",
    "TargetInfo",
    "TransformCall",
    "TransformContext",
    "apply_mapping",
    "build_root",
    "check_mapping_files",
    "expand_source",
    "guess_platform",
    "lint_mapping",
    "load_mapping",
    "normalise_profile",
    "parse_mapping",
    "preview_mapping",
    "value_hash",
]

_TOP_KEYS = ("kind", "description", "defaults", "fields")


def parse_mapping(text: str, source: str = "<mapping>") -> Mapping:
    """Validate mapping YAML text; raises ``MappingError`` listing every problem at once."""
    try:
        data = yaml.safe_load(text)
        checker = Checker(source, text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else f"{source}:1:1"
        problem = getattr(exc, "problem", None) or str(exc)
        raise MappingError([f"{where}: (YAML): syntax error: {problem}"]) from exc
    if not isinstance(data, dict):
        raise MappingError(
            [
                f"{source}:1:1: (top level): a mapping file is a YAML mapping with "
                "'kind' and 'fields' (see docs/mappings.md)"
            ]
        )
    checker.unknown_keys(data, (), _TOP_KEYS)
    kind = data.get("kind")
    if kind is None:
        checker.add(("kind",), f"'kind' is required (known: {', '.join(KINDS)})")
    elif not checker.choice(kind, ("kind",), "kind", KINDS):
        kind = None
    defaults = parse_defaults(checker, data.get("defaults"), kind)
    fields = parse_fields(checker, data.get("fields"), kind, defaults)
    if checker.problems or kind is None:
        raise MappingError(checker.problems)
    description = data.get("description")
    return Mapping(
        kind=kind,
        fields=tuple(fields),
        path=source,
        description=str(description) if description is not None else None,
    )


def load_mapping(path: str | os.PathLike[str]) -> Mapping:
    """Read and validate one mapping file; raises ``MappingError`` with located problems."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise MappingError([f"{path}: mapping file not found"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError([f"{path}: cannot read mapping file: {exc}"]) from exc
    return parse_mapping(text, str(path))


def check_mapping_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Every problem in these mapping files (empty when all are valid)."""
    problems: list[str] = []
    for path in paths:
        try:
            load_mapping(path)
        except MappingError as exc:
            problems.extend(exc.problems)
    return problems


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
