"""Tests for ``connector mappings check`` and ``connector mappings preview``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.cli.context import CliContext
from connector.cli.mappings import mappings_group
from connector.config import parse_settings

ROOT = Path(__file__).resolve().parent.parent
SHEETS = str(ROOT / "mappings" / "sheets_default.yaml")
HUBSPOT = str(ROOT / "mappings" / "hubspot_contacts.yaml")
SAMPLES = Path(__file__).parent / "data" / "samples"
BAD = Path(__file__).parent / "data" / "mappings" / "unknown_transform.yaml"


def invoke(*args: str, obj: CliContext | None = None) -> Any:
    return CliRunner().invoke(mappings_group, list(args), obj=obj or CliContext())


def test_check_accepts_the_default_mappings() -> None:
    result = invoke("check", SHEETS, HUBSPOT)
    assert result.exit_code == 0, result.output
    assert f"{SHEETS}: ok (sheets, " in result.output
    assert f"{HUBSPOT}: ok (hubspot, " in result.output


def test_check_defaults_to_the_mappings_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("check")
    assert result.exit_code == 0, result.output
    assert "mappings/sheets_default.yaml: ok" in result.output


def test_check_names_the_yaml_path_and_known_transforms() -> None:
    result = invoke("check", SHEETS, str(BAD))
    assert result.exit_code == 1
    assert f"{SHEETS}: ok" in result.stdout
    assert (
        f"{BAD}:8:27: fields[1].transform[1]: unknown transform 'percnt'; did you mean "
        "'percent'? (known: bool, date, datetime, default, enum, first, float, int, join, json, "
        "lower, map, percent, rehost, round, social_links, strip, take, template, truncate, "
        "upper, url)"
    ) in result.stderr


def test_check_reports_a_missing_file() -> None:
    result = invoke("check", "nope.yaml")
    assert result.exit_code == 1
    assert "nope.yaml: mapping file not found" in result.stderr


@pytest.mark.parametrize("mapping", [SHEETS, HUBSPOT])
@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.json")))
def test_preview_renders_a_sample(mapping: str, sample: str) -> None:
    result = invoke("preview", mapping, "--sample", str(SAMPLES / sample))
    assert result.exit_code == 0, result.output
    assert "←" in result.output
    assert "preview only: nothing was written" in result.output
    assert "error" not in result.output


def test_preview_shows_units_and_chain() -> None:
    sample = SAMPLES / "full-tiktok-khaby.lame.json"
    result = invoke("preview", SHEETS, "--sample", str(sample))
    assert "tiktok @khaby.lame" in result.output
    assert "5.96%" in result.output
    assert "{platform}.engagement_percent → percent" in result.output


def test_preview_json_reads_batch_rows(tmp_path: Path) -> None:
    profile = json.loads((SAMPLES / "full-twitter-elonmusk.json").read_text())["result"]
    batch = tmp_path / "batch.json"
    batch.write_text(
        json.dumps(
            [
                {"input_value": "x", "status": "not_found", "enrichment_data": None},
                {"input_value": "elonmusk", "status": "success", "enrichment_data": profile},
            ]
        )
    )
    result = invoke("preview", HUBSPOT, "--sample", str(batch), "--row", "1", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["target"]: r for r in json.loads(result.stdout)}
    assert rows["ic_followers"]["value"] == 239615146
    assert rows["ic_followers"]["source"] == "{platform}.follower_count"
    assert rows["ic_engagement_rate"]["value"] == 0.05


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample", "{bad}"], "Error: Invalid value for '--sample'"),
        ([], "give --sample FILE, or --platform P and --handle H"),
        (["--platform", "instagram"], "give --sample FILE, or --platform P and --handle H"),
    ],
)
def test_preview_explains_bad_arguments(args: list[str], message: str) -> None:
    result = invoke("preview", SHEETS, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_preview_rejects_a_bad_mapping_before_anything_runs() -> None:
    result = invoke("preview", str(BAD), "--platform", "instagram", "--handle", "jane")
    assert result.exit_code == 1
    assert "unknown transform 'percnt'" in result.output


@pytest.fixture(scope="module")
def ic_sandbox() -> Iterator[Any]:
    module = pytest.importorskip(
        "connector.sandbox.influencers_club", reason="influencers.club sandbox not built yet"
    )
    with module.InfluencersClubSandbox(balance=100.0, not_found_rate=0.0) as box:
        yield box


@pytest.mark.parametrize("mapping", [SHEETS, HUBSPOT])
@pytest.mark.parametrize(
    "platform", ["instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans"]
)
def test_preview_fetches_a_sandbox_creator_of_each_platform(
    ic_sandbox: Any, mapping: str, platform: str
) -> None:
    pytest.importorskip("connector.services")
    settings = parse_settings(
        {"influencers_club": {"api_key": ic_sandbox.api_key, "base_url": ic_sandbox.url}},
        environ={},
    )
    result = invoke(
        "preview",
        mapping,
        "--platform",
        platform,
        "--handle",
        f"demo_{platform}",
        obj=CliContext(_settings=settings),
    )
    assert result.exit_code == 0, result.output
    assert f"{platform} @demo_{platform}" in result.stdout
    assert "error" not in result.stdout
    assert "1 credit" in result.stderr


TYPO = "kind: sheets\nfields:\n  - target: Followers\n    source: '{platform}.folower_count'\n"


def test_check_warns_about_an_unknown_payload_key_and_strict_fails(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(TYPO, encoding="utf-8")
    expected = (
        f"{path}:4:25: unknown key 'folower_count' in the instagram block; "
        "did you mean 'follower_count'?"
    )
    lenient = invoke("check", str(path))
    assert lenient.exit_code == 0, lenient.output
    assert expected in lenient.stderr.splitlines()
    assert f"{path}: ok (sheets, 1 fields, 1 warning(s): errors with --strict)" in lenient.stdout
    strict = invoke("check", "--strict", str(path), SHEETS, HUBSPOT)
    assert strict.exit_code == 1
    assert expected in strict.stderr.splitlines()
    assert f"{SHEETS}: ok (sheets, " in strict.stdout
