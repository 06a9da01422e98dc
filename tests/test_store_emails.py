"""The e-mail ledger: freshness, reservations shared with creators, work moved to its creator."""

from __future__ import annotations

from datetime import timedelta

from fakes import FakeClock

from connector.store import BatchItem, LedgerKey, NewWork, Store
from connector.store.models import EMAIL, get_email_key, is_email_key

LEASE = timedelta(minutes=10)
JANE = "jane@example.com"


def save(store: Store, email: str, outcome: str = "found", *, run_id: str | None = None) -> None:
    found = outcome == "found"
    store.save_email_results(
        [
            (
                email,
                outcome,
                "instagram" if found else None,
                "jane" if found else None,
                {"username": "jane"} if found else None,
                0.05 if found else 0.0,
            )
        ],
        run_id=run_id,
    )


def test_lookups_are_fresh_within_their_outcome_window(store: Store, clock: FakeClock) -> None:
    save(store, JANE)
    save(store, "nobody@example.com", "not_found")
    fresh = store.lookup_fresh_emails([JANE, "nobody@example.com", "other@example.com"])
    assert fresh[JANE].platform == "instagram" and fresh[JANE].credits_cost == 0.05
    assert fresh["nobody@example.com"].outcome == "not_found"
    assert "other@example.com" not in fresh
    clock.advance(days=8)
    assert set(store.lookup_fresh_emails([JANE, "nobody@example.com"])) == {JANE}
    clock.advance(days=30)
    assert store.lookup_fresh_emails([JANE]) == {}
    assert store.count_email_lookups() == {"found": 1, "not_found": 1}


def test_an_email_key_is_reserved_like_a_creator(store: Store) -> None:
    key = get_email_key(JANE)
    assert is_email_key(key) and not is_email_key(LedgerKey("instagram", "jane"))
    assert store.reserve([key], owner="a", lease=LEASE) == {key}
    assert store.reserve([key], owner="b", lease=LEASE) == set()
    store.mark_calls_started([key], "a")
    # Saving the answer drops its reservation in the same transaction.
    save(store, JANE)
    assert store.get_reservations([key]) == {}


def test_a_fresh_lookup_is_never_reserved_again(store: Store, clock: FakeClock) -> None:
    key = get_email_key(JANE)
    save(store, JANE)
    assert store.reserve([key], owner="a", lease=LEASE) == set()
    clock.advance(days=31)
    assert store.reserve([key], owner="a", lease=LEASE) == {key}


def test_an_email_in_an_open_batch_is_not_reserved(store: Store) -> None:
    key = get_email_key(JANE)
    batch = store.save_batch(EMAIL, EMAIL, [BatchItem(EMAIL, JANE, JANE)], run_id=None)
    store.attach_batch_id(batch.ref, "bch_1")
    assert store.reserve([key], owner="a", lease=LEASE) == set()


def test_lookup_costs_are_credited_to_their_run(store: Store) -> None:
    run_id = store.start_run("crm")
    save(store, JANE, run_id=run_id)
    save(store, "nobody@example.com", "not_found", run_id=run_id)
    run = store.get_run(run_id)
    assert run is not None and run.credits_spent == 0.05


def test_work_waits_on_its_email_then_moves_to_its_creator(store: Store) -> None:
    key = get_email_key(JANE)
    [item] = store.add_work([NewWork("crm", "101", "101", key, JANE, email=JANE, fill_handle=True)])
    assert (item.email, item.fill_handle) == (JANE, True)
    assert store.fetch_ready_email_work() == []
    save(store, JANE)
    assert [w.id for w in store.fetch_ready_email_work()] == [item.id]
    creator = LedgerKey("instagram", "jane", "raw")
    [moved] = store.set_work_key([item.id], creator, "jane")
    assert (moved.key, moved.handle_value, moved.email) == (creator, "jane", JANE)
    assert store.fetch_ready_email_work() == []


def test_a_reclaimed_record_finds_its_item_moved_to_the_creator(store: Store) -> None:
    key = get_email_key(JANE)
    [item] = store.add_work(
        [NewWork("leads", "tok1", JANE, key, JANE, email=JANE, fill_handle=True)]
    )
    store.set_work_key([item.id], LedgerKey("instagram", "jane"), "jane")
    store.set_work_state([item.id], "held")
    again = NewWork("leads", "tok2", JANE, key, JANE, email=JANE, fill_handle=True)
    moved, rest = store.rekey_open_work([again])
    assert rest == [] and [(old, new.record_key) for old, new in moved] == [("tok1", "tok2")]
    assert moved[0][1].key == LedgerKey("instagram", "jane")
