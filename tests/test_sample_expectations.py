"""The default mappings against the four real samples, held to a table written by hand."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.mapping import (
    FieldOutcome,
    MappingResult,
    TransformContext,
    apply_mapping,
    load_mapping,
    normalise_profile,
)
from connector.mapping.source_paths import PLACEHOLDER, read_paths
from connector.mapping.vocabulary import load_vocabulary

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
MAPPINGS = ROOT / "mappings"
DEFAULT_MAPPINGS = ("sheets_default.yaml", "hubspot_contacts.yaml")
TABLE: dict[str, Any] = yaml.safe_load(
    (DATA / "sample_expectations.yaml").read_text(encoding="utf-8")
)
ENRICHED_AT = "2026-04-29T12:00:00Z"


def rehost(url: str) -> str:
    return f"rehosted:{url}"


@cache
def mapped(sample: str, mapping: str) -> MappingResult:
    expected = TABLE["samples"][sample]
    payload = json.loads((DATA / "samples" / sample).read_text(encoding="utf-8"))
    return apply_mapping(
        load_mapping(MAPPINGS / mapping),
        normalise_profile(payload),
        platform=expected["platform"],
        current={},
        last_hashes={},
        context=TransformContext(rehost=rehost),
        meta={"enriched_at": ENRICHED_AT, "handle": expected["handle"]},
    )


def lookup(sample: str, path: str) -> Any:
    value: Any = json.loads((DATA / "samples" / sample).read_text(encoding="utf-8"))["result"]
    for key in path.split("."):
        value = value[key]
    return value


def cases() -> list[Any]:
    params = []
    for sample, spec in TABLE["samples"].items():
        for mapping in DEFAULT_MAPPINGS:
            for target, expected in spec[mapping].items():
                params.append(
                    pytest.param(
                        sample, mapping, target, expected, id=f"{sample}-{mapping}-{target}"
                    )
                )
    return params


def test_the_table_has_every_target_of_both_default_mappings_for_every_sample() -> None:
    assert sorted(TABLE["samples"]) == sorted(p.name for p in (DATA / "samples").glob("*.json"))
    for sample, spec in TABLE["samples"].items():
        for mapping in DEFAULT_MAPPINGS:
            targets = [f.target for f in load_mapping(MAPPINGS / mapping).fields]
            assert list(spec[mapping]) == targets, (sample, mapping)


@pytest.mark.parametrize(("sample", "mapping", "target", "expected"), cases())
def test_the_default_mapping_writes_what_the_table_says(
    sample: str, mapping: str, target: str, expected: Any
) -> None:
    result = mapped(sample, mapping)
    if expected is None:
        assert result.outcomes[target] == FieldOutcome.SKIPPED_MISSING
        assert target not in result.changes
        return
    if expected == "never":
        assert result.outcomes[target] == FieldOutcome.NEVER
        assert target not in result.changes
        return
    if isinstance(expected, dict):
        expected = rehost(lookup(sample, expected["rehosted"]))
    assert result.outcomes[target] == FieldOutcome.WRITTEN
    actual = result.changes[target]
    assert actual == expected
    assert type(actual) is type(expected)


@pytest.mark.parametrize("mapping", DEFAULT_MAPPINGS)
@pytest.mark.parametrize("sample", sorted(TABLE["samples"]))
def test_a_real_sample_maps_without_errors_or_notes(sample: str, mapping: str) -> None:
    result = mapped(sample, mapping)
    assert result.errors == []
    assert result.notes == []


def source_paths(mapping: str) -> list[tuple[str, str, tuple[str, ...]]]:
    found = []
    for spec in load_mapping(MAPPINGS / mapping).fields:
        for source in spec.sources:
            if source.startswith("$"):
                continue
            found.extend((spec.target, source, path) for path in read_paths(source))
    return found


def is_documented(path: tuple[str, ...]) -> bool:
    """On some platform's call, the path is a key path of a real sample or of §7.1."""
    vocabulary = load_vocabulary()
    platforms = sorted(vocabulary.tier("full")["blocks"])
    return any(
        vocabulary.knows_path([k.replace(PLACEHOLDER, platform) for k in path], platform=platform)
        for platform in platforms
    )


def test_documented_paths() -> None:
    assert not is_documented((PLACEHOLDER, "folower_count"))
    assert is_documented((PLACEHOLDER, "displayName"))  # twitch only, §7.1
    assert not is_documented(("instagram", "email"))  # only older 3P captures (§7.2)


@pytest.mark.parametrize("mapping", DEFAULT_MAPPINGS)
def test_every_source_path_of_a_default_mapping_is_documented(mapping: str) -> None:
    undocumented = [
        f"{target}: {'.'.join(path)} (in {source!r})"
        for target, source, path in source_paths(mapping)
        if path[0] != "_meta" and not is_documented(path)
    ]
    assert undocumented == []
