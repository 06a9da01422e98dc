"""Record events, the records still in error, re-enrich requests, run listings and pauses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fakes import FakeClock

from connector.store import LedgerKey, RecordEvent, Store


def event(run_id: str | None, row: str, status: str = "enriched", **extra: object) -> RecordEvent:
    values: dict[str, object] = {
        "run_id": run_id,
        "source": "leads",
        "status": status,
        "record_key": f"tok-{row}",
        "identity": f"handle{row}",
        "location": f"Sheet1!A{row}",
        "handle": f"handle{row}",
    }
    values.update(extra)
    return RecordEvent(**values)  # type: ignore[arg-type]


# --- record events ----------------------------------------------------------------------------


def test_events_of_a_run_come_back_in_order_with_their_sum(store: Store) -> None:
    run_id = store.start_run("leads")
    saved = store.save_record_events(
        [
            event(run_id, "2", route="single", credits=1.0, fields={"Followers": 1200}),
            event(run_id, "3", route="duplicate"),
            event("other", "4", route="single", credits=1.0),
        ]
    )
    assert saved == 3
    records = store.fetch_run_records(run_id)
    assert [(r.location, r.route, r.credits) for r in records] == [
        ("Sheet1!A2", "single", 1.0),
        ("Sheet1!A3", "duplicate", 0.0),
    ]
    assert records[0].fields == {"Followers": 1200}
    assert store.count_run_records(run_id) == (2, 1.0)
    assert [r.location for r in store.fetch_run_records(run_id, offset=1, limit=5)] == ["Sheet1!A3"]
    first = records[0].id
    assert first is not None and store.get_record_event(first) == records[0]
    assert store.get_record_event(10_000) is None


def test_long_values_are_clipped_and_odd_values_kept_as_text(store: Store) -> None:
    store.save_record_events([event("r", "2", fields={"Bio": "x" * 5000, "Tags": ["a", "b"]})])
    [saved] = store.fetch_run_records("r")
    assert len(saved.fields["Bio"]) == 500 and saved.fields["Bio"].endswith("…")
    assert saved.fields["Tags"] == "['a', 'b']"


def test_a_record_stays_in_error_until_a_later_event_for_its_handle_or_row(store: Store) -> None:
    store.save_record_events(
        [
            event("r1", "2", status="error", error="rejected"),
            event("r1", "3", status="invalid handle", error="contains spaces"),
            event("r1", "4", status="error", error="rejected"),
            event("r1", "5", status="enriched"),
        ]
    )
    # Row 2 was retried and enriched; row 3's handle was edited (same row, new identity).
    store.save_record_events(
        [
            event("r2", "2", status="enriched"),
            event("r2", "9", status="enriched", location="Sheet1!A3", identity="fixed"),
        ]
    )
    open_errors = store.fetch_records_in(["error", "invalid handle"])
    assert [e.location for e in open_errors] == ["Sheet1!A4"]
    assert store.fetch_records_in(["error"], source="crm") == []


def test_old_events_are_pruned(store: Store, clock: FakeClock) -> None:
    store.save_record_events([event("r", "2")])
    clock.advance(days=91)
    store.save_record_events([event("r", "3")])
    assert store.prune_record_events(clock.now - timedelta(days=90)) == 1
    assert [e.location for e in store.fetch_run_records("r")] == ["Sheet1!A3"]


# --- re-enrich requests -----------------------------------------------------------------------


def test_a_refresh_request_makes_the_entry_stale_once(store: Store, clock: FakeClock) -> None:
    key = LedgerKey("instagram", "ana")
    store.save_result(key, "found", {"x": 1}, 1.0)
    seen = store.get_ledger_entries([key])[key].fetched_at
    assert key in store.lookup_fresh([key])
    assert store.request_refresh(key, seen) is True
    assert store.request_refresh(key, seen) is False, "a second click changes nothing"
    assert store.lookup_fresh([key]) == {}
    assert store.reserve([key], owner="w", lease=timedelta(minutes=1)) == {key}
    clock.advance(seconds=5)
    store.save_result(key, "found", {"x": 2}, 1.0)
    fresh = store.lookup_fresh([key])[key]
    assert fresh.refresh_requested_at is None and fresh.profile == {"x": 2}
    assert store.request_refresh(key, seen) is False, "confirmed before the new answer came"


def test_a_refresh_request_can_be_cancelled(store: Store) -> None:
    key = LedgerKey("instagram", "ben")
    store.save_result(key, "found", {}, 1.0)
    store.request_refresh(key, store.get_ledger_entries([key])[key].fetched_at)
    assert store.cancel_refresh(key) is True
    assert key in store.lookup_fresh([key])
    assert store.cancel_refresh(key) is False


# --- runs that did something -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("stats", "credits", "status", "error", "listed"),
    [
        ({"records": 0}, 0.0, "finished", None, False),
        ({"records": 3}, 0.0, "finished", None, True),
        ({"records": 0}, 2.0, "finished", None, True),
        ({"records": 0}, 0.0, "failed", "sheet not shared", True),
    ],
)
def test_idle_runs_leave_the_listing(
    store: Store,
    stats: dict[str, int],
    credits: float,
    status: str,
    error: str | None,
    listed: bool,
) -> None:
    run_id = store.start_run("leads")
    store.finish_run(run_id, stats, status=status, error=error, credits_spent=credits)
    assert [r.run_id for r in store.fetch_runs()] == [run_id]
    assert [r.run_id for r in store.fetch_runs(idle=False)] == ([run_id] if listed else [])


def test_held_runs_are_listed_and_spending_runs_are_found(store: Store, clock: FakeClock) -> None:
    held = store.start_run("crm")
    store.hold_run(held, "over approval", quote=200, status="awaiting_approval")
    paid = store.start_run("leads")
    store.finish_run(paid, {"records": 2}, credits_spent=2.0)
    assert {r.run_id for r in store.fetch_runs(idle=False)} == {held, paid}
    assert [r.run_id for r in store.fetch_spending_runs(clock.now - timedelta(days=1))] == [paid]


# --- pauses and alert texts ------------------------------------------------------------------


def test_a_paused_source_stays_paused_until_resumed(store: Store) -> None:
    assert store.is_source_paused("leads") is False
    store.pause_source("leads")
    assert store.is_source_paused("leads") is True
    assert store.fetch_source_states()["leads"]["paused_at"]
    store.resume_source("leads")
    assert store.is_source_paused("leads") is False
    assert store.take_poll_requests() == {"leads"}, "resuming polls at once"


def test_the_last_delivery_of_each_rule_holds_its_text(store: Store) -> None:
    store.save_delivery("slack", "low_balance", "warn", {"text": "first"}, True)
    store.save_delivery("slack", "low_balance", "warn", {"text": "second"}, True)
    store.save_delivery("slack", "approval", "warn", {"text": "approve"}, True)
    last = store.fetch_last_deliveries(["low_balance", "approval", "forecast"])
    assert {rule: d.payload for rule, d in last.items()} == {
        "low_balance": {"text": "second"},
        "approval": {"text": "approve"},
    }


def test_a_released_run_keeps_the_records_it_fetched(store: Store) -> None:
    run_id = store.start_run("crm")
    store.finish_run(run_id, {"records": 290}, status="awaiting_approval")
    store.finish_run(run_id, {"records": 0}, credits_spent=278.0)
    run = store.get_run(run_id)
    assert run is not None and run.records == 290


def test_one_row_per_record_folds_free_steps_a_later_event_supersedes(store: Store) -> None:
    store.save_record_events(
        [
            event("r", "2", status="awaiting approval"),
            event("r", "3", status="awaiting approval"),
            event("r", "2", route="batch", credits=1.0),
            event("other", "3", route="batch", credits=1.0),
        ]
    )
    steps = store.fetch_run_records("r")
    records = store.fetch_run_records("r", steps=False)
    assert [(e.location, e.status) for e in steps] == [
        ("Sheet1!A2", "awaiting approval"),
        ("Sheet1!A3", "awaiting approval"),
        ("Sheet1!A2", "enriched"),
    ]
    assert [(e.location, e.status) for e in records] == [
        ("Sheet1!A3", "awaiting approval"),
        ("Sheet1!A2", "enriched"),
    ]
    assert store.count_run_records("r", steps=False) == (2, 1.0)
    assert store.count_run_records("r") == (3, 1.0)
