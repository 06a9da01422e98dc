"""The ledger and reservations: freshness windows, upserts and race-free reservation of keys."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fakes import FakeClock

from connector.store import BatchItem, LedgerKey, Store

LEASE = timedelta(minutes=10)
IG = "instagram"


def key(handle: str, platform: str = IG) -> LedgerKey:
    return LedgerKey(platform, handle)


def test_lookup_fresh_returns_saved_profiles(store: Store, clock: FakeClock) -> None:
    store.save_result(key("a"), "found", {"username": "A", "followers": 10}, 1.0)
    store.save_result(key("b"), "not_found", None, 0.0)
    fresh = store.lookup_fresh([key("a"), key("b"), key("c")])
    assert set(fresh) == {key("a"), key("b")}
    assert fresh[key("a")].profile == {"username": "A", "followers": 10}
    assert fresh[key("a")].outcome == "found"
    assert fresh[key("a")].credits_cost == 1.0
    assert fresh[key("a")].fetched_at == clock.now
    assert fresh[key("b")].profile is None


@pytest.mark.parametrize(
    ("outcome", "age_days", "fresh"),
    [("found", 29, True), ("found", 31, False), ("not_found", 6, True), ("not_found", 8, False)],
)
def test_freshness_windows_follow_the_outcome(
    store: Store, clock: FakeClock, outcome: str, age_days: int, fresh: bool
) -> None:
    store.save_result(key("x"), outcome, {"u": 1} if outcome == "found" else None, 1.0)
    clock.advance(days=age_days)
    assert (key("x") in store.lookup_fresh([key("x")])) is fresh
    assert key("x") in store.get_ledger_entries([key("x")])


def test_lookup_fresh_accepts_explicit_windows(store: Store, clock: FakeClock) -> None:
    store.save_result(key("x"), "found", {}, 1.0)
    clock.advance(days=2)
    assert store.lookup_fresh([key("x")], found_max_age=timedelta(days=1)) == {}
    assert key("x") in store.lookup_fresh([key("x")], found_max_age=timedelta(days=3))


def test_keys_differ_by_platform_and_mode(store: Store) -> None:
    store.save_result(LedgerKey(IG, "same", "full"), "found", {"p": IG}, 1.0)
    assert store.lookup_fresh([LedgerKey("tiktok", "same"), LedgerKey(IG, "same", "raw")]) == {}


def test_save_result_upserts_and_refreshes(store: Store, clock: FakeClock) -> None:
    store.save_result(key("a"), "not_found", None, 0.0)
    clock.advance(days=1)
    store.save_result(key("a"), "found", {"v": 2}, 1.0)
    entry = store.lookup_fresh([key("a")])[key("a")]
    assert (entry.outcome, entry.profile, entry.fetched_at) == ("found", {"v": 2}, clock.now)
    assert store.count_ledger() == {"found": 1, "not_found": 0}


def test_save_result_rejects_unknown_outcomes(store: Store) -> None:
    with pytest.raises(ValueError, match="outcome"):
        store.save_result(key("a"), "maybe", None, 0.0)


def test_save_result_releases_the_reservation_in_the_same_transaction(store: Store) -> None:
    assert store.reserve([key("a")], "w1", LEASE) == {key("a")}
    store.save_result(key("a"), "found", {}, 1.0)
    assert store.get_reservations([key("a")]) == {}


def test_save_results_counts_credits_on_the_run(store: Store) -> None:
    run_id = store.start_run("sheet")
    store.save_results(
        [
            (key("a"), "found", {}, 1.0),
            (key("b"), "found", {}, 1.5),
            (key("c"), "not_found", None, 0.0),
        ],
        run_id=run_id,
    )
    store.add_run_credits(run_id, saved=2.0)
    run = store.get_run(run_id)
    assert run is not None
    assert (run.credits_spent, run.credits_saved) == (2.5, 2.0)
    assert len(store.lookup_fresh([key("a"), key("b"), key("c")])) == 3


def test_reserve_hands_free_keys_to_one_owner(store: Store) -> None:
    assert store.reserve([key("a"), key("b")], "w1", LEASE) == {key("a"), key("b")}
    assert store.reserve([key("b"), key("c")], "w2", LEASE) == {key("c")}
    assert store.get_reservations([key("a"), key("b"), key("c")]) == {
        key("a"): "w1",
        key("b"): "w1",
        key("c"): "w2",
    }


def test_reserve_is_reentrant_for_the_same_owner(store: Store) -> None:
    assert store.reserve([key("a")], "w1", LEASE) == {key("a")}
    assert store.reserve([key("a")], "w1", LEASE) == {key("a")}


def test_reserve_takes_over_expired_leases(store: Store, clock: FakeClock) -> None:
    store.reserve([key("a")], "crashed", LEASE)
    clock.advance(minutes=9)
    assert store.reserve([key("a")], "w2", LEASE) == set()
    clock.advance(minutes=2)
    assert store.reserve([key("a")], "w2", LEASE) == {key("a")}
    assert store.release([key("a")], "crashed") == 0


def test_reserve_never_hands_out_fresh_keys(store: Store, clock: FakeClock) -> None:
    store.save_result(key("found"), "found", {}, 1.0)
    store.save_result(key("missing"), "not_found", None, 0.0)
    assert store.reserve([key("found"), key("missing"), key("new")], "w", LEASE) == {key("new")}
    assert store.get_reservations([key("found"), key("missing")]) == {}
    clock.advance(days=8)
    assert store.reserve([key("found"), key("missing")], "w", LEASE) == {key("missing")}
    assert store.reserve([key("found")], "w", LEASE, found_max_age=timedelta(days=1)) == {
        key("found")
    }


def test_reserve_skips_keys_in_open_batches(store: Store) -> None:
    batch = store.save_batch(IG, "full", [BatchItem(IG, "batched", "Batched")])
    assert store.reserve([key("batched"), key("free")], "w", LEASE) == {key("free")}
    store.update_batch(batch.ref, status="failed", error="boom")
    assert store.reserve([key("batched")], "w", LEASE) == {key("batched")}


def test_release_only_drops_the_owners_keys(store: Store) -> None:
    store.reserve([key("a")], "w1", LEASE)
    store.reserve([key("b")], "w2", LEASE)
    assert store.release([key("a"), key("b")], "w1") == 1
    assert store.get_reservations([key("a"), key("b")]) == {key("b"): "w2"}
    assert store.reserve([key("a")], "w2", LEASE) == {key("a")}


def test_extend_pushes_only_the_owners_leases(store: Store, clock: FakeClock) -> None:
    store.reserve([key("a")], "w1", LEASE)
    store.reserve([key("b")], "w2", LEASE)
    clock.advance(minutes=9)
    assert store.extend([key("a"), key("b")], "w1", LEASE) == {key("a")}
    clock.advance(minutes=9)
    assert store.reserve([key("a"), key("b")], "w3", LEASE) == {key("b")}


def test_empty_inputs_are_no_ops(store: Store) -> None:
    assert store.reserve([], "w", LEASE) == set()
    assert store.release([], "w") == 0
    assert store.extend([], "w", LEASE) == set()
    assert store.lookup_fresh([]) == {}
    store.save_results([])


def test_many_keys_are_chunked(store: Store) -> None:
    keys = [key(f"h{i:04d}") for i in range(1200)]
    assert store.reserve(keys, "w", LEASE) == set(keys)
    store.save_results([(k, "found", {"i": k.handle_key}, 1.0) for k in keys])
    assert len(store.lookup_fresh(keys)) == 1200


def test_threads_racing_for_the_same_keys_get_one_owner_each(database_url: str) -> None:
    keys = [key(f"race{i:03d}") for i in range(60)]
    workers = 6
    stores = [Store.open(database_url) for _ in range(workers)]
    barrier = threading.Barrier(workers)

    def race(index: int) -> set[LedgerKey]:
        barrier.wait()
        won: set[LedgerKey] = set()
        for start in range(0, len(keys), 7):
            # Different orders per worker make lock-ordering bugs (deadlocks) show up.
            chunk = (
                keys[start : start + 7] if index % 2 else list(reversed(keys[start : start + 7]))
            )
            won |= stores[index].reserve(chunk, f"w{index}", LEASE)
        return won

    try:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(race, range(workers)))
    finally:
        for s in stores:
            s.close()
    owners = Counter(k for won in results for k in won)
    assert set(owners) == set(keys)
    assert max(owners.values()) == 1


def test_each_creator_is_paid_once_when_workers_race(database_url: str) -> None:
    """The full worker loop: look up, reserve, 'call the API', save. Each key is called once."""
    keys = [key(f"pay{i:03d}") for i in range(40)]
    workers = 5
    stores = [Store.open(database_url) for _ in range(workers)]
    calls: Counter[LedgerKey] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(workers)

    def worker(index: int) -> None:
        store = stores[index]
        barrier.wait()
        for _ in range(3):
            todo = [k for k in keys if k not in store.lookup_fresh(keys)]
            for k in store.reserve(todo, f"w{index}", LEASE):
                with lock:
                    calls[k] += 1
                store.save_result(k, "found", {"by": index}, 1.0)

    try:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(worker, range(workers)))
    finally:
        for s in stores:
            s.close()
    assert set(calls) == set(keys)
    assert max(calls.values()) == 1


_PROCESS_SCRIPT = """
import json, sys, time
from datetime import timedelta
from connector.store import LedgerKey, Store
url, owner, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
store = Store.open(url)
keys = [LedgerKey("instagram", f"proc{i:03d}") for i in range(80)]
time.sleep(max(0.0, start_at - time.time()))
won = set()
for i in range(0, len(keys), 5):
    won |= store.reserve(keys[i:i + 5], owner, timedelta(minutes=10))
store.close()
print(json.dumps(sorted(k.handle_key for k in won)))
"""


def test_processes_racing_for_the_same_keys_get_one_owner_each(database_url: str) -> None:
    Store.open(database_url).close()
    start_at = time.time() + 3.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS_SCRIPT, database_url, f"p{i}", str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))
    owners = Counter(handle for won in outputs for handle in won)
    assert len(owners) == 80
    assert max(owners.values()) == 1
