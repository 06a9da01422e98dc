"""YAML field mappings: the model, loading and checking, applying to a profile, transforms.

Other packages import from here; the modules inside import each other directly.
"""

from connector.mapping.apply import (
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
from connector.mapping.lint import lint_mapping
from connector.mapping.load import check_mapping_files, load_mapping, parse_mapping
from connector.mapping.model import (
    EnumOption,
    FieldSpec,
    Mapping,
    TargetInfo,
    TransformCall,
)
from connector.mapping.transform_spec import TransformContext

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
