"""The pipeline end to end on the sandboxes: never pay twice, routes, holds, dry runs, writes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pipeline_kit import build_pipeline, finish_batches

from connector.pipeline.cycle import release_held, run_cycle
from connector.pipeline.recovery import resume_stalled
from connector.sandbox.stack import SandboxStack
from connector.services import build_services
from connector.store.models import LedgerKey, NewWork


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=1000.0, ic_config={"not_found_rate": 0.0}) as running:
        yield running


def sheet_source(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "leads",
        "type": "sheets",
        "spreadsheet": key,
        "platform_column": "Platform",
        **extra,
    }


def hubspot_source(list_id: str, **extra: Any) -> dict[str, Any]:
    return {"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram", **extra}


def sheet_rows(stack: SandboxStack, key: str) -> list[dict[str, Any]]:
    values = stack.sheets.get_values(key, "Sheet1")
    header = [str(h) for h in values[0]]
    return [
        dict(zip(header, row + [""] * (len(header) - len(row)), strict=False)) for row in values[1:]
    ]


def test_sheet_rows_are_enriched_once_per_creator(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet(
        [
            ["@found_alice", "instagram", ""],
            ["https://www.instagram.com/found_alice/", "", ""],
            ["found_bob", "tiktok", ""],
            ["notfound_carl", "instagram", ""],
            ["n/a", "instagram", ""],
        ]
    )
    services = build_pipeline(stack, tmp_path, [sheet_source(key)])
    try:
        report = run_cycle(services, "leads")
    finally:
        services.close()
    assert report.records == 5
    assert report.invalid == 1
    assert report.duplicates == 1
    assert report.credits_spent == 2.0
    assert report.credits_saved == 1.0
    stats = stack.ic.stats()
    assert stats["credits_charged"] == 2.0
    assert all(count == 1 for count in stats["charges"].values())
    rows = sheet_rows(stack, key)
    statuses = [r["IC Status"] for r in rows]
    assert statuses[:3] == ["enriched", "enriched", "enriched"]
    assert statuses[3] == "not found"
    assert statuses[4].startswith("invalid handle")


def test_a_finished_run_tells_the_alert_rules(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet([["found_fay", "instagram", ""]])
    services = build_pipeline(stack, tmp_path, [sheet_source(key)])
    events: list[tuple[str, dict[str, Any]]] = []
    services.event_hooks.append(lambda kind, data: events.append((kind, data)))
    try:
        report = run_cycle(services, "leads")
        run_cycle(services, "leads")
    finally:
        services.close()
    finished = [data for kind, data in events if kind == "run_finished"]
    assert [(d["run_id"], d["records"], d["credits_spent"]) for d in finished[:1]] == [
        (report.run_id, 1, 1.0)
    ]
    assert all(d["source"] == "leads" for d in finished)


def test_second_cycle_and_second_source_reuse_the_ledger(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet([["found_dana", "instagram", ""]])
    list_id = stack.seed_hubspot_list(["found_dana", "found_erin"])
    services = build_pipeline(stack, tmp_path, [sheet_source(key), hubspot_source(list_id)])
    try:
        run_cycle(services, "leads")
        report = run_cycle(services, "crm")
    finally:
        services.close()
    assert report.credits_spent == 1.0
    assert report.credits_saved == 1.0
    assert stack.ic.stats()["credits_charged"] == 2.0


def test_dry_run_writes_nothing_and_pays_nothing(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet([["found_frank", "instagram", ""], ["bad handle", "instagram", ""]])
    services = build_pipeline(stack, tmp_path, [sheet_source(key)])
    stack.sheets.reset_stats()
    try:
        report = run_cycle(services, "leads", dry_run=True)
    finally:
        services.close()
    assert report.quote == 1.0
    assert report.invalid == 1
    assert stack.sheets.stats()["sheets_writes"] == 0
    assert stack.ic.stats()["credits_charged"] == 0
    assert any(row["kind"] == "enrich" for row in report.plan)


def test_many_handles_go_to_one_batch(stack: SandboxStack, tmp_path: Path) -> None:
    stack.ic.configure(batch_rows_per_second=500, batch_queued_seconds=0.1)
    handles = [f"found_batch{i}" for i in range(60)]
    list_id = stack.seed_hubspot_list(handles + handles[:5])
    services = build_pipeline(
        stack, tmp_path, [hubspot_source(list_id)], pipeline={"batch_threshold": 50}
    )
    try:
        report = run_cycle(services, "crm")
        assert report.routes["batch"] == 60
        finish_batches(services)
    finally:
        services.close()
    stats = stack.ic.stats()
    assert stats["requests_by_endpoint"].get("batch_create") == 1
    assert stats["credits_charged"] == 60.0


@pytest.mark.parametrize("route", ["single", "batch"])
def test_youtube_channel_ids_keep_their_case_through_ledger_and_batches(
    stack: SandboxStack, tmp_path: Path, route: str
) -> None:
    stack.ic.configure(batch_rows_per_second=500, batch_queued_seconds=0.1)
    channel, other = "UCX6OQ3DkcsbYNE6H8uQQuVA", "UCx6oq3dkcsbyne6h8uqquva"
    key = stack.seed_sheet(
        [
            [channel, "youtube", ""],
            [f"https://www.youtube.com/channel/{channel}", "", ""],
            [other, "youtube", ""],
            ["@Found_Tube", "youtube", ""],
            ["@found_tube", "youtube", ""],
        ]
    )
    threshold = 2 if route == "batch" else 50
    services = build_pipeline(
        stack, tmp_path, [sheet_source(key)], pipeline={"batch_threshold": threshold}
    )
    try:
        report = run_cycle(services, "leads")
        assert report.routes[route] == 3
        assert report.duplicates == 2
        finish_batches(services)
        ledger = set(services.store.fetch_ledger_handles("youtube"))
    finally:
        services.close()
    assert ledger == {channel, other, "found_tube"}
    stats = stack.ic.stats()
    assert stats["credits_charged"] == 3.0
    assert sorted(stats["charges"]) == sorted(
        [f"youtube:{channel}", f"youtube:{other}", "youtube:@found_tube"]
    )
    assert [r["IC Status"] for r in sheet_rows(stack, key)] == ["enriched"] * 5


def test_work_beyond_the_balance_is_held_then_released(stack: SandboxStack, tmp_path: Path) -> None:
    stack.ic.set_balance(1.0)
    key = stack.seed_sheet([["found_gina", "instagram", ""], ["found_hank", "instagram", ""]])
    services = build_pipeline(stack, tmp_path, [sheet_source(key)])
    try:
        report = run_cycle(services, "leads")
        assert report.held == 2
        assert stack.ic.stats()["credits_charged"] == 0
        assert [r["IC Status"].split(" ")[0] for r in sheet_rows(stack, key)] == ["awaiting"] * 2
        stack.ic.set_balance(10.0)
        release_held(services)
    finally:
        services.close()
    assert stack.ic.stats()["credits_charged"] == 2.0
    assert [r["IC Status"] for r in sheet_rows(stack, key)] == ["enriched", "enriched"]


def test_a_held_list_stays_one_run_until_approved_then_is_billed_once(
    stack: SandboxStack, tmp_path: Path
) -> None:
    stack.ic.configure(batch_rows_per_second=500, batch_queued_seconds=0.1)
    handles = [f"found_held{i}" for i in range(60)]
    list_id = stack.seed_hubspot_list(handles)
    services = build_pipeline(
        stack, tmp_path, [hubspot_source(list_id)], pipeline={"approval_over": 10}
    )
    try:
        first = run_cycle(services, "crm")
        later = [run_cycle(services, "crm") for _ in range(3)]
        held_runs = services.store.fetch_held_runs()
        assert [r.run_id for r in held_runs] == [first.run_id]
        assert held_runs[0].status == "awaiting_approval"
        assert first.held == 60 and all(r.held == 0 for r in later)
        assert len(services.store.fetch_work(state="held", run_id=first.run_id)) == 60
        assert services.store.approve_run(held_runs[0].run_id)
        release_held(services)
        finish_batches(services)
        run = services.store.get_run(held_runs[0].run_id)
    finally:
        services.close()
    assert run is not None and run.status == "finished"
    contacts = [stack.hubspot.get_contact(i) for i in stack.contact_ids[list_id]]
    assert {c["ic_status"] for c in contacts} == {"enriched"}
    stats = stack.ic.stats()
    assert stats["credits_charged"] == 60.0
    assert all(count == 1 for count in stats["charges"].values())


def test_a_held_row_claimed_again_keeps_its_run_and_gets_its_write(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet([["found_ivan", "instagram", ""], ["found_jade", "instagram", ""]])
    services = build_pipeline(
        stack, tmp_path, [sheet_source(key, claim_lease=1)], pipeline={"approval_over": 1}
    )
    try:
        first = run_cycle(services, "leads")
        time.sleep(1.2)
        again = run_cycle(services, "leads")
        assert (again.records, again.reclaimed, again.held) == (2, 2, 0)
        assert [r["IC Status"].split(" ·")[0] for r in sheet_rows(stack, key)] == [
            "awaiting approval"
        ] * 2
        assert [r.run_id for r in services.store.fetch_held_runs()] == [first.run_id]
        assert services.store.approve_run(first.run_id or "")
        release_held(services)
    finally:
        services.close()
    assert [r["IC Status"] for r in sheet_rows(stack, key)] == ["enriched", "enriched"]
    assert stack.ic.stats()["credits_charged"] == 2.0


def test_a_held_run_records_the_savings_of_records_served_while_it_waits(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(["found_shared", "found_only_crm1", "found_only_crm2"])
    key = stack.seed_sheet([["found_shared", "instagram", ""]])
    services = build_pipeline(
        stack,
        tmp_path,
        [sheet_source(key), hubspot_source(list_id)],
        pipeline={"approval_over": 1.5},
    )
    try:
        held = run_cycle(services, "crm")
        run_cycle(services, "leads")
        release_held(services)
        run = services.store.get_run(held.run_id or "")
    finally:
        services.close()
    assert held.held == 3
    assert run is not None and run.status == "awaiting_approval"
    assert run.credits_saved == 1.0
    assert stack.ic.stats()["credits_charged"] == 1.0


def test_stalled_work_is_resumed_and_paid_to_the_run_it_came_with(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet([["found_stall", "instagram", ""]])
    services = build_pipeline(stack, tmp_path, [sheet_source(key)])
    try:
        # A worker claimed the row and stored its work, then died before paying for it.
        (record,) = services.get_source("leads").fetch_pending(claim=True)
        run_id = services.store.start_run("leads")
        services.store.add_work(
            [
                NewWork(
                    source="leads",
                    record_key=record.key,
                    identity=record.identity,
                    key=LedgerKey("instagram", "found_stall"),
                    handle_value="found_stall",
                    run_id=run_id,
                )
            ]
        )
    finally:
        services.close()
    later = build_services(services.settings, clock=lambda: datetime.now(UTC) + timedelta(hours=1))
    try:
        report = resume_stalled(later)
        run = later.store.get_run(run_id)
    finally:
        later.close()
    assert (report.records, report.credits_spent) == (1, 1.0)
    assert run is not None and run.credits_spent == 1.0
    assert stack.ic.stats()["credits_charged"] == 1.0
