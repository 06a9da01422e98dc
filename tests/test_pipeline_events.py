"""Record events on the sandboxes: every record a run touched, and credits that add up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pipeline_kit import build_pipeline, finish_batches

from connector.pipeline.batches import poll_batches
from connector.pipeline.cycle import release_held, run_cycle
from connector.pipeline.delivery import flush_outbox
from connector.pipeline.recovery import serve_ready
from connector.sandbox.stack import SandboxStack
from connector.services import Services
from connector.store import RecordEvent


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=1000.0, ic_config={"not_found_rate": 0.0}) as running:
        yield running


def sheet(key: str) -> dict[str, Any]:
    return {"name": "leads", "type": "sheets", "spreadsheet": key, "platform_column": "Platform"}


def crm(list_id: str) -> dict[str, Any]:
    return {"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"}


def assert_runs_add_up(services: Services) -> None:
    for run in services.store.fetch_runs(200):
        count, credits = services.store.count_run_records(run.run_id)
        assert credits == pytest.approx(run.credits_spent), (run.source, count)


def by_location(events: list[RecordEvent]) -> dict[str, tuple[str | None, float, str]]:
    return {e.location: (e.route, e.credits, e.status) for e in events}


def test_a_sheet_run_lists_each_row_with_its_route_and_cost(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet(
        [
            ["@found_alice", "instagram", ""],
            ["https://www.instagram.com/found_alice/", "", ""],
            ["notfound_carl", "instagram", ""],
            ["n/a", "instagram", ""],
        ]
    )
    services = build_pipeline(stack, tmp_path, [sheet(key)])
    try:
        first = run_cycle(services, "leads")
        stack.sheets.append_rows(key, "Sheet1", [["found_alice", "instagram", ""]])
        second = run_cycle(services, "leads")
        assert first.run_id is not None and second.run_id is not None
        events = by_location(services.store.fetch_run_records(first.run_id))
        # Rows 2 and 3 name the same creator: one of them paid, the other got the same answer.
        assert sorted([events.pop("Sheet1!A2"), events.pop("Sheet1!A3")]) == [
            ("duplicate", 0.0, "enriched"),
            ("single", 1.0, "enriched"),
        ]
        assert events == {
            "Sheet1!A4": ("single", 0.0, "not found"),
            "Sheet1!A5": (None, 0.0, "invalid handle"),
        }
        written = next(
            e
            for e in services.store.fetch_run_records(first.run_id)
            if e.route == "single" and e.credits
        )
        assert written.fields and written.handle == "found_alice"
        assert [
            (e.location, e.route, e.credits)
            for e in services.store.fetch_run_records(second.run_id)
        ] == [("Sheet1!A6", "cache", 0.0)]
        assert_runs_add_up(services)
    finally:
        services.close()
    assert stack.ic.stats()["credits_charged"] == 1.0


def test_a_batch_credits_the_run_it_came_from_even_when_another_run_shares_creators(
    stack: SandboxStack, tmp_path: Path
) -> None:
    handles = [f"found_shared_{i:02d}" for i in range(6)]
    list_id = stack.seed_hubspot_list(handles)
    key = stack.seed_sheet([[h, "instagram", ""] for h in handles[:2]])
    services = build_pipeline(
        stack, tmp_path, [crm(list_id), sheet(key)], pipeline={"batch_threshold": 5}
    )
    try:
        batch_run = run_cycle(services, "crm")
        # The sheet's rows wait for the crm batch (reserved creators) and are served by it.
        waiting_run = run_cycle(services, "leads")
        finish_batches(services)
        assert batch_run.run_id and waiting_run.run_id
        crm_events = services.store.fetch_run_records(batch_run.run_id)
        assert sorted(e.route for e in crm_events) == ["batch"] * 6
        assert sum(e.credits for e in crm_events) == 6.0
        assert_runs_add_up(services)
    finally:
        services.close()
    assert stack.ic.stats()["credits_charged"] == 6.0


def test_held_records_are_listed_and_the_approved_run_adds_up(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(["found_h1", "found_h2"])
    services = build_pipeline(stack, tmp_path, [crm(list_id)], pipeline={"approval_over": 1})
    try:
        report = run_cycle(services, "crm")
        assert report.run_id is not None
        held = services.store.fetch_run_records(report.run_id)
        assert {(e.location, e.status) for e in held} == {
            (e.location, "awaiting approval") for e in held
        } and len(held) == 2
        services.store.approve_run(report.run_id)
        release_held(services)
        events = services.store.fetch_run_records(report.run_id)
        assert [e.status for e in events[2:]] == ["enriched", "enriched"]
        assert_runs_add_up(services)
    finally:
        services.close()


def test_a_failed_call_is_an_event_without_credits(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet([["found_zed", "instagram", ""]])
    ic = {"api_key": stack.ic.api_key, "base_url": stack.ic.url, "max_attempts": 1}
    services = build_pipeline(stack, tmp_path, [sheet(key)], influencers_club=ic)
    # Every creator's first Full call answers a gateway 504 (not billed): a temporary failure.
    stack.ic.configure(cold_rate=1.0, cold_delay=0.0)
    try:
        report = run_cycle(services, "leads")
        assert report.run_id is not None
        [event] = services.store.fetch_run_records(report.run_id)
        assert (event.route, event.credits, event.status) == ("single", 0.0, "retry")
        assert event.error and "temporary failure" in event.error
    finally:
        services.close()


def emails_crm(list_id: str) -> dict[str, Any]:
    return {**crm(list_id), "identify_by": "handle_then_email"}


def test_an_email_lookup_is_its_records_first_paid_step(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(
        ["", ""], emails=["found_eli+instagram@example.com", "info@example.com"]
    )
    services = build_pipeline(stack, tmp_path, [emails_crm(list_id)])
    try:
        report = run_cycle(services, "crm")
        assert report.run_id is not None
        events = services.store.fetch_run_records(report.run_id)
        run = services.store.get_run(report.run_id)
        assert run is not None
    finally:
        services.close()
    steps = [(e.route, e.credits, e.status) for e in events]
    assert ("e-mail lookup", 0.05, "e-mail matched") in steps
    assert ("single", 1.0, "enriched") in steps
    assert (None, 0.0, "invalid e-mail") in steps
    assert sum(e.credits for e in events) == pytest.approx(run.credits_spent)
    assert run.credits_spent == pytest.approx(stack.ic.stats()["credits_charged"])


def test_a_basic_batch_of_emails_credits_each_lookup_to_its_run(
    stack: SandboxStack, tmp_path: Path
) -> None:
    emails = [f"found_b{i}+instagram@example.com" for i in range(4)] + ["ghost_b@example.com"]
    list_id = stack.seed_hubspot_list([""] * 5, emails=emails)
    services = build_pipeline(
        stack,
        tmp_path,
        [emails_crm(list_id)],
        pipeline={"batch_threshold": 3, "batch_poll_seconds": 0.2},
    )
    try:
        report = run_cycle(services, "crm")
        for _ in range(150):
            poll_batches(services)
            serve_ready(services)
            flush_outbox(services)
            if not services.store.fetch_open_batches():
                break
            time.sleep(0.1)
        assert report.run_id is not None
        events = services.store.fetch_run_records(report.run_id)
        assert sorted(e.route or "" for e in events if e.credits) == (
            ["batch"] * 4 + ["e-mail lookup"] * 4
        )
        assert [e.status for e in events if e.route == "e-mail lookup" and not e.credits] == [
            "no creator for this e-mail"
        ]
        assert_runs_add_up(services)
    finally:
        services.close()
    assert stack.ic.stats()["credits_by_kind"] == {"email": 0.2, "full": 4.0}
