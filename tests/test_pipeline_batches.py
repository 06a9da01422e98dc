"""Batch polling on the sandbox: polls follow the batch's ETA, rows are written by the last poll."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connector.pipeline.batches import poll_batches
from connector.pipeline.cadence import ETA_MARGIN
from connector.pipeline.cycle import run_cycle
from connector.pipeline.delivery import OUTBOX_PAGE
from connector.sandbox.stack import SandboxStack
from connector.scheduler import build_scheduler, tick_batches
from connector.services import Services, build_services
from connector.store.models import BatchItem

FLOOR = 0.5


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=10_000.0, ic_config={"not_found_rate": 0.0}) as running:
        yield running


def build(stack: SandboxStack, tmp_path: Path, rows: int) -> tuple[Services, str]:
    key = stack.seed_sheet([[f"found_cadence{i:05d}", "instagram", ""] for i in range(rows)])
    source = {"name": "leads", "type": "sheets", "spreadsheet": key, "platform_column": "Platform"}
    settings = stack.build_settings(
        data_dir=tmp_path,
        sources=[source],
        media={"backend": "none"},
        google={"reads_per_minute": 600, "writes_per_minute": 600},
        pipeline={"batch_poll_seconds": FLOOR},
    )
    return build_services(settings), key


def statuses(stack: SandboxStack, key: str) -> set[str]:
    values = stack.sheets.get_values(key, "Sheet1")
    column = [str(h) for h in values[0]].index("IC Status")
    return {str(row[column]) for row in values[1:]}


def poll_until_collected(services: Services, timeout: float = 60.0) -> None:
    """Call ``poll_batches`` as often as a scheduler could, until the batch is collected."""
    deadline = time.monotonic() + timeout
    while services.store.fetch_open_batches():
        assert time.monotonic() < deadline, "the batch was never collected"
        poll_batches(services)
        time.sleep(0.02)


def test_polls_follow_the_eta_and_the_finishing_poll_writes_every_row(
    stack: SandboxStack, tmp_path: Path
) -> None:
    # 100 rows at 20 a second: a fixed 0.5 s cadence would poll 10 times.
    stack.ic.configure(batch_rows_per_second=20.0, batch_queued_seconds=0.0)
    services, key = build(stack, tmp_path, 100)
    try:
        assert run_cycle(services, "leads").routes["batch"] == 100
        poll_until_collected(services)
        written = statuses(stack, key)
    finally:
        services.close()
    (batch,) = stack.ic.state.batches.values()
    polls = [r["t"] for r in stack.ic.requests() if r["endpoint"] == "batch_status"]
    assert written == {"enriched"}
    assert len(polls) <= 6
    assert all(b - a >= FLOOR for a, b in itertools.pairwise(polls))
    assert batch.finished_at is not None
    assert 0 <= polls[-1] - batch.finished_at <= ETA_MARGIN + 0.5


@pytest.mark.slow
def test_a_finished_batch_larger_than_an_outbox_page_is_written_by_one_poll(
    stack: SandboxStack, tmp_path: Path
) -> None:
    stack.ic.configure(batch_rows_per_second=100_000.0, batch_queued_seconds=0.0)
    services, key = build(stack, tmp_path, OUTBOX_PAGE + 20)
    try:
        run_cycle(services, "leads")
        time.sleep(FLOOR)
        assert poll_batches(services) == 1
        assert services.store.fetch_open_batches() == []
        assert services.store.count_outbox() == 0
        written = statuses(stack, key)
    finally:
        services.close()
    assert written == {"enriched"}
    assert stack.ic.stats()["credits_charged"] == OUTBOX_PAGE + 20


def test_the_batches_job_is_brought_forward_to_the_next_due_poll(
    stack: SandboxStack, tmp_path: Path
) -> None:
    services, _ = build(stack, tmp_path, 0)
    try:
        store = services.store
        scheduler = build_scheduler(services)
        job = scheduler.get_job("batches")
        later = services.clock() + timedelta(seconds=60)
        job.modify(next_run_time=later)
        due = services.clock() + timedelta(seconds=2)
        batch = store.save_batch("instagram", "full", [BatchItem("instagram", "a", "a")])
        store.attach_batch_id(batch.ref, "bch_unpolled", next_poll_at=due)
        tick_batches(services, scheduler)
        brought_forward = scheduler.get_job("batches").next_run_time
        store.update_batch(batch.ref, next_poll_at=later + timedelta(seconds=60))
        job.modify(next_run_time=later)
        tick_batches(services, scheduler)
        kept = scheduler.get_job("batches").next_run_time
    finally:
        services.close()
    assert brought_forward == due
    assert kept == later
