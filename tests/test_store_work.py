"""Work items, record claims, batches and the outbox of the store."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fakes import FakeClock

from connector.store import BatchItem, LedgerKey, NewWork, Store

LEASE = timedelta(minutes=10)
IG = "instagram"


def new_work(record: str, handle: str, source: str = "leads", **extra: Any) -> NewWork:
    return NewWork(
        source=source,
        record_key=record,
        identity=handle.lower(),
        key=LedgerKey(IG, handle.lower()),
        handle_value=handle,
        location=f"Leads!B{record}",
        **extra,
    )


# --- work items ---------------------------------------------------------------------------


def test_add_work_stores_items_and_returns_them(store: Store, clock: FakeClock) -> None:
    items = store.add_work(
        [new_work("2", "Alice", run_id="r1", current={"Followers": 5}), new_work("3", "Bob")]
    )
    assert [i.record_key for i in items] == ["2", "3"]
    alice = items[0]
    assert alice.key == LedgerKey(IG, "alice")
    assert (alice.handle_value, alice.location, alice.state) == ("Alice", "Leads!B2", "waiting")
    assert (alice.run_id, alice.current, alice.created_at) == ("r1", {"Followers": 5}, clock.now)
    assert store.fetch_work_by_ids([alice.id]) == [alice]


def test_add_work_is_unique_per_source_and_record(store: Store, clock: FakeClock) -> None:
    first = store.add_work([new_work("2", "Alice")])[0]
    store.set_work_state([first.id], "failed", error="boom")
    clock.advance(minutes=1)
    again = store.add_work([new_work("2", "Alicia"), new_work("2", "Alice", source="other")])
    assert again[0].id == first.id
    assert (again[0].handle_value, again[0].state, again[0].error) == ("Alicia", "waiting", None)
    assert again[0].updated_at == clock.now
    assert len(store.fetch_work()) == 2


def test_rekey_open_work_moves_open_items_to_their_new_claim(store: Store) -> None:
    held, waiting, done = store.add_work(
        [new_work("t1", "Alice", run_id="r1"), new_work("t2", "Bob"), new_work("t3", "Carl")]
    )
    store.set_work_state([held.id], "held", error="awaiting approval")
    store.set_work_state([done.id], "done")
    moved, rest = store.rekey_open_work(
        [
            new_work("t4", "Alice", run_id="r2"),
            new_work("t5", "Alice", run_id="r2"),
            new_work("t6", "Bob"),
            new_work("t7", "Carl"),
        ]
    )
    assert [(old, m.id, m.record_key, m.state, m.run_id) for old, m in moved] == [
        ("t1", held.id, "t4", "held", "r1"),
        ("t2", waiting.id, "t6", "waiting", None),
    ]
    assert [r.record_key for r in rest] == ["t5", "t7"]
    assert {w.record_key for w in store.fetch_work()} == {"t4", "t6", "t3"}


def test_rekey_open_work_keeps_an_item_already_on_the_record(store: Store) -> None:
    contact = store.add_work([new_work("101", "Alice", run_id="r1")])[0]
    store.set_work_state([contact.id], "held")
    changed = new_work("101", "Alicia", run_id="r2")
    moved, rest = store.rekey_open_work([new_work("101", "Alice", run_id="r2")])
    assert [(old, m.id, m.run_id) for old, m in moved] == [("101", contact.id, "r1")]
    assert rest == []
    assert store.rekey_open_work([changed]) == ([], [changed])


def test_fetch_ready_work_returns_waiting_items_with_fresh_entries(
    store: Store, clock: FakeClock
) -> None:
    a, _b, c = store.add_work([new_work("1", "a"), new_work("2", "b"), new_work("3", "c")])
    store.save_result(LedgerKey(IG, "a"), "found", {}, 1.0)
    store.save_result(LedgerKey(IG, "c"), "not_found", None, 0.0)
    store.set_work_state([c.id], "held")
    assert [w.id for w in store.fetch_ready_work()] == [a.id]
    assert store.fetch_ready_work("other") == []
    clock.advance(days=31)
    assert store.fetch_ready_work("leads") == []


def test_fetch_work_filters_by_state_run_and_batch(store: Store) -> None:
    a, b = store.add_work([new_work("1", "a", run_id="r1"), new_work("2", "b", run_id="r2")])
    store.set_work_state([b.id], "held", batch_ref="batch-1", error="awaiting credits")
    assert [w.id for w in store.fetch_work("leads", "waiting")] == [a.id]
    assert [w.id for w in store.fetch_work(run_id="r2")] == [b.id]
    held = store.fetch_work(batch_ref="batch-1")
    assert [(w.state, w.error) for w in held] == [("held", "awaiting credits")]
    assert len(store.fetch_work(limit=1)) == 1


def test_fetch_work_for_keys_and_set_work_batch(store: Store) -> None:
    a, b, _c = store.add_work(
        [new_work("1", "a"), new_work("2", "a", source="crm"), new_work("3", "b")]
    )
    store.set_work_state([b.id], "done")
    keys = [LedgerKey(IG, "a")]
    assert [w.id for w in store.fetch_work_for_keys(keys)] == sorted([a.id, b.id])
    assert [w.id for w in store.fetch_work_for_keys(keys, states=("waiting",))] == [a.id]
    assert store.set_work_batch(keys, "ref-1") == 1
    assert [w.id for w in store.fetch_work(batch_ref="ref-1")] == [a.id]


def test_set_work_state_rejects_unknown_states(store: Store) -> None:
    with pytest.raises(ValueError, match="work state"):
        store.set_work_state([1], "lost")  # type: ignore[arg-type]


def test_count_work_by_state(store: Store) -> None:
    a, _b, c = store.add_work(
        [new_work("1", "a"), new_work("2", "b"), new_work("3", "c", source="crm")]
    )
    store.set_work_state([a.id], "done")
    store.set_work_state([c.id], "failed")
    assert store.count_work_by_state() == {"waiting": 1, "held": 0, "done": 1, "failed": 1}
    assert store.count_work_by_state("crm") == {"waiting": 0, "held": 0, "done": 0, "failed": 1}


def test_claim_work_gives_each_item_to_one_owner(store: Store, clock: FakeClock) -> None:
    a, b = store.add_work([new_work("1", "a"), new_work("2", "b")])
    assert store.claim_work([a.id, b.id], "w1", LEASE) == {a.id, b.id}
    assert store.claim_work([a.id, b.id], "w2", LEASE) == set()
    assert store.release_work([a.id], "w1") == 1
    assert store.claim_work([a.id, b.id], "w2", LEASE) == {a.id}
    clock.advance(minutes=11)
    assert store.claim_work([b.id], "w2", LEASE) == {b.id}
    store.set_work_state([b.id], "done")
    assert store.claim_work([b.id], "w3", LEASE) == set()


def test_delete_work_purges_old_finished_items(store: Store, clock: FakeClock) -> None:
    a, b, c = store.add_work([new_work("1", "a"), new_work("2", "b"), new_work("3", "c")])
    store.set_work_state([a.id, b.id], "done")
    clock.advance(days=2)
    store.set_work_state([b.id], "failed")
    assert store.delete_work(older_than=clock.now - timedelta(days=1)) == 1
    assert [w.id for w in store.fetch_work()] == [b.id, c.id]


# --- record claims ------------------------------------------------------------------------


def test_claim_records_lease_protocol(store: Store, clock: FakeClock) -> None:
    assert store.claim_records("crm", ["1", "2"], "w1", LEASE) == {"1", "2"}
    assert store.claim_records("crm", ["2", "3"], "w2", LEASE) == {"3"}
    assert store.claim_records("other", ["2"], "w2", LEASE) == {"2"}
    assert store.claim_records("crm", ["1"], "w1", LEASE) == {"1"}
    assert store.release_records("crm", ["1", "3"], "w1") == 1
    assert store.claim_records("crm", ["1"], "w2", LEASE) == {"1"}
    clock.advance(minutes=11)
    assert store.claim_records("crm", ["2"], "w2", LEASE) == {"2"}


def test_threads_racing_for_records_get_one_owner_each(database_url: str) -> None:
    records = [str(i) for i in range(50)]
    stores = [Store.open(database_url) for _ in range(4)]
    barrier = threading.Barrier(4)

    def race(index: int) -> set[str]:
        barrier.wait()
        return stores[index].claim_records("crm", records, f"w{index}", LEASE)

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(race, range(4)))
    finally:
        for s in stores:
            s.close()
    owners = Counter(r for won in results for r in won)
    assert set(owners) == set(records) and max(owners.values()) == 1


# --- batches ------------------------------------------------------------------------------


def _items(*handles: str) -> list[BatchItem]:
    return [BatchItem(IG, h.lower(), h) for h in handles]


def test_batch_intent_then_submission(store: Store, clock: FakeClock) -> None:
    batch = store.save_batch(IG, "full", _items("A", "B", "B"), run_id="r1")
    assert (batch.status, batch.batch_id, batch.total, batch.run_id) == ("intent", None, 2, "r1")
    assert [b.ref for b in store.fetch_open_batches()] == [batch.ref]
    assert store.fetch_batch_items(batch.ref) == _items("A", "B")
    store.attach_batch_id(batch.ref, "api-123", next_poll_at=clock.now + timedelta(seconds=45))
    saved = store.get_batch(batch.ref)
    assert saved is not None
    assert (saved.status, saved.batch_id, saved.submitted_at) == ("submitted", "api-123", clock.now)
    assert store.get_batch_by_id("api-123") == saved
    assert store.get_batch("nope") is None


def test_update_batch_tracks_progress_and_finish(store: Store, clock: FakeClock) -> None:
    batch = store.save_batch(IG, "full", _items("A", "B", "C", "D"))
    store.attach_batch_id(batch.ref, "api-1")
    store.update_batch(
        batch.ref,
        status="processing",
        processed=2,
        success=1,
        failed=1,
        credits_used=1.0,
        last_polled_at=clock.now,
    )
    progress = store.get_batch(batch.ref)
    assert progress is not None and progress.progress == 0.5
    clock.advance(minutes=5)
    store.update_batch(batch.ref, status="finished", processed=4)
    finished = store.get_batch(batch.ref)
    assert finished is not None and finished.finished_at == clock.now
    assert [b.ref for b in store.fetch_open_batches()] == [batch.ref]
    assert store.mark_batch_collected(batch.ref) is True
    assert store.mark_batch_collected(batch.ref) is False
    assert store.fetch_open_batches() == []
    assert [b.status for b in store.fetch_batches()] == ["collected"]


def test_a_closed_failed_batch_keeps_its_status(store: Store, clock: FakeClock) -> None:
    batch = store.save_batch(IG, "full", [BatchItem(IG, "alice", "Alice")])
    store.update_batch(batch.ref, status="failed", error="create failed")
    assert store.fetch_batched_keys([LedgerKey(IG, "alice")]) == set()
    assert store.close_batch(batch.ref) is True
    assert store.close_batch(batch.ref) is False
    closed = store.get_batch(batch.ref)
    assert closed is not None
    assert (closed.status, closed.collected_at) == ("failed", clock.now)


def test_fetch_batched_keys_and_hand_over_reservations(store: Store, clock: FakeClock) -> None:
    alice, bob = LedgerKey(IG, "alice"), LedgerKey(IG, "bob")
    store.save_batch(IG, "full", [BatchItem(IG, "alice", "Alice")])
    assert store.fetch_batched_keys([alice, bob]) == {alice}
    assert store.reserve([bob], owner="w1", lease=LEASE) == {bob}
    assert store.hand_over_reservations([bob], "w1", "batch:x", timedelta(hours=24)) == 1
    assert store.extend([bob], "w1", LEASE) == set()
    clock.advance(hours=23)
    assert store.reserve([bob], owner="w2", lease=LEASE) == set()
    clock.advance(hours=2)
    assert store.reserve([bob], owner="w2", lease=LEASE) == {bob}


def test_update_batch_rejects_unknown_fields_and_batches(store: Store) -> None:
    batch = store.save_batch(IG, "full", _items("A"))
    with pytest.raises(ValueError, match="unknown batch fields"):
        store.update_batch(batch.ref, platform="tiktok")
    with pytest.raises(KeyError):
        store.update_batch("missing", status="failed")


def test_claim_due_batches_hands_each_poll_to_one_caller(store: Store, clock: FakeClock) -> None:
    intent = store.save_batch(IG, "full", _items("A"))
    due = store.save_batch(IG, "full", _items("B"))
    later = store.save_batch(IG, "full", _items("C"))
    store.attach_batch_id(due.ref, "api-due", next_poll_at=clock.now)
    store.attach_batch_id(later.ref, "api-later", next_poll_at=clock.now + timedelta(minutes=5))
    claimed = store.claim_due_batches(timedelta(minutes=2))
    assert [b.ref for b in claimed] == [due.ref]
    assert claimed[0].next_poll_at == clock.now + timedelta(minutes=2)
    assert store.claim_due_batches(timedelta(minutes=2)) == []
    clock.advance(minutes=6)
    assert {b.ref for b in store.claim_due_batches(timedelta(minutes=2))} == {due.ref, later.ref}
    # An intent without an API id is never polled, but stays visible as open.
    assert intent.ref in {b.ref for b in store.fetch_open_batches()}


def test_the_next_batch_poll_is_the_earliest_a_claim_may_take(
    store: Store, clock: FakeClock
) -> None:
    assert store.get_next_batch_poll() is None
    store.save_batch(IG, "full", _items("A"))
    assert store.get_next_batch_poll() is None
    soon = store.save_batch(IG, "full", _items("B"))
    later = store.save_batch(IG, "full", _items("C"))
    store.attach_batch_id(later.ref, "api-later", next_poll_at=clock.now + timedelta(minutes=5))
    store.attach_batch_id(soon.ref, "api-soon", next_poll_at=clock.now + timedelta(seconds=31))
    assert store.get_next_batch_poll() == clock.now + timedelta(seconds=31)
    store.mark_batch_collected(soon.ref)
    assert store.get_next_batch_poll() == clock.now + timedelta(minutes=5)


# --- outbox -------------------------------------------------------------------------------


def test_outbox_enqueue_fetch_and_ack(store: Store) -> None:
    ids = store.enqueue_writes(
        "leads",
        [("k1", {"status": "enriched", "values": {"a": 1}}), ("k2", {"status": "not found"})],
        run_id="r1",
    )
    store.enqueue_writes("crm", [("c1", {"status": "enriched"})])
    assert store.count_outbox() == 3 and store.count_outbox("leads") == 2
    due = store.fetch_due_writes("leads")
    assert [w.id for w in due] == ids
    assert due[0].payload == {"status": "enriched", "values": {"a": 1}}
    assert (due[0].attempts, due[0].run_id) == (0, "r1")
    assert store.mark_writes_done(ids) == 2
    assert store.count_outbox() == 1
    assert len(store.fetch_due_writes(limit=10)) == 1


def test_outbox_retry_scheduling(store: Store, clock: FakeClock) -> None:
    (write_id,) = store.enqueue_writes("leads", [("k1", {"status": "enriched"})])
    store.mark_write_failed(write_id, "429 quota", clock.now + timedelta(minutes=1))
    assert store.fetch_due_writes() == []
    clock.advance(seconds=61)
    (again,) = store.fetch_due_writes()
    assert (again.attempts, again.last_error) == (1, "429 quota")
    store.mark_write_failed(write_id, "503", clock.now + timedelta(minutes=2))
    assert [w.attempts for w in store.fetch_failing_writes()] == [2]
    clock.advance(minutes=3)
    assert store.mark_writes_done([w.id for w in store.fetch_due_writes()]) == 1
    assert store.count_outbox() == 0


def test_outbox_lease_hides_writes_from_other_flushers(store: Store, clock: FakeClock) -> None:
    store.enqueue_writes("leads", [(f"k{i}", {"i": i}) for i in range(3)])
    first = store.fetch_due_writes(lease=timedelta(minutes=1))
    assert len(first) == 3
    assert store.fetch_due_writes(lease=timedelta(minutes=1)) == []
    clock.advance(minutes=2)
    assert len(store.fetch_due_writes(limit=2)) == 2
