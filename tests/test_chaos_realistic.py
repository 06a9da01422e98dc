"""A worker against the influencers.club sandbox on a bad day still reconciles to the credit.

``faults: realistic`` (raised rates so every kind shows up in a short run): random HTML 502s on
any call, batch uploads included, 429s with ``Retry-After`` as seconds or as an HTTP date, cold
Full calls that answer 504 once, out of credits as 403. On top, the first batch upload meets a
gateway 502 and one Full call is refused for credits (another key of the account spent them).
A human answers what asks for one: rows whose upload may have been billed get ``retry`` after
the dashboard was checked. At the end every row is final and not an error, and the credits the
connector reports are exactly what the sandbox billed, no creator twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.cli.context import CliContext
from connector.cli.retry import retry_command
from connector.config import parse_settings
from connector.sandbox.stack import SandboxStack
from connector.sandbox.workers import (
    ConnectorProcess,
    Scenario,
    build_dataset,
    write_config,
)
from connector.store import Store

# Every record whose paid request may have been billed says so and asks for a typed retry.
UNCONFIRMED = "type retry"
FULL = "/public/v1/creators/enrich/handle/full/"
BATCH_CREATE = "/public/v1/enrichment/batch/"


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    config = {
        "faults": "realistic",
        "gateway_error_rate": 0.04,
        "throttle_rate": 0.02,
        "cold_rate": 0.3,
        "cold_delay": 0.2,
        "fault_seed": 20261201,
        "not_found_rate": 0.0,
        "latency": 0.05,
        "jitter": 0.03,
        "batch_rows_per_second": 300.0,
        "batch_queued_seconds": 0.3,
    }
    with SandboxStack(balance=100_000.0, ic_config=config, sheets_per_minute=600) as running:
        yield running


def answer_unconfirmed(scenario: Scenario, settings: dict[str, Any]) -> int:
    """Type retry into sheet rows, and run connector retry for contacts, whose paid request (an
    upload, or another record's) may have been billed: the sandbox's gateway refused it before
    anything was created."""
    stack = scenario.stack
    values = stack.sheets.get_values(scenario.sheet_key, "Sheet1")
    header = [str(h) for h in values[0]]
    typed = 0
    if "IC Error" in header:
        status, error = header.index("IC Status"), header.index("IC Error")
        cells = {}
        for number, row in enumerate(values[1:], start=2):
            texts = [str(c) for c in row] + [""] * len(header)
            if texts[status] == "error" and UNCONFIRMED in texts[error]:
                cells[f"{chr(ord('A') + status)}{number}"] = "retry"
        if cells:
            stack.sheets.set_cells(scenario.sheet_key, "Sheet1", cells)
            typed += len(cells)
    contacts = [
        cid
        for cid in scenario.contact_ids
        if UNCONFIRMED in str(stack.hubspot.get_contact(cid).get("ic_error") or "")
        and stack.hubspot.get_contact(cid).get("ic_status") == "error"
    ]
    if contacts:
        context = CliContext(_settings=parse_settings(settings, environ={}))
        result = CliRunner().invoke(
            retry_command, ["crm", "--rows", ",".join(contacts)], obj=context
        )
        assert result.exit_code == 0, result.output
        typed += len(contacts)
    return typed


@pytest.mark.slow
def test_realistic_api_faults_end_final_and_reconcile_to_the_credit(
    stack: SandboxStack, tmp_path: Path
) -> None:
    data = build_dataset(150, singles=12, prefix="r", rng=random.Random(7))
    scenario = Scenario(stack, poll_interval=0.5, claim_lease=15)
    scenario.add(data)
    stack.ic.inject_faults(502, html=True, path=BATCH_CREATE)
    stack.ic.inject_faults(403, path=FULL)
    database_url = f"sqlite:///{tmp_path / 'data' / 'connector.db'}"
    settings = stack.settings_data(
        data_dir=tmp_path / "data",
        sources=scenario.sources(),
        media={"backend": "none"},
        google={"reads_per_minute": 600, "writes_per_minute": 600},
        credits={"check_every": 1},
        pipeline={"batch_poll_seconds": 0.5, "reservation_lease": 5, "outbox_flush_every": 1},
    )
    worker = ConnectorProcess(
        write_config(tmp_path / "connector.yaml", settings), log_path=tmp_path / "worker.log"
    )
    typed = 0
    try:
        worker.start()
        assert worker.wait_for_log("worker started", 60), worker.read_log()[-3000:]
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            typed += answer_unconfirmed(scenario, settings)
            statuses = scenario.statuses()
            if all(s.startswith(("enriched", "not found")) for s in statuses):
                break
            time.sleep(0.5)
        code = worker.terminate()
    finally:
        worker.stop()
    log = worker.read_log()
    statuses = scenario.statuses()
    open_rows = [s for s in statuses if not s.startswith(("enriched", "not found"))]
    assert open_rows == [], (open_rows[:5], log[-4000:])
    assert code == 0
    assert typed > 0  # the ambiguous upload asked a human, who answered
    assert "balance cannot pay for this call (HTTP 403)" in log
    requests = stack.ic.requests()
    seen = {int(r["status"]) for r in requests}
    assert {403, 429, 502, 504} <= seen, sorted(seen)
    stats = stack.ic.stats()
    assert all(n == 1 for n in stats["charges"].values())
    assert len(stats["charges"]) == data.unique_found
    store = Store.open(database_url, migrate=False)
    try:
        reported = round(store.sum_credits_spent(), 6)
        assert store.count_outbox() == 0
        assert not store.fetch_open_batches()
    finally:
        store.close()
    assert reported == stats["credits_charged"] == data.unique_found
