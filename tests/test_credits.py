"""Credit history, burn rate and run-out forecasts, ``connector credits``, and held work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from connector.alerts.credits import (
    RUNOUT_HORIZON_DAYS,
    apply_burn_rate,
    apply_runout,
    apply_spend,
    build_credit_report,
)
from connector.cli.context import CliContext
from connector.cli.credits import credits_command
from connector.config import parse_settings
from connector.sandbox.influencers_club import InfluencersClubSandbox
from connector.sandbox.receivers import SlackReceiver, WebhookReceiver
from connector.sandbox.stack import SandboxStack
from connector.services import build_services
from connector.store import Store
from connector.store.models import CreditSnapshot, LedgerKey, NewWork

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def snap(hours: float, available: float, used: float | None = None) -> CreditSnapshot:
    return CreditSnapshot(T0 + timedelta(hours=hours), available, used)


# --- Pure forecast math. ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "spent"),
    [
        (snap(0, 100, 0), snap(1, 90, 10), 10),
        (snap(0, 100, None), snap(1, 90, None), 10),
        (snap(0, 100, 0), snap(1, 600, 20), 20),  # top-up of 520 and 20 spent
        (snap(0, 100, None), snap(1, 600, None), 0),  # a top-up alone is no spend
        (snap(0, 100, 50), snap(1, 95, 0), 5),  # ``used`` reset: fall back to ``available``
    ],
)
def test_spend_between_snapshots_ignores_top_ups(
    before: CreditSnapshot, after: CreditSnapshot, spent: float
) -> None:
    assert apply_spend(before, after) == spent


def test_burn_rate_needs_min_history() -> None:
    history = [snap(0, 1000, 0), snap(12, 900, 100)]
    assert apply_burn_rate(history, min_history=DAY) is None
    assert apply_burn_rate(history, min_history=timedelta(hours=12)) == pytest.approx(200)
    assert apply_burn_rate(history[:1], min_history=timedelta(0)) is None


def test_runout_date_projects_the_balance_at_the_burn_rate() -> None:
    assert apply_runout(800, 200, T0) == T0 + timedelta(days=4)
    assert apply_runout(800, 0, T0) is None
    assert apply_runout(800, None, T0) is None
    assert apply_runout(-5, 10, T0) == T0


steps = st.lists(
    st.tuples(
        st.floats(min_value=0.01, max_value=48),  # hours between checks
        st.floats(min_value=0, max_value=500),  # spent
        st.floats(min_value=0, max_value=5000),  # topped up
    ),
    min_size=1,
    max_size=30,
)


@given(steps=steps)
def test_burn_rate_equals_what_was_spent_whatever_the_top_ups(
    steps: list[tuple[float, float, float]],
) -> None:
    history = [snap(0, 10_000, 0)]
    hours = spent_total = 0.0
    for gap, spent, topped in steps:
        hours += gap
        spent_total += spent
        prev = history[-1]
        history.append(snap(hours, prev.available - spent + topped, (prev.used or 0) + spent))
    rate = apply_burn_rate(history, min_history=timedelta(0))
    assert rate == pytest.approx(spent_total * 24 / hours, rel=1e-6, abs=1e-6)


@given(
    balance=st.floats(min_value=0, max_value=1e7),
    rate=st.floats(min_value=1e-3, max_value=1e6),
)
def test_runout_is_never_in_the_past_and_grows_with_the_balance(
    balance: float, rate: float
) -> None:
    runout = apply_runout(balance, rate, T0)
    more = apply_runout(balance + 100, rate, T0)
    if balance / rate > RUNOUT_HORIZON_DAYS:
        assert runout is None
        return
    assert runout is not None and runout >= T0
    assert more is None or more >= runout


# --- The report from stored facts. ------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_report_prices_unique_uncached_queued_and_held_creators(
    tmp_path: Path, database_url: str
) -> None:
    clock = Clock()
    settings = parse_settings({"data_dir": str(tmp_path), "database_url": database_url}, environ={})
    services = build_services(settings, clock=clock)
    store = services.store
    try:
        cached = LedgerKey("instagram", "cached")
        store.save_result(cached, "found", {"x": 1}, 1.0)
        work = [
            ("r1", "a", "waiting"),
            ("r2", "a", "waiting"),  # the same creator twice costs once
            ("r3", "b", "waiting"),
            ("r4", "cached", "waiting"),  # in the ledger: free
            ("r5", "c", "held"),
        ]
        store.add_work(
            NewWork("leads", rk, rk, LedgerKey("instagram", h), h, state=s)  # type: ignore[arg-type]
            for rk, h, s in work
        )
        store.save_credit_snapshot(1000, 0)
        clock.now += DAY
        store.save_credit_snapshot(900, 100)
        report = build_credit_report(services)
    finally:
        services.close()
    assert (report.queued_creators, report.queued_cost) == (2, 2.0)
    assert (report.held_creators, report.held_cost) == (1, 1.0)
    assert report.burn_rate_per_day == pytest.approx(100)
    assert report.runout_date == T0 + DAY + timedelta(days=9)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["balance"] == 900
    assert len(data["history"]) == 2
    assert data["thresholds"] == [
        {"level": "warn", "below": 500},
        {"level": "critical", "below": 100},
    ]


# --- ``connector credits``. -------------------------------------------------------------------


@pytest.fixture
def ic() -> Iterator[InfluencersClubSandbox]:
    with InfluencersClubSandbox(balance=750.0) as box:
        yield box


def cli_settings(tmp_path: Path, ic: InfluencersClubSandbox, key: str | None = None) -> Any:
    return parse_settings(
        {
            "data_dir": str(tmp_path),
            "influencers_club": {"api_key": key or ic.api_key, "base_url": ic.url},
        },
        environ={},
    )


def test_credits_command_prints_a_forecast_once_history_exists(
    tmp_path: Path, ic: InfluencersClubSandbox
) -> None:
    settings = cli_settings(tmp_path, ic)
    first = CliRunner().invoke(credits_command, [], obj=CliContext(_settings=settings))
    assert first.exit_code == 0, first.output
    assert "available: 750.00" in first.output
    assert "not enough history yet" in first.output
    # Two days ago the balance was 1,150: 200 credits a day, so 750 last 3.75 days.
    now = datetime.now(UTC)
    past = Store.open(settings.resolved_database_url, clock=lambda: now - 2 * DAY)
    past.save_credit_snapshot(1150, 0)
    past.close()
    second = CliRunner().invoke(credits_command, [], obj=CliContext(_settings=settings))
    assert second.exit_code == 0, second.output
    expected = (now + timedelta(days=3.75)).date().isoformat()
    assert "burn rate: 200.00 credits/day (7 d)" in second.output
    assert f"run-out:   {expected} (in 3." in second.output
    as_json = CliRunner().invoke(credits_command, ["--json"], obj=CliContext(_settings=settings))
    data = json.loads(as_json.output)
    assert data["available"] == 750
    assert data["burn_rate_per_day"] == pytest.approx(200, rel=1e-3)
    assert data["runout_date"].startswith(expected)
    assert data["queued_cost"] == data["held_cost"] == 0


def test_credits_command_explains_a_rejected_key(
    tmp_path: Path, ic: InfluencersClubSandbox
) -> None:
    settings = cli_settings(tmp_path, ic, key="wrong-key")
    result = CliRunner().invoke(credits_command, [], obj=CliContext(_settings=settings))
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "wrong-key" not in result.output


# --- A held batch is released after a top-up, with alerts both ways. --------------------------


@pytest.mark.slow
def test_held_batch_is_released_after_a_top_up(tmp_path: Path) -> None:
    from connector.pipeline.batches import poll_batches
    from connector.pipeline.cycle import run_cycle
    from connector.pipeline.delivery import deliver_ready, flush_outbox
    from connector.scheduler import tick_credits

    secret = "whsec_" + "c2FuZGJveC1zZWNyZXQtZm9yLWhlbGQtYmF0Y2g="
    with (
        SandboxStack(balance=10.0, ic_config={"not_found_rate": 0.0}) as stack,
        SlackReceiver() as slack,
        WebhookReceiver(secret=secret) as hook,
    ):
        stack.ic.configure(batch_rows_per_second=500, batch_queued_seconds=0.1)
        list_id = stack.seed_hubspot_list([f"found_held{i}" for i in range(60)])
        settings = stack.build_settings(
            data_dir=tmp_path,
            sources=[{"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"}],
            media={"backend": "none"},
            pipeline={"batch_threshold": 50, "batch_poll_seconds": 1},
            credits={"low_balance": [], "forecast_days": None},
            alerts={
                "channels": [
                    {"type": "slack", "webhook_url": slack.url},
                    {"type": "webhook", "url": hook.url, "secret": secret},
                ]
            },
        )
        services = build_services(settings)
        try:
            report = run_cycle(services, "crm")
            assert report.held == 60
            assert stack.ic.stats()["credits_charged"] == 0
            assert [(m["rule"], m["state"]) for m in hook.messages()] == [("work_cost", "critical")]
            tick_credits(services)  # still 10 credits: stays held, no new message
            assert services.store.count_work_by_state()["held"] == 60
            stack.ic.set_balance(100.0)
            tick_credits(services)
            assert services.store.count_work_by_state()["held"] == 0
            for _ in range(100):
                if not services.store.fetch_open_batches():
                    break
                poll_batches(services)
                deliver_ready(services)
                import time

                time.sleep(0.1)
            flush_outbox(services)
            assert services.store.count_work_by_state()["done"] == 60
        finally:
            services.close()
        assert stack.ic.stats()["credits_charged"] == 60.0
        assert [(m["type"], m["rule"]) for m in hook.messages()] == [
            ("alert.firing", "work_cost"),
            ("alert.resolved", "work_cost"),
        ]
        assert len(slack.messages()) == 2
        assert all(r["verified"] for r in hook.requests())


def test_credits_command_shows_the_cost_of_held_work(
    tmp_path: Path, ic: InfluencersClubSandbox
) -> None:
    settings = cli_settings(tmp_path, ic)
    store = Store.open(settings.resolved_database_url)
    run_id = store.start_run("leads")
    store.hold_run(run_id, "needs 2 credits, balance is 1", quote=2.0)
    store.add_work(
        NewWork(
            "leads", f"r{i}", f"r{i}", LedgerKey("instagram", h), h, state="held", run_id=run_id
        )
        for i, h in enumerate(["x", "y", "y"])
    )
    store.close()
    result = CliRunner().invoke(credits_command, [], obj=CliContext(_settings=settings))
    assert result.exit_code == 0, result.output
    assert "held:      2.00 credits (2 creators held)" in result.output
    assert f"held run {run_id} (leads, held): needs 2 credits, balance is 1" in result.output
