"""Applying a mapping to one creator profile: values, write policies, ownership hashes, previews."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import jmespath
from jmespath.exceptions import JMESPathError

from connector.mapping.transforms import (
    REHOST_OFF,
    SHEETS_CELL_LIMIT,
    TransformContext,
    TransformEnv,
    TransformFailure,
    apply_transforms,
    describe,
    parse_bool,
    parse_datetime,
)

if TYPE_CHECKING:
    from connector.mapping import FieldSpec, Mapping

HUBSPOT_TEXT_LIMIT = 65_536
_NUMERIC = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_PLATFORM_KEYS = ("instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans")
PSEUDO_SOURCES = {
    "$enriched_at": "_meta.enriched_at",
    "$handle": "_meta.handle",
    "$platform": "_meta.platform",
    "$now": "_meta.now",
    "$profile_url": "_meta.profile_url",
}
_PROFILE_URLS = {
    "instagram": "https://www.instagram.com/{}",
    "tiktok": "https://www.tiktok.com/@{}",
    "twitter": "https://x.com/{}",
    "twitch": "https://www.twitch.tv/{}",
    "youtube": "https://www.youtube.com/@{}",
    "onlyfans": "https://onlyfans.com/{}",
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class FieldOutcome(StrEnum):
    """What happened to one field of one record."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"
    KEPT_MANUAL_EDIT = "kept_manual_edit"
    SKIPPED_NOT_EMPTY = "skipped_not_empty"
    SKIPPED_MISSING = "skipped_missing"
    NEVER = "never"
    ERROR = "error"


@dataclass
class MappingResult:
    """The writes one record needs, each field's outcome, and the hashes to store."""

    changes: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, FieldOutcome] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, outcome: FieldOutcome) -> int:
        """How many fields ended with ``outcome``."""
        return sum(1 for o in self.outcomes.values() if o == outcome)


@dataclass(frozen=True)
class PreviewRow:
    """One line of a preview: target ← value, with the chain that produced it."""

    target: str
    value: Any
    chain: str
    source: str | None = None
    note: str = ""


@dataclass
class _Evaluated:
    value: Any = None
    source: str | None = None
    error: str | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def expand_source(expression: str, platform: str) -> str:
    """Resolve ``$pseudo`` sources and the ``{platform}`` placeholder into plain JMESPath."""
    text = expression.strip()
    if text in PSEUDO_SOURCES:
        return PSEUDO_SOURCES[text]
    name = platform if _IDENTIFIER.match(platform) else json.dumps(platform)
    return text.replace("{platform}", name)


def normalise_profile(payload: Any) -> dict[str, Any]:
    """One creator profile from a Full response (``result``) or batch row (``enrichment_data``)."""
    if isinstance(payload, list):
        payload = payload[0] if payload else {}
    if not isinstance(payload, dict):
        return {}
    for key in ("result", "enrichment_data"):
        inner = payload.get(key)
        if isinstance(inner, dict):
            return inner
    return payload


def guess_platform(profile: AbcMapping[str, Any]) -> str | None:
    """The requested platform of a Full profile: the largest platform block it holds."""
    blocks = [
        (len(v), k) for k, v in profile.items() if k in _PLATFORM_KEYS and isinstance(v, dict)
    ]
    return max(blocks)[1] if blocks else None


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return parse_datetime(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return value


def build_root(
    profile: AbcMapping[str, Any], platform: str, meta: AbcMapping[str, Any] | None = None
) -> dict[str, Any]:
    """The object source expressions see: the profile plus ``_meta`` (platform, handle, …)."""
    root = dict(profile) if isinstance(profile, AbcMapping) else {}
    root["_meta"] = {
        "platform": platform,
        "profile_url": get_profile_url(root, platform),
        **{k: _json_ready(v) for k, v in (meta or {}).items()},
    }
    return root


def get_profile_url(profile: AbcMapping[str, Any], platform: str) -> str | None:
    """The creator's profile URL: ``<platform>_link``, the block's ``link``, or built from names."""
    block = profile.get(platform)
    block = block if isinstance(block, dict) else {}
    for candidate in (profile.get(f"{platform}_link"), block.get("link")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    if platform == "youtube":
        custom, channel = block.get("custom_url"), block.get("id")
        if isinstance(custom, str) and custom.strip():
            return _PROFILE_URLS["youtube"].format(custom.strip().lstrip("@"))
        if isinstance(channel, str) and channel.strip():
            return f"https://www.youtube.com/channel/{channel.strip()}"
    username = block.get("username")
    if isinstance(username, str) and username.strip() and platform in _PROFILE_URLS:
        return _PROFILE_URLS[platform].format(username.strip().lstrip("@"))
    return None


@lru_cache(maxsize=1024)
def _compiled(expression: str) -> Any:
    return jmespath.compile(expression)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def stored_text(value: Any) -> str:
    """The value as a sheet cell or HubSpot property reads back, normalised for comparison."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.lower()
        if _NUMERIC.match(text):
            number = float(text)
            return str(int(text)) if re.fullmatch(r"[+-]?[0-9]+", text) else stored_text(number)
        if _ISO_DATETIME.match(text):
            try:
                moment = parse_datetime(text).replace(microsecond=0)
            except TransformFailure:
                return text
            return moment.isoformat().replace("+00:00", "Z")
        return text
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def value_hash(value: Any) -> str:
    """A stable hash of a value as stored: ``12``, ``12.0`` and ``"12"`` hash the same."""
    return hashlib.sha256(stored_text(value).encode("utf-8")).hexdigest()[:32]


def evaluate_field(
    spec: FieldSpec,
    root: AbcMapping[str, Any],
    platform: str,
    context: TransformContext | None = None,
    kind: str = "sheets",
) -> _Evaluated:
    """Pick the first non-empty source, run the transform chain and fit the target's type."""
    result = _Evaluated()
    for expression in spec.sources:
        try:
            found = _compiled(expand_source(expression, platform)).search(root)
        except JMESPathError:
            found = None
        if not _empty(found):
            result.value, result.source = found, expression
            break
    env = TransformEnv(
        context=context or TransformContext(),
        root=root,
        options=tuple((o.value, o.label) for o in spec.options),
    )
    calls = [(t.name, t.args) for t in spec.transforms]
    try:
        value = apply_transforms(result.value, calls, env)
        result.value = _fit(spec, kind, value, env)
    except TransformFailure as exc:
        result.value, result.error = None, str(exc)
    result.errors, result.notes = env.errors, env.notes
    return result


def _fit(spec: FieldSpec, kind: str, value: Any, env: TransformEnv) -> Any:
    """Make the value something the target stores: a scalar of the declared type."""
    if _empty(value):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise TransformFailure(f"{value!r} is not a finite number")
    prop_type = spec.type if kind == "hubspot" else None
    if prop_type in (None, "string"):
        if isinstance(value, list):
            value = ", ".join(
                stored_text(v) if not isinstance(v, str) else v for v in value if not _empty(v)
            )
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False, default=str)
        elif prop_type == "string" and not isinstance(value, str):
            value = stored_text(value)
        limit = SHEETS_CELL_LIMIT if kind == "sheets" else HUBSPOT_TEXT_LIMIT
        if isinstance(value, str) and len(value) > limit:
            env.notes.append(f"cut from {len(value):,} to {limit:,} characters")
            value = value[: limit - 1] + "…"
        return value if value != "" else None
    simple = {"number": "float", "bool": "bool", "date": "date", "datetime": "datetime"}
    if prop_type in simple:
        if isinstance(value, list | dict):
            raise TransformFailure(f"expected one {prop_type} value, got {describe(value)}")
        if prop_type == "number":
            number = apply_transforms(value, [("float", ())], env)
            return int(number) if number.is_integer() and abs(number) < 1e16 else number
        if prop_type == "bool":
            return parse_bool(value)
        return apply_transforms(value, [(simple[prop_type], ())], env)
    picked = apply_transforms(value, [("enum", ())], env)
    if isinstance(picked, list):
        if spec.field_type == "checkbox":
            return ";".join(picked) or None
        if len(picked) != 1:
            raise TransformFailure(
                f"several values {describe(picked)} for a single-choice "
                "property (add 'first' or use field_type: checkbox)"
            )
        picked = picked[0]
    return picked


def _current(current: AbcMapping[str, Any], target: str, kind: str) -> Any:
    if target in current or kind != "sheets":
        return current.get(target)
    wanted = target.strip().casefold()
    for name, value in current.items():
        if isinstance(name, str) and name.strip().casefold() == wanted:
            return value
    return None


def apply_mapping(
    mapping: Mapping,
    profile: AbcMapping[str, Any],
    *,
    platform: str,
    current: AbcMapping[str, Any],
    last_hashes: AbcMapping[str, str],
    context: TransformContext | None = None,
    meta: AbcMapping[str, Any] | None = None,
) -> MappingResult:
    """Decide what to write for one record; pure: the caller reads ``current`` and writes.

    ``meta`` feeds the ``$enriched_at``/``$handle``/``$now`` pseudo sources (``$platform`` comes
    from ``platform``). ``last_hashes`` holds, per target, the hash of what the connector last
    wrote there; ``overwrite_if_ours`` only replaces a value that still has that hash.
    """
    result = MappingResult()
    root = build_root(profile, platform, meta)
    for spec in mapping.fields:
        target = spec.target
        if spec.policy == "never":
            result.outcomes[target] = FieldOutcome.NEVER
            continue
        evaluated = evaluate_field(spec, root, platform, context, mapping.kind)
        result.errors.extend(f"{target}: {m}" for m in evaluated.errors)
        result.notes.extend(f"{target}: {m}" for m in evaluated.notes)
        if evaluated.error is not None:
            result.errors.append(f"{target}: {evaluated.error}")
            result.outcomes[target] = FieldOutcome.ERROR
            continue
        new = evaluated.value
        if new is None:
            if spec.when_missing == "skip":
                result.outcomes[target] = FieldOutcome.SKIPPED_MISSING
                continue
            new = ""
        result.outcomes[target] = _decide(
            spec, new, _current(current, target, mapping.kind), last_hashes.get(target)
        )
        if result.outcomes[target] in (FieldOutcome.WRITTEN, FieldOutcome.UNCHANGED):
            result.hashes[target] = value_hash(new)
        if result.outcomes[target] == FieldOutcome.WRITTEN:
            result.changes[target] = new
    return result


def _decide(spec: FieldSpec, new: Any, current: Any, last_hash: str | None) -> FieldOutcome:
    """The write-policy matrix for one field."""
    current_hash = value_hash(current)
    if current_hash == value_hash(new):
        return FieldOutcome.UNCHANGED
    is_empty = stored_text(current) == ""
    if spec.policy == "overwrite" or is_empty:
        return FieldOutcome.WRITTEN
    if spec.policy == "fill_empty":
        return FieldOutcome.SKIPPED_NOT_EMPTY
    if last_hash is not None and current_hash == last_hash:
        return FieldOutcome.WRITTEN
    return FieldOutcome.KEPT_MANUAL_EDIT


def preview_mapping(
    mapping: Mapping,
    profile: AbcMapping[str, Any],
    platform: str,
    *,
    meta: AbcMapping[str, Any] | None = None,
    context: TransformContext | None = None,
) -> list[PreviewRow]:
    """What each field would receive for this profile, ignoring current values; writes nothing."""
    root = build_root(profile, platform, meta)
    rows = []
    for spec in mapping.fields:
        evaluated = evaluate_field(spec, root, platform, context, mapping.kind)
        notes = [*evaluated.errors, *evaluated.notes]
        unhosted = REHOST_OFF in evaluated.notes and evaluated.source is not None
        if evaluated.error:
            notes.insert(0, f"error: {evaluated.error}")
        elif unhosted:
            # the picture is there: the worker copies it once media storage is configured
            notes = [n for n in notes if n != REHOST_OFF]
            notes.insert(0, f"not rehosted in preview (picture URL from {evaluated.source})")
        elif evaluated.value is None:
            notes.insert(
                0,
                "missing: "
                + ("clears the target" if spec.when_missing == "clear" else "left as is"),
            )
        if spec.policy == "never":
            notes.append("never written (policy: never)")
        rows.append(
            PreviewRow(
                target=spec.target,
                value=evaluated.value,
                chain=spec.chain_text,
                source=evaluated.source,
                note="; ".join(notes),
            )
        )
    return rows
