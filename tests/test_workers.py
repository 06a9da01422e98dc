"""Real ``connector worker`` processes: two of them sharing PostgreSQL and Redis, SIGTERM, dry run.

The sandboxes run in the test process; the connector runs as child processes exactly as it is
deployed (``python -m connector --config FILE worker``).
"""

from __future__ import annotations

import ast
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from connector.cli.context import CliContext
from connector.cli.run import worker_command
from connector.sandbox.stack import SandboxStack
from connector.sandbox.workers import (
    ConnectorProcess,
    Dataset,
    Scenario,
    build_dataset,
    count_double_spent,
    fetch_sheet_statuses,
    is_final,
    write_config,
)
from connector.store import LedgerKey, Store

IC_TIMINGS = {
    "not_found_rate": 0.0,
    "latency": 0.175,
    "jitter": 0.125,
    "batch_rows_per_second": 500.0,
    "batch_queued_seconds": 0.2,
}
RATE = 120  # requests per minute: the sandbox's own limit and the connector's budget
CONNECTOR_ROOT = Path(__file__).resolve().parent.parent / "connector"


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    config = {**IC_TIMINGS, "rate_limit_per_minute": RATE}
    with SandboxStack(balance=100_000.0, ic_config=config, sheets_per_minute=600) as running:
        yield running


def write_settings(
    stack: SandboxStack, scenario: Scenario, tmp_path: Path, **overrides: Any
) -> Path:
    data = stack.settings_data(
        data_dir=tmp_path / "data",
        sources=scenario.sources(),
        media={"backend": "none"},
        google={"reads_per_minute": 600, "writes_per_minute": 600},
        influencers_club={"requests_per_minute": RATE},
        pipeline={
            "batch_poll_seconds": 0.5,
            "batch_threshold": 30,
            "reservation_lease": 6,
            "outbox_flush_every": 1,
        },
        **overrides,
    )
    return write_config(tmp_path / "connector.yaml", data)


def did_work(log: str) -> int:
    """Records a worker claimed in its polls plus batches it collected (from its log)."""
    claimed = sum(int(m.group(1)) for m in re.finditer(r'event="cycle done".* records=(\d+)', log))
    return claimed + log.count('event="batch collected"')


def busiest_window(times: list[float], seconds: float) -> int:
    """The most requests in any window of ``seconds``."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] > seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_two_workers_split_the_work_share_the_budget_and_never_pay_twice(
    stack: SandboxStack, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    data = build_dataset(248, sheet_share=200 / 248, duplicates=24 / 248, singles=0, prefix="w")
    waves = data.split(4)
    scenario = Scenario(stack, poll_interval=0.5)
    config = write_settings(
        stack, scenario, tmp_path, database_url=postgres_url, rate_limit_storage=redis_url
    )
    workers = [ConnectorProcess(config, log_path=tmp_path / f"worker{i}.log") for i in range(2)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            assert worker.wait_for_log("worker started", 60), worker.read_log()[-3000:]
        for wave in waves:
            scenario.add(wave)
            time.sleep(2.0)
        lost = scenario.wait_until_final(150)
        codes = [w.terminate() for w in workers]
    finally:
        for worker in workers:
            worker.stop()
    logs = [w.read_log() for w in workers]
    assert lost == 0, logs[0][-3000:]
    assert codes == [0, 0], [log[-2000:] for log in logs]
    stats = stack.ic.stats()
    assert count_double_spent(stats["charges"]) == 0
    assert stats["credits_charged"] == len(scenario.found)
    assert all(did_work(log) > 0 for log in logs), [did_work(log) for log in logs]
    # One budget for both processes: no 429 from the API, and the shared pace (2 requests a
    # second at 120/min, so at most ~11 in 5 s plus arrival jitter); with a private budget per
    # process the busiest 5 s of this test see 20 or more.
    assert stats["http_429"] == 0
    times = [r["t"] for r in stack.ic.requests()]
    assert busiest_window(times, 5.0) <= 14
    store = Store.open(postgres_url, migrate=False)
    try:
        found = {LedgerKey(p, n.casefold(), "full") for p, n in scenario.found}
        assert set(store.lookup_fresh(found)) == found
        assert store.count_outbox() == 0
        assert not store.fetch_open_batches()
    finally:
        store.close()


@pytest.mark.slow
def test_sigterm_stops_within_seconds_and_hands_back_what_was_not_sent(
    stack: SandboxStack, tmp_path: Path
) -> None:
    scenario = Scenario(stack, poll_interval=0.5)
    scenario.add(build_dataset(20, sheet_share=1.0, duplicates=0.0, singles=20, prefix="t"))
    config = write_settings(stack, scenario, tmp_path)
    # 20 single calls at 2 a second: the poll job is mid-way when the signal arrives.
    log, stopped_after = stop_mid_step(
        config,
        tmp_path / "worker.log",
        lambda: stack.ic.stats()["requests_by_endpoint"].get("enrich_full", 0) >= 3,
    )
    assert stopped_after < 10, stopped_after
    assert 'event="stopping worker" signal=SIGTERM' in log
    assert 'event="work handed back: the worker is stopping"' in log
    assert 'event="worker stopped"' in log
    paid = stack.ic.stats()["credits_charged"]
    assert 0 < paid < len(scenario.found)
    # Every answer paid for before the stop is in the ledger: the next worker serves it free,
    # and takes the handed-back rows at once (no lease to wait for).
    store = Store.open(write_config_url(tmp_path), migrate=False)
    try:
        assert len(store.lookup_fresh(ledger_keys(scenario))) == paid
        assert [beat.state for beat in store.fetch_heartbeats()] == ["stopped"]
    finally:
        store.close()
    assert check_workers(config).exit_code == 1
    again = ConnectorProcess(config, log_path=tmp_path / "worker2.log")
    try:
        again.start()
        assert again.wait_for_log("worker started", 60)
        assert check_workers(config).exit_code == 0
        lost = scenario.wait_until_final(60)
        assert again.terminate(timeout=30) == 0
    finally:
        again.stop()
    assert lost == 0, again.read_log()[-3000:]
    assert all(is_final(s) for s in fetch_sheet_statuses(stack, scenario.sheet_key))
    stats = stack.ic.stats()
    assert count_double_spent(stats["charges"]) == 0
    assert stats["credits_charged"] == len(scenario.found)


@pytest.mark.slow
def test_a_step_that_cannot_finish_is_abandoned_within_ten_seconds(
    stack: SandboxStack, tmp_path: Path
) -> None:
    """A call in flight for 30 s cannot end in time: the worker leaves it as a crash would."""
    stack.ic.configure(latency=30.0, jitter=0.0)
    scenario = Scenario(stack, poll_interval=0.5)
    scenario.add(build_dataset(4, sheet_share=1.0, duplicates=0.0, singles=4, prefix="h"))
    # The sandbox counts a request when it answers: wait for the rows to say "enriching".
    log, stopped_after = stop_mid_step(
        write_settings(stack, scenario, tmp_path),
        tmp_path / "w.log",
        lambda: any(
            s.startswith("enriching") for s in fetch_sheet_statuses(stack, scenario.sheet_key)
        ),
        settle=1.0,
    )
    assert stopped_after < 10, stopped_after
    assert 'event="worker stopped with steps unfinished' in log
    assert "running=poll:leads" in log


def stop_mid_step(
    config: Path, log_path: Path, busy: Callable[[], bool], *, settle: float = 0.0
) -> tuple[str, float]:
    """Start a worker, SIGTERM it once ``busy()`` holds; its log and seconds to exit (code 0)."""
    worker = ConnectorProcess(config, log_path=log_path)
    try:
        worker.start()
        deadline = time.monotonic() + 60
        while not busy():
            assert time.monotonic() < deadline, worker.read_log()[-3000:]
            time.sleep(0.05)
        time.sleep(settle)
        signalled = time.monotonic()
        code = worker.terminate(timeout=60)
        stopped_after = time.monotonic() - signalled
    finally:
        worker.stop()
    log = worker.read_log()
    assert code == 0, log[-3000:]
    return log, stopped_after


def check_workers(config: Path) -> Result:
    """``connector worker --check`` against the scenario's state database."""
    return CliRunner().invoke(worker_command, ["--check"], obj=CliContext(config_path=str(config)))


def write_config_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'connector.db'}"


def ledger_keys(scenario: Scenario) -> set[LedgerKey]:
    return {LedgerKey(p, n.casefold(), "full") for p, n in scenario.found}


def test_dry_run_writes_nothing_and_pays_nothing(stack: SandboxStack, tmp_path: Path) -> None:
    scenario = Scenario(stack)
    first = build_dataset(6, sheet_share=0.5, duplicates=0.0, not_found=0.0, prefix="d")
    scenario.add(first)
    config = write_settings(stack, scenario, tmp_path)
    run = ConnectorProcess(config, ["run", "--once"], log_path=tmp_path / "first.log")
    try:
        assert run.start().wait(120) == 0, run.read_log()[-3000:]
    finally:
        run.stop()
    cached = first.sheet_rows[0][0]
    stack.sheets.append_rows(
        scenario.sheet_key,
        "Sheet1",
        [
            [f"@{cached}", "instagram"],
            ["found_dnew1", "instagram"],
            ["https://www.instagram.com/found_dnew1/", "instagram"],
            ["not a handle", "instagram"],
        ],
    )
    scenario.add(Dataset([], [f"@{cached}", "found_dnew2"], frozenset()))
    before = stack.sheets.get_values(scenario.sheet_key, "Sheet1")
    contacts_before = [stack.hubspot.get_contact(i) for i in scenario.contact_ids]
    stack.ic.reset()
    stack.sheets.reset_stats()
    stack.hubspot.reset_stats()
    plan = ConnectorProcess(
        config,
        ["run", "--once", "--dry-run"],
        log_path=tmp_path / "plan.log",
        env={"COLUMNS": "240"},
    )
    try:
        assert plan.start().wait(120) == 0, plan.read_log()[-3000:]
    finally:
        plan.stop()
    output = plan.read_log()
    ic, sheets, hubspot = stack.ic.stats(), stack.sheets.stats(), stack.hubspot.stats()
    assert sheets["sheets_writes"] == 0
    assert not any(
        r["method"] != "GET" and not r["path"].endswith(("/batch/read", "/search"))
        for r in stack.hubspot.requests()
    ), hubspot
    assert ic["credits_charged"] == 0
    assert set(ic["requests_by_endpoint"]) <= {"credits"}
    assert stack.sheets.get_values(scenario.sheet_key, "Sheet1") == before
    assert [stack.hubspot.get_contact(i) for i in scenario.contact_ids] == contacts_before
    for kind in ("enrich", "cached", "duplicate", "invalid", "quote"):
        assert re.search(rf"^│ {kind}\b", output, re.MULTILINE), (kind, output)
    assert "route single" in output
    assert "→" in output  # the cached creator's cell changes
    assert re.search(r"1 credits; balance \d+", output), output  # leads: found_dnew1
    assert re.search(r"2 credits; balance \d+", output) is None
    assert "to enrich 1 single + 0 batch" in output  # crm: found_dnew2 only


def test_only_the_worker_command_starts_the_scheduler() -> None:
    importers = set()
    for path in CONNECTOR_ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "connector.scheduler" or n.startswith("apscheduler") for n in names):
                importers.add(path.relative_to(CONNECTOR_ROOT).as_posix())
    assert importers == {"scheduler.py", "cli/run.py"}
    source = (CONNECTOR_ROOT / "cli" / "run.py").read_text(encoding="utf-8")
    worker = source[source.index("def worker_command") :].split("\n\n\n")[0]
    assert source.count("run_worker(") == worker.count("run_worker(") == 1
