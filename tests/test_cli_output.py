"""CLI output: JSON alone on stdout, tables within 80 columns that never break a word, labels."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from rich.console import Console

from connector.cli.context import CliContext
from connector.cli.mappings import read_sample, render_preview
from connector.cli.output import RUN_FIGURES, render_plan, render_run_summary
from connector.cli.run import approve_command, run_command
from connector.mapping import load_mapping, preview_mapping
from connector.pipeline.report import CycleReport
from connector.sandbox.stack import SandboxStack

ROOT = Path(__file__).resolve().parent.parent
LONG_ERROR = (
    "the spreadsheet is not shared with the service account connector@example.iam."
    "gserviceaccount.com: open it in Google Sheets, press Share and add that address as editor"
)


def render(draw: object, *args: object) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None, force_terminal=False)
    draw(*args, console)  # type: ignore[operator]
    return out.getvalue().splitlines()


def words_intact(lines: list[str], text: str) -> bool:
    """Every word of ``text`` appears whole on some line (no word was broken across lines)."""
    seen = set(re.findall(r"[^\s│┃|]+", "\n".join(lines)))
    return all(word in seen for word in text.split())


def report(source: str, **figures: object) -> CycleReport:
    result = CycleReport(source=source)
    for name, value in figures.items():
        setattr(result, name, value)
    return result


def test_the_run_summary_fits_80_columns_with_whole_headers_and_errors() -> None:
    reports = [
        report("leads", records=40, enriched=38, errors=2, credits_spent=38.0, error=LONG_ERROR),
        report("crm", records=300, cached=120, credits_saved=120.0),
        report("batches", enriched=12),
    ]
    lines = render(render_run_summary, reports)
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    for figure in RUN_FIGURES:
        assert figure.replace("_", " ") in text
    assert "…" not in text
    assert words_intact(lines, LONG_ERROR)
    assert "leads error: the spreadsheet" in text


def test_many_sources_are_split_into_tables_that_fit() -> None:
    reports = [report(f"source-number-{i}", records=i) for i in range(9)]
    lines = render(render_run_summary, reports)
    assert max(len(line) for line in lines) <= 80
    assert "\n".join(lines).count("run summary") > 1
    assert all(f"source-number-{i}" in "\n".join(lines) for i in range(9))


def test_the_dry_run_plan_fits_80_columns_without_breaking_words() -> None:
    plan = report("leads", records=2, quote=1.0)
    detail = "Followers: '' → 120000; Engagement Rate: '' → 0.042; Category: '' → Fitness & Health"
    plan.plan = [
        {
            "kind": "enrich",
            "record": "row 2",
            "platform": "instagram",
            "handle": "jane.runs",
            "detail": "route single",
        },
        {
            "kind": "cached",
            "record": "row 3",
            "platform": "instagram",
            "handle": "a_rather_long_handle_name",
            "detail": detail,
        },
    ]
    lines = render(render_plan, plan)
    assert max(len(line) for line in lines) <= 80
    assert words_intact(lines, detail)
    assert "a_rather_long_handle_name" in "\n".join(lines)


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(ic_config={"not_found_rate": 0.0}) as running:
        yield running


def test_run_once_json_prints_only_json_on_stdout(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet([["found_json_a", "instagram", ""], ["found_json_b", "tiktok", ""]])
    sources = [
        {"name": "leads", "type": "sheets", "spreadsheet": key, "platform_column": "Platform"}
    ]
    config = tmp_path / "connector.yaml"
    data = stack.settings_data(
        data_dir=tmp_path / "data", sources=sources, media={"backend": "none"}
    )
    config.write_text(yaml.safe_dump(data))
    for args in (["run", "--once", "--json"], ["run", "--once", "--dry-run", "--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "connector", "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        reports = json.loads(done.stdout)
        assert [r["source"] for r in reports] == ["leads"]
        assert "fetching pending records" in done.stderr
    assert reports[0]["dry_run"] is True and reports[0]["plan"]


def test_approve_with_an_unknown_id_says_not_found(tmp_path: Path) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    result = CliRunner().invoke(approve_command, ["nope"], obj=CliContext(config_path=str(config)))
    assert result.exit_code == 1
    assert "error: not found: no run 'nope' is waiting for approval" in result.stderr
    assert "invalid configuration" not in result.output


def test_an_unknown_source_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    result = CliRunner().invoke(
        run_command, ["--once", "--source", "x"], obj=CliContext(config_path=str(config))
    )
    assert result.exit_code == 2
    assert "error: invalid configuration: unknown source 'x'" in result.stderr


def test_the_mapping_preview_fits_80_columns_one_block_per_field() -> None:
    mapping = load_mapping(ROOT / "mappings" / "sheets_default.yaml")
    profile = read_sample(
        str(ROOT / "tests" / "data" / "samples" / "full-instagram-cristiano.json")
    )
    now = datetime.now(UTC)
    rows = preview_mapping(mapping, profile, "instagram", meta={"enriched_at": now, "now": now})
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    render_preview(mapping, rows, platform="instagram", handle="cristiano", console=console)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "Full Name ← Cristiano Ronaldo" in lines
    assert "    from {platform}.full_name → strip" in lines
