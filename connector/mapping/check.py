"""Checking mapping YAML: every problem reported at once with its ``file:line:col`` and path."""

from __future__ import annotations

import re
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from connector.mapping.apply import PSEUDO_SOURCES, expand_source
from connector.mapping.checker import Checker, known, suggest
from connector.mapping.model import (
    FIELD_TYPES,
    POLICIES,
    PROPERTY_TYPES,
    WHEN_MISSING,
    EnumOption,
    FieldSpec,
    TransformCall,
    normalise_target,
)
from connector.mapping.schema import (
    DEFAULT_KEYS,
    FIELD_KEYS,
    HUBSPOT_KEYS,
    OPTION_KEYS,
    PROPERTY_NAME,
    SHEET_KEYS,
)
from connector.mapping.source_paths import check_paths, read_paths
from connector.mapping.transforms import TRANSFORMS, check_args, parse_call, template_placeholders

_PROPERTY_NAME = re.compile(PROPERTY_NAME)
_EXAMPLE_PLATFORM = "instagram"


def parse_defaults(checker: Checker, raw: Any, kind: str | None) -> dict[str, Any]:
    """The file's ``defaults`` merged over the built-in ones; problems go to ``checker``."""
    defaults: dict[str, Any] = {
        "policy": "overwrite_if_ours",
        "when_missing": "skip",
        "group": None,
    }
    if raw is None:
        return defaults
    if not isinstance(raw, dict):
        checker.add(("defaults",), f"must be a mapping with keys {known(DEFAULT_KEYS)}")
        return defaults
    allowed = DEFAULT_KEYS if kind == "hubspot" else DEFAULT_KEYS[:2]
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


def parse_fields(
    checker: Checker, raw: Any, kind: str | None, defaults: dict[str, Any]
) -> list[FieldSpec]:
    """The valid fields, in order; problems (and duplicate targets) go to ``checker``."""
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
        key = normalise_target(spec.target) if kind == "sheets" else spec.target
        if key in seen:
            first = seen[key]
            checker.add(
                (*path, "target"),
                f"duplicate target {spec.target!r} (already written "
                f"by fields[{first}], line {checker.values[('fields', first)][0]})",
            )
            continue
        seen[key] = index
        if spec.image_formula is not None:
            column = normalise_target(spec.image_formula)
            if column in seen:
                first = seen[column]
                checker.add(
                    (*path, "image_formula"),
                    f"column {spec.image_formula!r} is already written by fields[{first}], "
                    f"line {checker.values[('fields', first)][0]}",
                )
                continue
            seen[column] = index
        fields.append(spec)
    return fields


def _parse_field(
    checker: Checker,
    item: dict[str, Any],
    path: tuple[Any, ...],
    kind: str | None,
    defaults: dict[str, Any],
) -> FieldSpec | None:
    before = len(checker.problems)
    allowed = FIELD_KEYS + (HUBSPOT_KEYS if kind == "hubspot" else SHEET_KEYS)
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
    image_formula = _parse_image_formula(checker, item.get("image_formula"), path, transforms)
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
        image_formula=image_formula if kind == "sheets" else None,
        line=checker.values[path][0],
        **hubspot,
    )


def _parse_image_formula(
    checker: Checker, raw: Any, path: tuple[Any, ...], transforms: tuple[TransformCall, ...]
) -> str | None:
    if raw is None:
        return None
    where = (*path, "image_formula")
    if not isinstance(raw, str) or not raw.strip():
        checker.add(where, "must be the header of the column showing the picture, e.g. 'Picture'")
        return None
    if not any(t.name == "rehost" for t in transforms):
        checker.add(
            where,
            "needs rehost in this field's transform chain: the formula only ever shows the "
            "connector's own copy of a picture",
        )
        return None
    return raw.strip()


def _parse_sources(checker: Checker, raw: Any, path: tuple[Any, ...]) -> tuple[str, ...]:
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
                    f"{suggest(text, PSEUDO_SOURCES)} (known: {known(PSEUDO_SOURCES)})",
                )
            continue
        try:
            jmespath.compile(expand_source(text, _EXAMPLE_PLATFORM))
        except JMESPathError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            checker.add(where, f"invalid JMESPath expression {text!r}: {reason}")
            continue
        check_payload_keys(checker, text, where)
    return tuple(v.strip() for v, _ in items if isinstance(v, str))


def _parse_transforms(
    checker: Checker, raw: Any, path: tuple[Any, ...], item: dict[str, Any], kind: str | None
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
                f"unknown transform {name!r}{suggest(name, TRANSFORMS)} "
                f"(known: {known(sorted(TRANSFORMS))})",
            )
            continue
        problem = check_args(spec, args)
        if problem:
            checker.add(where, problem)
            continue
        if name == "template":
            for placeholder in template_placeholders(args[0]):
                if placeholder != "value":
                    check_payload_keys(checker, placeholder, where)
        if name == "enum" and not args and not item.get("options"):
            checker.add(
                where,
                "enum needs options: give the field 'options' (kind: hubspot, "
                "type: enumeration) or a table, e.g. {enum: {from: to}}",
            )
            continue
        calls.append(TransformCall(name, args))
    return tuple(calls)


def check_payload_keys(checker: Checker, expression: str, where: tuple[Any, ...]) -> None:
    """Warn about keys of ``expression`` that no documented payload has where they are read."""
    for unknown in check_paths(read_paths(expression)):
        checker.warn(where, unknown.key, unknown.message)


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
    checker: Checker,
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
            f"{prop_type!r} (use one of: {known(allowed)})",
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
    checker: Checker, raw: Any, path: tuple[Any, ...], prop_type: str
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
            checker.unknown_keys(entry, (*path, i), OPTION_KEYS)
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
