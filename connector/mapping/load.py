"""Reading mapping files: parse the YAML, check it, and build the validated ``Mapping``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import yaml

from connector.errors import MappingError
from connector.mapping.check import parse_defaults, parse_fields
from connector.mapping.checker import Checker
from connector.mapping.model import KINDS, Mapping
from connector.mapping.schema import TOP_KEYS


def parse_mapping(text: str, source: str = "<mapping>", *, strict: bool = False) -> Mapping:
    """Validate mapping YAML text; raises ``MappingError`` listing every problem at once.

    Payload keys no documented payload has (``{platform}.folower_count``) are warnings on the
    returned mapping (the API adds fields), and problems when ``strict``.
    """
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
    checker.unknown_keys(data, (), TOP_KEYS)
    kind = data.get("kind")
    if kind is None:
        checker.add(("kind",), f"'kind' is required (known: {', '.join(KINDS)})")
    elif not checker.choice(kind, ("kind",), "kind", KINDS):
        kind = None
    defaults = parse_defaults(checker, data.get("defaults"), kind)
    fields = parse_fields(checker, data.get("fields"), kind, defaults)
    if strict:
        checker.problems.extend(checker.warnings)
    if checker.problems or kind is None:
        raise MappingError(checker.problems)
    description = data.get("description")
    return Mapping(
        kind=kind,
        fields=tuple(fields),
        path=source,
        description=str(description) if description is not None else None,
        warnings=tuple(checker.warnings),
    )


def load_mapping(path: str | os.PathLike[str], *, strict: bool = False) -> Mapping:
    """Read and validate one mapping file; raises ``MappingError`` with located problems."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise MappingError([f"{path}: mapping file not found"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError([f"{path}: cannot read mapping file: {exc}"]) from exc
    return parse_mapping(text, str(path), strict=strict)


def check_mapping_files(
    paths: Iterable[str | os.PathLike[str]], *, strict: bool = False
) -> list[str]:
    """Every problem in these mapping files (empty when all are valid); ``strict`` as above."""
    problems: list[str] = []
    for path in paths:
        try:
            load_mapping(path, strict=strict)
        except MappingError as exc:
            problems.extend(exc.problems)
    return problems
