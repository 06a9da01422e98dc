"""Rehosted pictures end to end: sandbox enrichment → rehost → sheet URL + =IMAGE() formula."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.pipeline.cycle import run_cycle
from connector.pipeline.delivery import flush_outbox
from connector.sandbox.stack import SandboxStack
from connector.services import build_services

BASE = "https://connector.example.com"
MAPPING = """
kind: sheets
fields:
  - target: Followers
    source: "{platform}.follower_count"
    transform: [int]
  - target: Profile Picture
    source: ["{platform}.profile_picture_hd", "{platform}.profileImageURL"]
    transform: [rehost, 'default("no picture")']
    image_formula: Picture
    policy: overwrite
"""
OURS = re.compile(re.escape(BASE) + r"/media/[0-9a-f]{64}\.(png|jpg)")


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=1000.0, ic_config={"not_found_rate": 0.0}) as running:
        yield running


def rows(stack: SandboxStack, key: str) -> dict[str, dict[str, Any]]:
    values = stack.sheets.get_values(key, "Sheet1")
    header = [str(h) for h in values[0]]
    return {
        r[0]: dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)) for r in values[1:]
    }


def test_pictures_are_rehosted_into_the_sheet(stack: SandboxStack, tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    key = stack.seed_sheet([["found_alice", "instagram", ""], ["found_badpic", "instagram", ""]])
    source = {
        "name": "leads",
        "type": "sheets",
        "spreadsheet": key,
        "platform_column": "Platform",
        "mapping": str(mapping),
    }
    settings = stack.build_settings(
        data_dir=tmp_path / "data", sources=[source], public_base_url=BASE
    )
    services = build_services(settings)
    try:
        run_cycle(services, "leads")
        flush_outbox(services)
    finally:
        services.media.close()
        services.close()
    sheet = rows(stack, key)
    alice, bad = sheet["found_alice"], sheet["found_badpic"]
    assert OURS.fullmatch(alice["Profile Picture"]), alice
    assert alice["IC Status"] == "enriched" and alice["IC Error"] == ""
    name = alice["Profile Picture"].rsplit("/", 1)[1]
    assert (tmp_path / "data" / "media" / name).is_file()
    formulas = stack.sheets.get_formulas(key, "Sheet1")
    assert list(formulas.values()) == [f'=IMAGE("{alice["Profile Picture"]}")']
    assert bad["Profile Picture"] == "no picture"
    assert bad["IC Status"] == "enriched"
    assert bad["IC Error"] == "Profile Picture: image rehosting failed: not an image (text/html)"
    assert bad["Picture"] == ""
    assert "_sandbox/img" not in str(sheet)
