"""YAML field mappings: load and validate them with exact locations, lint them against targets."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jmespath
import yaml
from jmespath.exceptions import JMESPathError

from connector.errors import MappingError
from connector.mapping_apply import (
    PSEUDO_SOURCES,
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
from connector.transforms import TRANSFORMS, TransformContext, check_args, parse_call

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

Kind = Literal["sheets", "hubspot"]
Policy = Literal["overwrite", "fill_empty", "overwrite_if_ours", "never"]
WhenMissing = Literal["skip", "clear"]

KINDS = ("sheets", "hubspot")
POLICIES = ("overwrite", "fill_empty", "overwrite_if_ours", "never")
WHEN_MISSING = ("skip", "clear")
PROPERTY_TYPES = ("string", "number", "date", "datetime", "bool", "enumeration")
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("text", "textarea", "html", "phonenumber", "file"),
    "number": ("number",),
    "date": ("date",),
    "datetime": ("date",),
    "bool": ("booleancheckbox",),
    "enumeration": ("select", "radio", "checkbox"),
}
_TOP_KEYS = ("kind", "description", "defaults", "fields")
_DEFAULT_KEYS = ("policy", "when_missing", "group")
_FIELD_KEYS = ("target", "source", "transform", "policy", "when_missing", "description")
_HUBSPOT_KEYS = ("type", "field_type", "label", "group", "options")
_OPTION_KEYS = ("value", "label", "description")
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
_EXAMPLE_PLATFORM = "instagram"


@dataclass(frozen=True)
class TransformCall:
    """One step of a field's chain: a registered transform name and its arguments."""

    name: str
    args: tuple[Any, ...] = ()

    @property
    def text(self) -> str:
        if not self.args:
            return self.name
        shown = (json.dumps(a, ensure_ascii=False, default=str) for a in self.args)
        return f"{self.name}({', '.join(shown)})"


@dataclass(frozen=True)
class EnumOption:
    """A HubSpot enumeration option: the stored ``value`` and its display ``label``."""

    value: str
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """One mapped field: where its value comes from, how it is shaped and when it is written."""

    target: str
    sources: tuple[str, ...]
    transforms: tuple[TransformCall, ...] = ()
    policy: Policy = "overwrite_if_ours"
    when_missing: WhenMissing = "skip"
    type: str | None = None
    field_type: str | None = None
    label: str | None = None
    group: str | None = None
    options: tuple[EnumOption, ...] = ()
    description: str | None = None
    line: int = 0

    @property
    def chain_text(self) -> str:
        """``src1 | src2 → int → percent`` for previews and messages."""
        return " → ".join([" | ".join(self.sources), *(t.text for t in self.transforms)])


@dataclass(frozen=True)
class Mapping:
    """A validated mapping file: its target kind and ordered fields."""

    kind: Kind
    fields: tuple[FieldSpec, ...]
    path: str = "<mapping>"
    description: str | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(f.target for f in self.fields)

    def get_field(self, target: str) -> FieldSpec | None:
        """The field writing ``target`` (sheets: trimmed, case-insensitive), or ``None``."""
        wanted = _norm(target) if self.kind == "sheets" else target
        for spec in self.fields:
            if (_norm(spec.target) if self.kind == "sheets" else spec.target) == wanted:
                return spec
        return None


@dataclass(frozen=True)
class TargetInfo:
    """An existing HubSpot property as the lint sees it."""

    name: str
    type: str | None = None
    field_type: str | None = None
    options: tuple[str, ...] = ()


def _norm(name: str) -> str:
    return name.strip().casefold()


def _yaml_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _known(values: Iterable[str]) -> str:
    return ", ".join(values)


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Checker:
    """Collects problems with their ``file:line:col`` and YAML path."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.problems: list[str] = []
        self.values: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.keys: dict[tuple[Any, ...], tuple[int, int]] = {}
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                if (*path, key) in self.keys:
                    self.keys[(*path, key, "<dup>")] = (
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                    )
                    self.add((*path, key, "<dup>"), f"duplicate key {key!r}", key=True)
                    continue
                self.keys[(*path, key)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                self._walk(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*path, i))

    def add(self, path: tuple[Any, ...], message: str, *, key: bool = False) -> None:
        probe = path
        where = (self.keys if key else self.values).get(probe)
        while where is None and probe:
            probe = probe[:-1]
            where = self.values.get(probe)
        line, col = where or (1, 1)
        shown = tuple(p for p in path if p != "<dup>")
        self.problems.append(f"{self.source}:{line}:{col}: {_yaml_path(shown)}: {message}")

    def unknown_keys(
        self,
        data: dict[str, Any],
        path: tuple[Any, ...],
        allowed: Iterable[str],
        *,
        kind: str | None = None,
    ) -> None:
        allowed = tuple(allowed)
        for key in data:
            if key in allowed:
                continue
            if kind == "sheets" and key in _HUBSPOT_KEYS:
                self.add((*path, key), f"{key!r} is only used with kind: hubspot", key=True)
            else:
                self.add(
                    (*path, key),
                    f"unknown key {key!r}{_suggest(str(key), allowed)} (known: {_known(allowed)})",
                    key=True,
                )

    def choice(
        self, value: Any, path: tuple[Any, ...], what: str, choices: tuple[str, ...]
    ) -> bool:
        if value in choices:
            return True
        self.add(
            path,
            f"unknown {what} {value!r}{_suggest(str(value), choices)} (known: {_known(choices)})",
        )
        return False


def parse_mapping(text: str, source: str = "<mapping>") -> Mapping:
    """Validate mapping YAML text; raises ``MappingError`` listing every problem at once."""
    try:
        data = yaml.safe_load(text)
        checker = _Checker(source, text)
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
        checker.add(("kind",), f"'kind' is required (known: {_known(KINDS)})")
    elif not checker.choice(kind, ("kind",), "kind", KINDS):
        kind = None
    defaults = _parse_defaults(checker, data.get("defaults"), kind)
    fields = _parse_fields(checker, data.get("fields"), kind, defaults)
    if checker.problems or kind is None:
        raise MappingError(checker.problems)
    description = data.get("description")
    return Mapping(
        kind=kind,
        fields=tuple(fields),
        path=source,
        description=str(description) if description is not None else None,
    )


def _parse_defaults(checker: _Checker, raw: Any, kind: str | None) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "policy": "overwrite_if_ours",
        "when_missing": "skip",
        "group": None,
    }
    if raw is None:
        return defaults
    if not isinstance(raw, dict):
        checker.add(("defaults",), f"must be a mapping with keys {_known(_DEFAULT_KEYS)}")
        return defaults
    allowed = _DEFAULT_KEYS if kind == "hubspot" else _DEFAULT_KEYS[:2]
    checker.unknown_keys(raw, ("defaults",), allowed, kind=kind)
    if "policy" in raw and checker.choice(
        raw["policy"], ("defaults", "policy"), "policy", POLICIES
    ):
        defaults["policy"] = raw["policy"]
    if "when_missing" in raw and checker.choice(
        raw["when_missing"], ("defaults", "when_missing"), "when_missing", WHEN_MISSING
    ):
        defaults["when_missing"] = raw["when_missing"]
    if isinstance(raw.get("group"), str):
        defaults["group"] = raw["group"]
    elif "group" in raw:
        checker.add(("defaults", "group"), f"must be a property group name, got {raw['group']!r}")
    return defaults


def _parse_fields(
    checker: _Checker, raw: Any, kind: str | None, defaults: dict[str, Any]
) -> list[FieldSpec]:
    if raw is None:
        checker.add(("fields",), "'fields' is required: a list of {target, source, …}")
        return []
    if not isinstance(raw, list) or not raw:
        checker.add(("fields",), "must be a non-empty list of fields")
        return []
    fields: list[FieldSpec] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        path: tuple[Any, ...] = ("fields", index)
        if not isinstance(item, dict):
            checker.add(path, "each field is a mapping with at least 'target' and 'source'")
            continue
        spec = _parse_field(checker, item, path, kind, defaults)
        if spec is None:
            continue
        key = _norm(spec.target) if kind == "sheets" else spec.target
        if key in seen:
            first = seen[key]
            checker.add(
                (*path, "target"),
                f"duplicate target {spec.target!r} (already written "
                f"by fields[{first}], line {checker.values[('fields', first)][0]})",
            )
            continue
        seen[key] = index
        fields.append(spec)
    return fields


def _parse_field(
    checker: _Checker,
    item: dict[str, Any],
    path: tuple[Any, ...],
    kind: str | None,
    defaults: dict[str, Any],
) -> FieldSpec | None:
    before = len(checker.problems)
    allowed = _FIELD_KEYS + (_HUBSPOT_KEYS if kind == "hubspot" else ())
    checker.unknown_keys(item, path, allowed, kind=kind)
    target = item.get("target")
    if target is not None and not isinstance(target, str):
        checker.add((*path, "target"), f"must be text (quote it), got {target!r}")
        target = ""
    elif not isinstance(target, str) or not target.strip():
        checker.add(
            (*path, "target"), "'target' is required: the column header or property internal name"
        )
        target = ""
    elif kind == "hubspot" and not _PROPERTY_NAME.match(target):
        fixed = re.sub(r"[^a-z0-9_]+", "_", target.strip().lower()).strip("_") or "name"
        checker.add(
            (*path, "target"),
            f"{target!r} is not a valid HubSpot property internal "
            "name (lower-case letters, digits and _, starting with a letter; "
            f"e.g. {fixed!r})",
        )
    sources = _parse_sources(checker, item.get("source"), (*path, "source"))
    transforms = _parse_transforms(checker, item.get("transform"), (*path, "transform"), item, kind)
    policy = item.get("policy", defaults["policy"])
    checker.choice(policy, (*path, "policy"), "policy", POLICIES)
    when_missing = item.get("when_missing", defaults["when_missing"])
    checker.choice(when_missing, (*path, "when_missing"), "when_missing", WHEN_MISSING)
    hubspot = _parse_hubspot(checker, item, path, target, defaults) if kind == "hubspot" else {}
    if len(checker.problems) > before:
        return None
    description = item.get("description")
    return FieldSpec(
        target=target.strip() if kind == "sheets" else target,
        sources=sources,
        transforms=transforms,
        policy=policy,
        when_missing=when_missing,
        description=str(description) if description is not None else None,
        line=checker.values[path][0],
        **hubspot,
    )


def _parse_sources(checker: _Checker, raw: Any, path: tuple[Any, ...]) -> tuple[str, ...]:
    if raw is None:
        checker.add(
            path,
            "'source' is required: a JMESPath expression (e.g. "
            "'{platform}.follower_count') or a list of fallbacks",
        )
        return ()
    items = (
        [(raw, path)]
        if isinstance(raw, str)
        else [(v, (*path, i)) for i, v in enumerate(raw)]
        if isinstance(raw, list)
        else []
    )
    if not items:
        checker.add(path, "must be an expression or a non-empty list of expressions")
    for value, where in items:
        if not isinstance(value, str) or not value.strip():
            checker.add(where, f"must be a JMESPath expression text, got {value!r}")
            continue
        text = value.strip()
        if text.startswith("$"):
            if text not in PSEUDO_SOURCES:
                checker.add(
                    where,
                    f"unknown pseudo source {text!r}"
                    f"{_suggest(text, PSEUDO_SOURCES)} (known: {_known(PSEUDO_SOURCES)})",
                )
            continue
        try:
            jmespath.compile(expand_source(text, _EXAMPLE_PLATFORM))
        except JMESPathError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            checker.add(where, f"invalid JMESPath expression {text!r}: {reason}")
    return tuple(v.strip() for v, _ in items if isinstance(v, str))


def _parse_transforms(
    checker: _Checker, raw: Any, path: tuple[Any, ...], item: dict[str, Any], kind: str | None
) -> tuple[TransformCall, ...]:
    if raw is None:
        return ()
    steps = (
        [(raw, path)]
        if isinstance(raw, str | dict)
        else [(v, (*path, i)) for i, v in enumerate(raw)]
        if isinstance(raw, list)
        else []
    )
    if not steps:
        checker.add(
            path, "must be a transform or a list of transforms, e.g. [int] or ['round(2)', percent]"
        )
    calls: list[TransformCall] = []
    for step, where in steps:
        try:
            name, args = _read_step(step)
        except ValueError as exc:
            checker.add(where, str(exc))
            continue
        spec = TRANSFORMS.get(name)
        if spec is None:
            checker.add(
                where,
                f"unknown transform {name!r}{_suggest(name, TRANSFORMS)} "
                f"(known: {_known(sorted(TRANSFORMS))})",
            )
            continue
        problem = check_args(spec, args)
        if problem:
            checker.add(where, problem)
            continue
        if name == "enum" and not args and not item.get("options"):
            checker.add(
                where,
                "enum needs options: give the field 'options' (kind: hubspot, "
                "type: enumeration) or a table, e.g. {enum: {from: to}}",
            )
            continue
        calls.append(TransformCall(name, args))
    return tuple(calls)


def _read_step(step: Any) -> tuple[str, tuple[Any, ...]]:
    if isinstance(step, str):
        return parse_call(step)
    if isinstance(step, dict) and len(step) == 1:
        name, arg = next(iter(step.items()))
        if isinstance(name, str):
            return name, tuple(arg) if isinstance(arg, list) else (arg,)
    raise ValueError(
        f"a transform is a name such as 'round(2)' or a one-key mapping such as "
        f"{{round: 2}}, got {step!r}"
    )


def _parse_hubspot(
    checker: _Checker,
    item: dict[str, Any],
    path: tuple[Any, ...],
    target: str,
    defaults: dict[str, Any],
) -> dict[str, Any]:
    prop_type = item.get("type", "string")
    if not checker.choice(prop_type, (*path, "type"), "type", PROPERTY_TYPES):
        return {}
    allowed = FIELD_TYPES[prop_type]
    field_type = item.get("field_type", allowed[0])
    if field_type not in allowed:
        checker.add(
            (*path, "field_type"),
            f"field_type {field_type!r} does not fit type "
            f"{prop_type!r} (use one of: {_known(allowed)})",
        )
    options = _parse_options(checker, item.get("options"), (*path, "options"), prop_type)
    label = item.get("label") or target.replace("_", " ").strip().capitalize()
    group = item.get("group", defaults["group"])
    for key, value in (("label", label), ("group", group)):
        if value is not None and not isinstance(value, str):
            checker.add((*path, key), f"must be text, got {value!r}")
    return {
        "type": prop_type,
        "field_type": field_type,
        "label": str(label),
        "group": group,
        "options": options,
    }


def _parse_options(
    checker: _Checker, raw: Any, path: tuple[Any, ...], prop_type: str
) -> tuple[EnumOption, ...]:
    if prop_type != "enumeration":
        if raw is not None:
            checker.add(
                path, f"options are only for type: enumeration (this field is {prop_type!r})"
            )
        return ()
    if not isinstance(raw, list) or not raw:
        checker.add(
            path,
            "type: enumeration needs a non-empty list of options "
            "(values, or {value, label} mappings)",
        )
        return ()
    options: list[EnumOption] = []
    for i, entry in enumerate(raw):
        if isinstance(entry, dict):
            checker.unknown_keys(entry, (*path, i), _OPTION_KEYS)
            value, label = entry.get("value"), entry.get("label", entry.get("value"))
        else:
            value, label = entry, entry
        if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
            checker.add(
                (*path, i), f"option value must be non-empty text or a number, got {value!r}"
            )
            continue
        if str(value) in {o.value for o in options}:
            checker.add((*path, i), f"duplicate option value {str(value)!r}")
            continue
        options.append(EnumOption(str(value), str(label)))
    return tuple(options)


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


def lint_mapping(mapping: Mapping, available: AbcMapping[str, TargetInfo | None]) -> list[str]:
    """Problems between a mapping and its live target: missing columns or incompatible properties.

    For sheets ``available`` holds the header names (matched trimmed, case-insensitively); for
    HubSpot the existing properties, with their details when known.
    """
    if mapping.kind == "sheets":
        return _lint_sheet(mapping, available)
    return _lint_hubspot(mapping, available)


def _lint_sheet(mapping: Mapping, available: AbcMapping[str, TargetInfo | None]) -> list[str]:
    headers = {_norm(name): name for name in available}
    problems = []
    for spec in mapping.fields:
        if spec.policy == "never" or _norm(spec.target) in headers:
            continue
        close = difflib.get_close_matches(_norm(spec.target), list(headers), n=1)
        hint = f" (a column {headers[close[0]]!r} exists: rename it?)" if close else ""
        problems.append(
            f"{mapping.path}: column {spec.target!r} is missing from the sheet "
            f"header{hint}: add column {spec.target!r} or let the connector create it"
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
                    f"{_known(repr(m) for m in missing)}: add them in HubSpot "
                    "or remove them from the mapping"
                )
    return problems
