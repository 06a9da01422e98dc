"""The mapping JSON Schema: generated from the models, shipped beside the mappings, accurate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from connector.cli.context import CliContext
from connector.cli.mappings import mappings_group
from connector.mapping import parse_mapping
from connector.mapping.schema import (
    FIELD_KEYS,
    SHEET_KEYS,
    build_mapping_schema,
    validate_mapping_data,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "mappings").glob("*.yaml"))
SCHEMA_FILE = ROOT / "mappings" / "mapping.schema.json"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_the_shipped_schema_is_the_generated_one() -> None:
    shipped = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert shipped == build_mapping_schema(), (
        "regenerate it: connector mappings schema -o mappings/mapping.schema.json"
    )


def test_the_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(mappings_group, ["schema"], obj=CliContext())
    assert result.exit_code == 0
    assert json.loads(result.output) == build_mapping_schema()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_mappings_name_the_schema_for_editors(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=./mapping.schema.json"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_mappings_are_valid_under_the_json_schema(path: Path) -> None:
    jsonschema.validate(load(path), build_mapping_schema())
    validate_mapping_data(load(path))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda m: m["fields"][0].update(tranform=["int"]), "tranform"),
        (lambda m: m["fields"][0].update(transform=["percnt"]), "percnt"),
        (lambda m: m["fields"][0].update(policy="sometimes"), "sometimes"),
        (lambda m: m.update(kind="excel"), "excel"),
        (lambda m: m["fields"][0].update(type="number"), "type"),
    ],
)
def test_the_schema_refuses_what_the_checker_refuses(change: Any, where: str) -> None:
    mapping = load(ROOT / "mappings" / "sheets_default.yaml")
    change(mapping)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(mapping, build_mapping_schema())
    with pytest.raises(ValidationError):
        validate_mapping_data(mapping)
    text = yaml.safe_dump(mapping, sort_keys=False)
    with pytest.raises(Exception, match=where):
        parse_mapping(text, "m.yaml")


def test_the_checker_allows_exactly_the_keys_of_the_models() -> None:
    text = "kind: sheets\nfields:\n  - {target: A, source: x, colour: red}\n"
    with pytest.raises(Exception) as info:
        parse_mapping(text, "m.yaml")
    assert f"(known: {', '.join(FIELD_KEYS + SHEET_KEYS)})" in str(info.value)
