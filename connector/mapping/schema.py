"""The mapping file format as pydantic models: the key names the checker allows, and a JSON Schema.

The checker (``check``) reads its allowed keys from these models and keeps its own messages
(``file:line:col``, did-you-mean); editors get the same format from ``build_mapping_schema``
through the ``yaml-language-server`` comment at the top of each mapping file.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from connector.mapping.apply import PSEUDO_SOURCES
from connector.mapping.model import FieldType, Policy, PropertyType, WhenMissing
from connector.mapping.transforms import TRANSFORMS

PROPERTY_NAME = r"^[a-z][a-z0-9_]{0,99}$"

Expression = Annotated[
    str,
    Field(
        min_length=1,
        description="A JMESPath expression into the profile ('{platform}.follower_count') or "
        f"a pseudo source ({', '.join(PSEUDO_SOURCES)})",
    ),
]


def _transform_step_schema() -> dict[str, Any]:
    names = "|".join(re.escape(name) for name in sorted(TRANSFORMS))
    return {
        "anyOf": [
            {
                "type": "string",
                "pattern": rf"^\s*({names})\s*(\(.*\))?\s*$",
                "description": "A transform, with arguments in brackets: 'round(2)'",
            },
            {
                "type": "object",
                "propertyNames": {"enum": sorted(TRANSFORMS)},
                "minProperties": 1,
                "maxProperties": 1,
                "description": "A transform and its argument(s): {round: 2}",
            },
        ]
    }


def _check_step(step: str | dict[str, Any]) -> str | dict[str, Any]:
    names = [step.split("(", 1)[0].strip()] if isinstance(step, str) else list(step)
    if len(names) != 1 or names[0] not in TRANSFORMS:
        raise ValueError(f"unknown transform in {step!r} (known: {', '.join(sorted(TRANSFORMS))})")
    return step


TransformStep = Annotated[
    str | dict[str, Any],
    AfterValidator(_check_step),
    Field(json_schema_extra=lambda s: s.update(_transform_step_schema())),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Defaults(_Strict):
    """Values every field of the file takes unless it says otherwise."""

    policy: Policy | None = Field(None, description="When a value may replace what is there")
    when_missing: WhenMissing | None = Field(
        None, description="What to do when no source has a value"
    )


class HubSpotDefaults(Defaults):
    """Defaults of a HubSpot mapping: also the property group created properties go in."""

    group: str | None = Field(None, description="Property group of created properties")


class Option(_Strict):
    """An enumeration option of a HubSpot property."""

    value: str | int | float
    label: str | None = None
    description: str | None = None


class BaseField(_Strict):
    """What every field has, sheet or HubSpot."""

    target: str = Field(min_length=1, description="The column header or property name")
    source: Expression | list[Expression] = Field(
        description="Where the value comes from; a list is tried in order"
    )
    transform: TransformStep | list[TransformStep] | None = Field(
        None, description="Transforms applied in order (docs/mappings.md lists them)"
    )
    policy: Policy | None = None
    when_missing: WhenMissing | None = None
    description: str | None = None


class SheetField(BaseField):
    """A field written to a sheet column."""

    image_formula: str | None = Field(
        None, description="A column that shows the rehosted picture with =IMAGE()"
    )


class HubSpotField(BaseField):
    """A field written to a HubSpot contact property (created when missing)."""

    target: str = Field(pattern=PROPERTY_NAME, description="The property's internal name")
    type: PropertyType | None = None
    field_type: FieldType | None = None
    label: str | None = None
    group: str | None = None
    options: list[Option | str | int | float] | None = Field(None, min_length=1)


class SheetsMapping(_Strict):
    """A mapping into the columns of a Google Sheet."""

    kind: Literal["sheets"]
    description: str | None = None
    defaults: Defaults | None = None
    fields: list[SheetField] = Field(min_length=1)


class HubSpotMapping(_Strict):
    """A mapping into HubSpot contact properties."""

    kind: Literal["hubspot"]
    description: str | None = None
    defaults: HubSpotDefaults | None = None
    fields: list[HubSpotField] = Field(min_length=1)


MappingFile = Annotated[SheetsMapping | HubSpotMapping, Field(discriminator="kind")]

TOP_KEYS = tuple(SheetsMapping.model_fields)
DEFAULT_KEYS = tuple(HubSpotDefaults.model_fields)
FIELD_KEYS = tuple(BaseField.model_fields)
SHEET_KEYS = tuple(k for k in SheetField.model_fields if k not in FIELD_KEYS)
HUBSPOT_KEYS = tuple(k for k in HubSpotField.model_fields if k not in FIELD_KEYS)
OPTION_KEYS = tuple(Option.model_fields)


def build_mapping_schema() -> dict[str, Any]:
    """The JSON Schema of a mapping file, generated from the models above."""
    schema = TypeAdapter(MappingFile).json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "connector mapping file",
        **schema,
    }


def validate_mapping_data(data: Any) -> SheetsMapping | HubSpotMapping:
    """Validate parsed YAML against the format (the checker gives the friendlier messages)."""
    return TypeAdapter(MappingFile).validate_python(data)
