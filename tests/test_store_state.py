"""Source state, nudges, webhook hints and dedupe, known records, hashes, media and discovery."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from fakes import FakeClock

from connector.store import Store

# --- source state -------------------------------------------------------------------------


def test_source_state_starts_empty_and_merges_fields(store: Store, clock: FakeClock) -> None:
    assert store.get_source_state("leads") == {}
    store.save_source_state("leads", last_poll_at=clock.now, cursor="abc", rows=10)
    store.save_source_state("leads", last_error="quota", rows=12)
    state = store.get_source_state("leads")
    assert state == {
        "last_poll_at": clock.now,
        "last_ok_at": None,
        "last_error": "quota",
        "failing_since": None,
        "cursor": "abc",
        "rows": 12,
    }
    store.save_source_state("leads", last_error=None)
    assert store.get_source_state("leads")["last_error"] is None
    assert set(store.fetch_source_states()) == {"leads"}


def test_source_failures_keep_the_first_failure_time(store: Store, clock: FakeClock) -> None:
    start = clock.now
    store.record_source_failure("crm", "list deleted")
    clock.advance(minutes=5)
    store.record_source_failure("crm", "still deleted")
    state = store.get_source_state("crm")
    assert (state["failing_since"], state["last_poll_at"], state["last_error"]) == (
        start,
        clock.now,
        "still deleted",
    )
    clock.advance(minutes=5)
    store.record_source_success("crm")
    state = store.get_source_state("crm")
    assert (state["failing_since"], state["last_error"], state["last_ok_at"]) == (
        None,
        None,
        clock.now,
    )


def test_concurrent_state_merges_keep_every_field(database_url: str) -> None:
    Store.open(database_url).close()
    stores = [Store.open(database_url) for _ in range(4)]
    barrier = threading.Barrier(4)

    def save(index: int) -> None:
        barrier.wait()
        for n in range(5):
            stores[index].save_source_state("leads", **{f"w{index}_{n}": n})

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(save, range(4)))
        state = stores[0].get_source_state("leads")
    finally:
        for s in stores:
            s.close()
    assert {k for k in state if k.startswith("w")} == {
        f"w{i}_{n}" for i in range(4) for n in range(5)
    }


# --- nudges, hints, events ----------------------------------------------------------------


def test_poll_requests_are_taken_once(store: Store) -> None:
    assert store.take_poll_requests() == set()
    store.request_poll("leads")
    store.request_poll("leads")
    store.request_poll("crm")
    assert store.take_poll_requests() == {"leads", "crm"}
    assert store.take_poll_requests() == set()


def test_record_hints_are_deduplicated_and_taken_per_source(store: Store) -> None:
    store.add_record_hints("crm", ["3", "1", "3"])
    store.add_record_hints("crm", ["2"])
    store.add_record_hints("other", ["9"])
    store.add_record_hints("crm", [])
    assert store.take_record_hints("crm") == ["1", "2", "3"]
    assert store.take_record_hints("crm") == []
    assert store.take_record_hints("other") == ["9"]


def test_events_are_remembered_with_their_hints_for_seven_days(
    store: Store, clock: FakeClock
) -> None:
    event = ("evt-1", {"crm": ["7"]})
    assert store.save_event_hints([event]) == {"evt-1"}
    assert store.take_record_hints("crm") == ["7"]
    assert store.take_poll_requests() == {"crm"}
    assert store.save_event_hints([event]) == set()
    clock.advance(days=6)
    assert store.save_event_hints([event]) == set()
    assert store.take_record_hints("crm") == []
    assert store.take_poll_requests() == set()
    clock.advance(days=2)
    assert store.save_event_hints([event]) == {"evt-1"}
    assert store.take_record_hints("crm") == ["7"]


def test_a_repeated_event_in_one_delivery_hints_once(store: Store) -> None:
    events = [("a", {"crm": ["1"]}), ("a", {"crm": ["2"]}), ("b", {"crm": ["3"], "x": ["3"]})]
    assert store.save_event_hints(events) == {"a", "b"}
    assert store.take_record_hints("crm") == ["1", "3"]
    assert store.take_record_hints("x") == ["3"]
    assert store.take_poll_requests() == {"crm", "x"}


def test_racing_webhook_deliveries_are_processed_once(database_url: str) -> None:
    Store.open(database_url).close()
    stores = [Store.open(database_url) for _ in range(5)]
    barrier = threading.Barrier(5)

    def deliver(index: int) -> bool:
        barrier.wait()
        return bool(stores[index].save_event_hints([("evt-race", {"crm": [str(index)]})]))

    try:
        with ThreadPoolExecutor(5) as pool:
            assert sorted(pool.map(deliver, range(5))) == [False] * 4 + [True]
        assert len(stores[0].take_record_hints("crm")) == 1
    finally:
        for s in stores:
            s.close()


# --- known records and written hashes -----------------------------------------------------


def test_known_records_upsert_and_delete(store: Store) -> None:
    assert store.get_known_records("crm") == {}
    store.save_known_records("crm", {"1": "h1", "2": "h2"})
    store.save_known_records("crm", {"1": "h1b", "2": None, "3": "h3"})
    store.save_known_records("other", {"1": "x"})
    store.save_known_records("crm", {})
    assert store.get_known_records("crm") == {"1": "h1b", "3": "h3"}


def test_written_hashes_per_identity_and_target(store: Store) -> None:
    store.save_written_hashes("leads", {"alice": {"Followers": "a1", "Email": "e1"}})
    store.save_written_hashes("leads", {"alice": {"Followers": "a2"}, "bob": {"Email": "e2"}})
    store.save_written_hashes("crm", {"alice": {"Email": "zz"}})
    store.save_written_hashes("leads", {"carol": {}})
    store.save_written_hashes("leads", {})
    assert store.get_written_hashes("leads", ["alice", "bob", "carol"]) == {
        "alice": {"Followers": "a2", "Email": "e1"},
        "bob": {"Email": "e2"},
    }
    assert store.get_written_hashes("leads", []) == {}


# --- media --------------------------------------------------------------------------------


def test_media_lifecycle(store: Store, clock: FakeClock) -> None:
    assert store.save_media("h1", "jpg", "image/jpeg", 1234) is True
    assert store.save_media("h1", "jpg", "image/jpeg", 1234) is False
    store.save_media("h2", "png", "image/png", 99)
    media = store.get_media("h1")
    assert media is not None and (media.ext, media.size, media.created_at) == (
        "jpg",
        1234,
        clock.now,
    )
    store.add_media_ref("h1", "leads", "alice")
    clock.advance(days=2)
    assert [m.content_hash for m in store.fetch_unreferenced_media(timedelta(days=1))] == ["h2"]
    assert store.fetch_unreferenced_media(timedelta(days=3)) == []
    store.add_media_ref("h2", "leads", "alice")
    assert [m.content_hash for m in store.fetch_unreferenced_media(timedelta(days=1))] == ["h1"]
    assert store.delete_media("h2") is False
    assert store.delete_media("h1") is True
    assert store.get_media("h1") is None


# --- discovery ----------------------------------------------------------------------------


def test_discovery_records_each_creator_once(store: Store) -> None:
    assert store.save_discovered("beauty", "instagram", "alice", "leads") is True
    assert store.save_discovered("fitness", "instagram", "alice", "leads") is False
    assert store.save_discovered("fitness", "instagram", "bob", "leads") is True
    assert store.save_discovered("beauty", "tiktok", "alice", "leads") is True
    assert store.fetch_discovered_handles("instagram") == {"alice", "bob"}
    assert store.count_discovered() == {"beauty": 2, "fitness": 1}
    assert store.count_discovered("fitness") == {"fitness": 1}
