"""``connector sources``: access, header lint, the strict mapping check, pause and resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli.context import CliContext
from connector.cli.sources import sources_group
from connector.config import parse_settings
from connector.sandbox.stack import SandboxStack
from connector.store import Store

MAPPING = """kind: sheets
fields:
  - target: Followers
    source: ["{platform}.folower_count", "{platform}.subscriber_count"]
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[SandboxStack]:
    with SandboxStack() as started:
        yield started


def check(stack: SandboxStack, tmp_path: Path, mapping: str) -> tuple[int, str]:
    path = tmp_path / "mapping.yaml"
    path.write_text(mapping, encoding="utf-8")
    sid = stack.seed_sheet([["jane", "instagram", ""]], header=["Handle", "Platform", "Followers"])
    source = {"name": "leads", "type": "sheets", "spreadsheet": sid, "mapping": str(path)}
    settings = stack.build_settings(data_dir=tmp_path, sources=[source])
    result = CliRunner().invoke(sources_group, ["check"], obj=CliContext(_settings=settings))
    return result.exit_code, result.output


def test_sources_check_fails_on_an_unknown_payload_key(stack: SandboxStack, tmp_path: Path) -> None:
    code, output = check(stack, tmp_path, MAPPING)
    assert code == 1, output
    assert "✗ leads" in output
    assert (
        f"{tmp_path / 'mapping.yaml'}:4:26: unknown key 'folower_count' in the instagram block; "
        "did you mean 'follower_count'?"
    ) in output


def test_sources_check_passes_a_documented_mapping(stack: SandboxStack, tmp_path: Path) -> None:
    code, output = check(stack, tmp_path, MAPPING.replace("folower", "follower"))
    assert code == 0, output
    assert "✓ leads" in output


def test_sources_pause_and_resume_are_kept_in_the_store(tmp_path: Path) -> None:
    settings = parse_settings(
        {
            "data_dir": str(tmp_path),
            "sources": [{"name": "leads", "type": "sheets", "spreadsheet": "k"}],
        },
        environ={},
    )
    context = CliContext(_settings=settings)
    paused = CliRunner().invoke(sources_group, ["pause", "leads"], obj=context)
    assert paused.exit_code == 0 and "paused" in paused.output
    store = Store.open(settings.resolved_database_url)
    try:
        assert store.is_source_paused("leads")
        resumed = CliRunner().invoke(sources_group, ["resume", "leads"], obj=context)
        assert resumed.exit_code == 0 and not store.is_source_paused("leads")
    finally:
        store.close()
    unknown = CliRunner().invoke(sources_group, ["pause", "nope"], obj=context)
    assert unknown.exit_code == 2 and "nope" in unknown.output
