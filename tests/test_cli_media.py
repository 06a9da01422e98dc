"""Tests for ``connector media gc``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from connector.cli.context import CliContext
from connector.cli.media import media_group
from connector.config import parse_settings
from connector.sandbox.images import build_png
from connector.services import build_services


def write_config(tmp_path: Path, **media: Any) -> str:
    path = tmp_path / "connector.yaml"
    data = {
        "data_dir": str(tmp_path / "data"),
        "public_base_url": "https://connector.example.com",
        "media": media,
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def invoke(config: str, *args: str) -> Result:
    return CliRunner().invoke(media_group, list(args), obj=CliContext(config_path=config))


@pytest.fixture
def config(tmp_path: Path) -> str:
    """Three pictures stored 40 days ago; one of them is no longer referenced."""
    path = write_config(tmp_path)
    settings = parse_settings(yaml.safe_load(Path(path).read_text()), environ={})
    past = datetime.now(UTC) - timedelta(days=40)
    services = build_services(settings, clock=lambda: past)
    try:
        media = services.media
        for identity, seed in (("a", b"first"), ("b", b"second"), ("a", b"third")):
            media.save_image(build_png(seed * 4), source="leads", identity=identity)
        media.close()
    finally:
        services.close()
    return path


def stored(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "data" / "media").iterdir())


def test_dry_run_lists_and_keeps(config: str, tmp_path: Path) -> None:
    before = stored(tmp_path)
    result = invoke(config, "gc", "--dry-run")
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    name, size = lines[0].split("  ")
    assert name in before and name.endswith(".png") and size.endswith(("bytes", "kB"))
    assert lines[1] == "would delete 1 unreferenced picture(s) (dry run)"
    assert stored(tmp_path) == before


def test_gc_deletes_unreferenced_pictures_past_retention(config: str, tmp_path: Path) -> None:
    before = stored(tmp_path)
    garbage = invoke(config, "gc", "--dry-run").stdout.split("  ")[0]
    result = invoke(config, "gc")
    assert result.exit_code == 0, result.stdout
    assert result.stdout == "deleted 1 unreferenced picture(s)\n"
    assert stored(tmp_path) == [n for n in before if n != garbage]
    assert invoke(config, "gc").stdout == "deleted 0 unreferenced picture(s)\n"


def test_older_than_overrides_the_retention(config: str, tmp_path: Path) -> None:
    result = invoke(config, "gc", "--older-than", "45d")
    assert result.stdout == "deleted 0 unreferenced picture(s)\n"
    assert len(stored(tmp_path)) == 3


def test_a_bad_duration_is_a_usage_error(config: str) -> None:
    result = invoke(config, "gc", "--older-than", "soon")
    assert result.exit_code == 2
    assert "not a duration" in result.stderr


def test_media_off_has_nothing_to_collect(tmp_path: Path) -> None:
    result = invoke(write_config(tmp_path, backend="none"), "gc")
    assert result.exit_code == 0
    assert "media.backend: none" in result.stdout


def test_a_config_problem_exits_2(tmp_path: Path) -> None:
    result = invoke(write_config(tmp_path, retention_days=-1), "gc")
    assert result.exit_code == 2
    assert "media.retention_days" in result.stderr
