"""The validated shape of a mapping file: its fields, transform steps, options and vocabulary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

Kind = Literal["sheets", "hubspot"]
Policy = Literal["overwrite", "fill_empty", "overwrite_if_ours", "never"]
WhenMissing = Literal["skip", "clear"]
PropertyType = Literal["string", "number", "date", "datetime", "bool", "enumeration"]
FieldType = Literal[
    "text",
    "textarea",
    "html",
    "phonenumber",
    "file",
    "number",
    "date",
    "booleancheckbox",
    "select",
    "radio",
    "checkbox",
]

KINDS: tuple[str, ...] = get_args(Kind)
POLICIES: tuple[str, ...] = get_args(Policy)
WHEN_MISSING: tuple[str, ...] = get_args(WhenMissing)
PROPERTY_TYPES: tuple[str, ...] = get_args(PropertyType)
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("text", "textarea", "html", "phonenumber", "file"),
    "number": ("number",),
    "date": ("date",),
    "datetime": ("date",),
    "bool": ("booleancheckbox",),
    "enumeration": ("select", "radio", "checkbox"),
}


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
    image_formula: str | None = None
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
    warnings: tuple[str, ...] = ()

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(f.target for f in self.fields)

    @property
    def formula_columns(self) -> dict[str, str]:
        """Sheets: field target → the column showing its picture as ``=IMAGE(…)``."""
        return {f.target: f.image_formula for f in self.fields if f.image_formula}

    def get_field(self, target: str) -> FieldSpec | None:
        """The field writing ``target`` (sheets: trimmed, case-insensitive), or ``None``."""
        wanted = normalise_target(target) if self.kind == "sheets" else target
        for spec in self.fields:
            if (normalise_target(spec.target) if self.kind == "sheets" else spec.target) == wanted:
                return spec
        return None


@dataclass(frozen=True)
class TargetInfo:
    """An existing HubSpot property as the lint sees it."""

    name: str
    type: str | None = None
    field_type: str | None = None
    options: tuple[str, ...] = ()


def normalise_target(name: str) -> str:
    """A sheets column header as compared: trimmed and case-folded."""
    return name.strip().casefold()
