"""Enrichment tiers end to end: per-source modes, auto, batches by tier, what Full may serve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_kit import build_pipeline

from connector.pipeline.batches import poll_batches
from connector.pipeline.cycle import run_cycle
from connector.pipeline.delivery import flush_outbox
from connector.pipeline.recovery import serve_ready
from connector.sandbox.stack import SandboxStack

ROOT = Path(__file__).resolve().parent.parent
RAW_MAPPING = str(ROOT / "mappings" / "sheets_raw.yaml")
HEADER = ["Handle", "Platform", "Followers"]


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=1000.0, ic_config={"not_found_rate": 0.0}) as running:
        yield running


def sheet(name: str, key: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "sheets",
        "spreadsheet": key,
        "platform_column": "Platform",
        **extra,
    }


def column(stack: SandboxStack, key: str, name: str) -> list[str]:
    values = stack.sheets.get_values(key, "Sheet1")
    index = [str(h) for h in values[0]].index(name)
    return [str(row[index]) if index < len(row) else "" for row in values[1:]]


def test_a_raw_sheet_pays_the_raw_price(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet(
        [["found_rae", "instagram", ""], ["found_rob", "tiktok", ""]], header=HEADER
    )
    services = build_pipeline(stack, tmp_path, [sheet("raw", key, mode="raw", mapping=RAW_MAPPING)])
    try:
        report = run_cycle(services, "raw")
        flush_outbox(services)
    finally:
        services.close()
    stats = stack.ic.stats()
    assert stats["credits_by_kind"] == {"raw": 0.06}
    assert report.credits_spent == pytest.approx(0.06)
    assert column(stack, key, "IC Status") == ["enriched", "enriched"]
    assert all(value.isdigit() for value in column(stack, key, "Followers"))


def test_a_full_answer_serves_a_raw_request_but_never_the_reverse(
    stack: SandboxStack, tmp_path: Path
) -> None:
    full = stack.seed_sheet([["found_fay", "instagram", ""]], header=HEADER, title="full")
    raw = stack.seed_sheet(
        [["found_fay", "instagram", ""], ["found_gil", "instagram", ""]],
        header=HEADER,
        title="raw",
    )
    full_again = stack.seed_sheet([["found_gil", "instagram", ""]], header=HEADER, title="again")
    sources = [
        sheet("full", full),
        sheet("raw", raw, mode="raw", mapping=RAW_MAPPING),
        sheet("again", full_again),
    ]
    services = build_pipeline(stack, tmp_path, sources)
    try:
        for name in ("full", "raw", "again"):
            run_cycle(services, name)
    finally:
        services.close()
    charges = stack.ic.stats()["charges"]
    # found_fay: Full once, and the raw sheet is served from it; found_gil: Raw, then Full.
    assert charges == {
        "instagram:found_fay": 1,
        "raw|instagram:found_gil": 1,
        "instagram:found_gil": 1,
    }


def test_auto_takes_the_cheapest_tier_the_mapping_allows_per_platform(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet(
        [["found_ivy", "instagram", ""], ["found_ike", "twitch", ""]], header=HEADER
    )
    services = build_pipeline(
        stack, tmp_path, [sheet("auto", key, mode="auto", mapping=RAW_MAPPING)]
    )
    try:
        assert services.get_mode("auto", "instagram") == "raw"
        assert services.get_mode("auto", "twitch") == "full"
        run_cycle(services, "auto")
    finally:
        services.close()
    assert stack.ic.stats()["credits_by_kind"] == {"raw": 0.03, "full": 1.0}


def test_pipeline_mode_is_the_default_of_every_source(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet([["found_ula", "instagram", ""]], header=HEADER)
    services = build_pipeline(
        stack, tmp_path, [sheet("s", key, mapping=RAW_MAPPING)], pipeline={"mode": "raw"}
    )
    try:
        assert services.get_mode("s", "youtube") == "raw"
        run_cycle(services, "s")
    finally:
        services.close()
    assert stack.ic.stats()["credits_by_kind"] == {"raw": 0.03}


def test_many_raw_creators_go_through_a_raw_batch(stack: SandboxStack, tmp_path: Path) -> None:
    rows = [[f"found_rb{i}", "instagram", ""] for i in range(3)]
    key = stack.seed_sheet(rows, header=HEADER)
    services = build_pipeline(
        stack,
        tmp_path,
        [sheet("raw", key, mode="raw", mapping=RAW_MAPPING)],
        pipeline={"batch_threshold": 3, "batch_poll_seconds": 0.2},
    )
    try:
        report = run_cycle(services, "raw")
        assert report.routes["batch"] == 3
        for _ in range(100):
            poll_batches(services)
            serve_ready(services)
            flush_outbox(services)
            if not services.store.fetch_open_batches():
                break
            time.sleep(0.1)
        spent = sum(r.credits_spent for r in services.store.fetch_runs(10))
    finally:
        services.close()
    stats = stack.ic.stats()
    assert stats["credits_by_kind"] == {"raw": 0.09} and stats["batches"] == 1
    assert spent == pytest.approx(0.09)
    assert column(stack, key, "IC Status") == ["enriched"] * 3


def test_profile_creators_always_go_one_by_one(stack: SandboxStack, tmp_path: Path) -> None:
    rows = [[f"found_pf{i}", "instagram", ""] for i in range(3)]
    key = stack.seed_sheet(rows, header=HEADER)
    services = build_pipeline(
        stack,
        tmp_path,
        [sheet("p", key, mode="profile")],
        pipeline={"batch_threshold": 2},
    )
    try:
        report = run_cycle(services, "p")
    finally:
        services.close()
    assert report.routes == {"single": 3, "batch": 0, "email": 0}
    stats = stack.ic.stats()
    assert stats["credits_by_kind"] == {"profile": pytest.approx(0.6)} and stats["batches"] == 0
