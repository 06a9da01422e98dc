"""Runs, credit history, alert state compare-and-set and the delivery log of the store."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fakes import FakeClock

from connector.store import Store

# --- runs ---------------------------------------------------------------------------------


def test_start_and_finish_a_run(store: Store, clock: FakeClock) -> None:
    run_id = store.start_run("leads", dry_run=True)
    run = store.get_run(run_id)
    assert run is not None
    assert (run.source, run.status, run.dry_run, run.started_at) == (
        "leads",
        "running",
        True,
        clock.now,
    )
    assert run.stats == {} and run.finished_at is None
    clock.advance(minutes=3)
    stats = {"records": 5, "cached": 2, "routes": {"sync": 3}}
    store.save_run_stats(run_id, {"records": 5})
    store.finish_run(run_id, stats, credits_spent=3.0, credits_saved=2.0)
    done = store.get_run(run_id)
    assert done is not None
    assert (done.status, done.finished_at, done.stats) == ("finished", clock.now, stats)
    assert (done.credits_spent, done.credits_saved) == (3.0, 2.0)


def test_finish_run_records_failures(store: Store) -> None:
    run_id = store.start_run(run_id="fixed-id")
    assert run_id == "fixed-id"
    store.finish_run(run_id, status="failed", error="sheet unshared")
    run = store.get_run(run_id)
    assert run is not None and (run.source, run.status, run.error) == (
        "*",
        "failed",
        "sheet unshared",
    )


def test_unknown_runs_and_statuses_are_rejected(store: Store) -> None:
    with pytest.raises(KeyError):
        store.finish_run("missing")
    run_id = store.start_run()
    with pytest.raises(ValueError, match="run status"):
        store.finish_run(run_id, status="exploded")
    with pytest.raises(ValueError, match="held"):
        store.hold_run(run_id, "why", status="finished")
    assert store.get_run("missing") is None


def test_hold_approve_resume_cycle(store: Store) -> None:
    run_id = store.start_run("leads")
    assert store.approve_run(run_id) is False
    store.hold_run(run_id, "costs 900 credits", quote=900.0, status="awaiting_approval")
    held = store.get_run(run_id)
    assert held is not None
    assert (held.status, held.hold_reason, held.quote) == (
        "awaiting_approval",
        "costs 900 credits",
        900.0,
    )
    assert [r.run_id for r in store.fetch_held_runs()] == [run_id]
    assert store.is_run_approved(run_id) is False
    assert store.approve_run(run_id) is True
    assert store.approve_run(run_id) is False
    assert store.is_run_approved(run_id) is True
    assert store.resume_run(run_id) is True
    assert store.resume_run(run_id) is False
    assert store.is_run_approved(run_id) is True
    assert store.fetch_held_runs() == []


def test_cancel_only_applies_to_held_runs(store: Store) -> None:
    running = store.start_run()
    held = store.start_run()
    store.hold_run(held, "awaiting credits")
    assert store.cancel_run(running) is False
    assert store.cancel_run(held) is True
    run = store.get_run(held)
    assert run is not None and run.status == "cancelled"


def test_fetch_runs_newest_first(store: Store, clock: FakeClock) -> None:
    ids = []
    for source in ("a", "b", "a"):
        ids.append(store.start_run(source))
        clock.advance(minutes=1)
    assert [r.run_id for r in store.fetch_runs()] == ids[::-1]
    assert [r.run_id for r in store.fetch_runs(1)] == [ids[2]]
    assert [r.run_id for r in store.fetch_runs(source="a")] == [ids[2], ids[0]]


def test_run_credit_counters_add_up(store: Store, clock: FakeClock) -> None:
    old = store.start_run()
    store.add_run_credits(old, spent=10.0)
    clock.advance(days=2)
    new = store.start_run()
    store.add_run_credits(new, spent=1.5, saved=4.0)
    store.add_run_credits(new, spent=1.0)
    run = store.get_run(new)
    assert run is not None and (run.credits_spent, run.credits_saved) == (2.5, 4.0)
    assert store.sum_credits_spent() == 12.5
    assert store.sum_credits_spent(since=clock.now - timedelta(days=1)) == 2.5


def test_only_one_worker_resumes_an_approved_run(database_url: str) -> None:
    setup = Store.open(database_url)
    run_id = setup.start_run()
    setup.hold_run(run_id, "big", status="awaiting_approval")
    setup.approve_run(run_id)
    stores = [Store.open(database_url) for _ in range(4)]
    barrier = threading.Barrier(4)

    def resume(index: int) -> bool:
        barrier.wait()
        return stores[index].resume_run(run_id)

    try:
        with ThreadPoolExecutor(4) as pool:
            assert sorted(pool.map(resume, range(4))) == [False, False, False, True]
    finally:
        for s in [setup, *stores]:
            s.close()


# --- credits ------------------------------------------------------------------------------


def test_credit_history_is_ordered_and_filtered(store: Store, clock: FakeClock) -> None:
    for available in (1000, 900, 850):
        store.save_credit_snapshot(available, used=1000 - available)
        clock.advance(hours=1)
    history = store.fetch_credit_history()
    assert [s.available for s in history] == [1000.0, 900.0, 850.0]
    assert history[1].used == 100.0
    assert history[0].taken_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    since = store.fetch_credit_history(since=datetime(2026, 1, 1, 13, 0, tzinfo=UTC))
    assert [s.available for s in since] == [900.0, 850.0]
    store.save_credit_snapshot(800)
    assert store.fetch_credit_history()[-1].used is None


# --- alerts -------------------------------------------------------------------------------


def test_transition_alert_is_a_compare_and_set(store: Store, clock: FakeClock) -> None:
    assert store.get_alert_states() == {}
    assert store.transition_alert("low_balance", "warn", "critical", 50.0) is False
    assert store.transition_alert("low_balance", "ok", "warn", 400.0) is True
    assert store.transition_alert("low_balance", "ok", "warn", 400.0) is False
    state = store.get_alert_states()["low_balance"]
    assert (state.state, state.since, state.last_sent_at, state.last_value) == (
        "warn",
        clock.now,
        clock.now,
        400.0,
    )
    clock.advance(hours=1)
    assert store.transition_alert("low_balance", "warn", "ok", 600.0) is True
    assert store.get_alert_states()["low_balance"].state == "ok"


def test_touch_alert_reminder_is_a_compare_and_set(store: Store, clock: FakeClock) -> None:
    store.transition_alert("source_failing:leads", "ok", "critical", None)
    first = store.get_alert_states()["source_failing:leads"].last_sent_at
    clock.advance(hours=6)
    assert store.touch_alert_reminder("source_failing:leads", first) is True
    assert store.touch_alert_reminder("source_failing:leads", first) is False
    assert store.get_alert_states()["source_failing:leads"].last_sent_at == clock.now
    assert store.touch_alert_reminder("unknown", None) is False


def test_save_alert_value_keeps_the_state(store: Store) -> None:
    store.transition_alert("low_balance", "ok", "warn", 400.0)
    store.save_alert_value("low_balance", 380.0)
    state = store.get_alert_states()["low_balance"]
    assert (state.state, state.last_value) == ("warn", 380.0)


def test_racing_workers_send_one_alert(database_url: str) -> None:
    Store.open(database_url).close()
    stores = [Store.open(database_url) for _ in range(6)]
    barrier = threading.Barrier(6)

    def evaluate(index: int) -> bool:
        barrier.wait()
        return stores[index].transition_alert("low_balance", "ok", "critical", 10.0)

    try:
        with ThreadPoolExecutor(6) as pool:
            assert sorted(pool.map(evaluate, range(6))) == [False] * 5 + [True]
    finally:
        for s in stores:
            s.close()


def test_delivery_log_newest_first(store: Store, clock: FakeClock) -> None:
    first = store.save_delivery("slack", "low_balance", "warn", {"text": "low"}, True)
    clock.advance(minutes=1)
    second = store.save_delivery("ops-hook", "low_balance", "warn", None, False, "HTTP 500")
    deliveries = store.fetch_deliveries()
    assert [d.id for d in deliveries] == [second, first]
    assert (deliveries[0].ok, deliveries[0].detail, deliveries[0].payload) == (
        False,
        "HTTP 500",
        None,
    )
    assert (deliveries[1].channel, deliveries[1].payload, deliveries[1].sent_at) == (
        "slack",
        {"text": "low"},
        clock.now - timedelta(minutes=1),
    )
    assert len(store.fetch_deliveries(limit=1)) == 1


def test_prune_history_keeps_recent_and_open_rows(store: Store, clock: FakeClock) -> None:
    old_done = store.start_run()
    store.finish_run(old_done)
    old_held = store.start_run()
    store.hold_run(old_held, "awaiting credits")
    store.save_credit_snapshot(100)
    store.save_delivery("slack", "r", "warn", None, True)
    clock.advance(days=100)
    recent = store.start_run()
    store.save_credit_snapshot(90)
    removed = store.prune_history(clock.now - timedelta(days=90))
    assert removed == {"runs": 1, "credit_snapshots": 1, "deliveries": 1}
    assert {r.run_id for r in store.fetch_runs()} == {old_held, recent}
    assert [s.available for s in store.fetch_credit_history()] == [90.0]
