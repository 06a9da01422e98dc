"""Records identified by e-mail, end to end on the sandboxes: lookups paid once, creators once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pipeline_kit import build_pipeline

from connector.alerts.credits import build_credit_report
from connector.cli.credits import build_credits_report, format_credits
from connector.pipeline.batches import poll_batches
from connector.pipeline.cycle import run_cycle
from connector.pipeline.delivery import flush_outbox
from connector.pipeline.holds import INTERRUPTED_LOOKUP
from connector.pipeline.recovery import resume_stalled, serve_ready
from connector.sandbox.ic_emails import find_creator
from connector.sandbox.stack import SandboxStack
from connector.services import Services
from connector.sources.hubspot.source import HubSpotSource
from connector.store.models import NewWork, get_email_key


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=1000.0, ic_config={"not_found_rate": 0.0}) as running:
        yield running


def crm(list_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "crm",
        "type": "hubspot",
        "list": list_id,
        "platform": "instagram",
        "identify_by": "handle_then_email",
        **extra,
    }


def leads(key: str) -> dict[str, Any]:
    return {"name": "leads", "type": "sheets", "spreadsheet": key, "platform_column": "Platform"}


def email_calls(stack: SandboxStack) -> int:
    return stack.ic.stats()["requests_by_endpoint"].get("enrich_email", 0)


def finish(services: Services) -> None:
    for _ in range(150):
        poll_batches(services)
        serve_ready(services)
        flush_outbox(services)
        if not services.store.fetch_open_batches():
            break
        time.sleep(0.1)
    serve_ready(services)
    flush_outbox(services)


def test_contacts_with_only_an_email_are_enriched_and_get_their_handle(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(
        ["", "", "", "found_kim"],
        emails=[
            "found_eve+instagram@example.com",
            "notfound_ned@example.com",
            "Info@Brand.example",
            "kim@example.com",
        ],
    )
    ids = stack.contact_ids[list_id]
    services = build_pipeline(stack, tmp_path, [crm(list_id)])
    try:
        report = run_cycle(services, "crm")
        contacts = [stack.hubspot.get_contact(i) for i in ids]
        assert [c["ic_status"] for c in contacts] == [
            "enriched",
            "no creator for this e-mail",
            "invalid e-mail",
            "enriched",
        ]
        assert "role-based address (info@)" in contacts[2]["ic_error"]
        # The handle found is written back into the empty property; a typed one is kept.
        assert contacts[0]["instagram_handle"] == "found_eve"
        assert contacts[3]["instagram_handle"] == "found_kim"
        # Two lookups (the role-based address is never sent), one paid; two creators.
        assert email_calls(stack) == 2
        stats = stack.ic.stats()
        assert stats["email_charges"] == {"found_eve+instagram@example.com": 1}
        assert stats["credits_by_kind"] == {"email": 0.05, "full": 2.0}
        assert report.credits_spent == pytest.approx(stats["credits_charged"])
        assert (report.email_lookups, report.email_matched, report.email_not_found) == (2, 1, 1)
        assert report.routes["email"] == 2
        # The next poll neither re-reads these contacts as changed nor looks anything up.
        again = run_cycle(services, "crm")
        assert again.records == 0 and email_calls(stack) == 2
        assert services.store.sum_credits_spent() == pytest.approx(2.05)
    finally:
        services.close()


@pytest.mark.parametrize("email_first", [True, False])
def test_a_creator_reached_by_handle_and_by_email_is_billed_once(
    stack: SandboxStack, tmp_path: Path, email_first: bool
) -> None:
    sheet = stack.seed_sheet([["found_zed", "instagram", ""]])
    list_id = stack.seed_hubspot_list([""], emails=["found_zed+instagram@example.com"])
    services = build_pipeline(stack, tmp_path, [leads(sheet), crm(list_id)])
    try:
        for name in ("crm", "leads") if email_first else ("leads", "crm"):
            run_cycle(services, name)
        flush_outbox(services)
    finally:
        services.close()
    stats = stack.ic.stats()
    assert stats["charges"] == {"instagram:found_zed": 1}
    assert stats["email_charges"] == {"found_zed+instagram@example.com": 1}
    assert stats["credits_charged"] == pytest.approx(1.05)
    assert stack.hubspot.get_contact(stack.contact_ids[list_id][0])["ic_status"] == "enriched"


def test_a_handle_and_an_email_of_one_creator_in_one_cycle_pay_once(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(
        ["found_amy", ""], emails=["amy@example.com", "found_amy+instagram@example.com"]
    )
    services = build_pipeline(stack, tmp_path, [crm(list_id)])
    try:
        report = run_cycle(services, "crm")
    finally:
        services.close()
    assert stack.ic.stats()["charges"] == {"instagram:found_amy": 1}
    assert report.credits_spent == pytest.approx(1.05)
    ids = stack.contact_ids[list_id]
    assert [stack.hubspot.get_contact(i)["ic_status"] for i in ids] == ["enriched", "enriched"]


def test_each_email_is_looked_up_once_per_window_hits_and_misses_alike(
    stack: SandboxStack, tmp_path: Path
) -> None:
    emails = ["found_ola+instagram@example.com", "ghost_pat@example.com"]
    first = stack.seed_hubspot_list(["", ""], emails=emails, name="first")
    second = stack.seed_hubspot_list(["", ""], emails=[e.upper() for e in emails], name="second")
    services = build_pipeline(stack, tmp_path, [crm(first), crm(second, name="crm2")])
    try:
        run_cycle(services, "crm")
        report = run_cycle(services, "crm2")
    finally:
        services.close()
    assert email_calls(stack) == 2
    assert report.email_lookups == 0 and report.cached == 1
    statuses = [stack.hubspot.get_contact(i)["ic_status"] for i in stack.contact_ids[second]]
    assert statuses == ["enriched", "no creator for this e-mail"]


def test_many_emails_go_through_one_basic_batch_then_on_to_their_creators(
    stack: SandboxStack, tmp_path: Path
) -> None:
    emails = [f"found_b{i}+instagram@example.com" for i in range(4)] + ["ghost_b@example.com"]
    list_id = stack.seed_hubspot_list([""] * 5, emails=emails)
    services = build_pipeline(
        stack, tmp_path, [crm(list_id)], pipeline={"batch_threshold": 3, "batch_poll_seconds": 0.2}
    )
    try:
        report = run_cycle(services, "crm")
        assert report.routes["email"] == 5 and email_calls(stack) == 0
        finish(services)
        runs = services.store.fetch_runs(10)
        spent = sum(r.credits_spent for r in runs)
    finally:
        services.close()
    statuses = [stack.hubspot.get_contact(i)["ic_status"] for i in stack.contact_ids[list_id]]
    assert statuses == ["enriched"] * 4 + ["no creator for this e-mail"]
    stats = stack.ic.stats()
    # One basic batch of 5 e-mails (4 hits), then one Full batch of the 4 creators found.
    assert stats["credits_by_kind"] == {"email": 0.2, "full": 4.0}
    assert stats["batches"] == 2
    assert spent == pytest.approx(stats["credits_charged"])


def test_the_quote_prices_lookups_and_their_follow_up_separately(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(
        ["", "found_one"], emails=["found_two+tiktok@example.com", "one@example.com"]
    )
    services = build_pipeline(stack, tmp_path, [crm(list_id)], pipeline={"approval_over": 1.5})
    try:
        plan = run_cycle(services, "crm", dry_run=True)
        report = run_cycle(services, "crm")
        credits = build_credit_report(services)
    finally:
        services.close()
    assert (credits.held_creators, credits.held_emails) == (1, 1)
    assert (credits.held_lookup_cost, credits.held_followup_cost) == (0.05, 1.0)
    assert credits.held_cost == pytest.approx(2.05)
    printed = format_credits(build_credits_report(credits))
    assert "1 creators held; 1 e-mails: 0.05 to look up + up to 1.00 to enrich" in printed
    assert (plan.quote, plan.quote_lookups, plan.quote_followup) == (2.05, 0.05, 1.0)
    assert [r["kind"] for r in plan.plan] == ["lookup", "enrich", "quote"]
    assert "upper bound" in plan.plan[-1]["detail"]
    assert report.held == 2 and report.quote == pytest.approx(2.05)
    run = services.store.fetch_held_runs()[0]
    assert "0.05 for 1 e-mail lookup(s), up to 1 to enrich the creators they find" in str(
        run.hold_reason
    )
    assert stack.ic.stats()["credits_charged"] == 0


def test_an_interrupted_lookup_is_never_sent_again(stack: SandboxStack, tmp_path: Path) -> None:
    list_id = stack.seed_hubspot_list([""], emails=["found_ida+instagram@example.com"])
    services = build_pipeline(stack, tmp_path, [crm(list_id)], pipeline={"reservation_lease": 0.5})
    store = services.store
    try:
        source = services.get_source("crm")
        assert isinstance(source, HubSpotSource)
        source.bootstrap_properties()
        key = get_email_key("found_ida+instagram@example.com")
        [item] = store.add_work(
            [
                NewWork(
                    "crm",
                    stack.contact_ids[list_id][0],
                    stack.contact_ids[list_id][0],
                    key,
                    key.handle_key,
                    email=key.handle_key,
                    fill_handle=True,
                )
            ]
        )
        # A worker reserved the e-mail and its paid request left, then the worker died.
        assert store.reserve([key], owner="dead", lease=timedelta(seconds=0.2)) == {key}
        store.mark_calls_started([key], "dead")
        time.sleep(0.6)
        resume_stalled(services)
        flush_outbox(services)
        [failed] = store.fetch_work_by_ids([item.id])
        assert failed.state == "failed" and failed.error == INTERRUPTED_LOOKUP
        assert email_calls(stack) == 0
        contact_id = stack.contact_ids[list_id][0]
        contact = stack.hubspot.get_contact(contact_id)
        assert contact["ic_status"] == "error" and "lookup was in flight" in contact["ic_error"]
        # The e-mail stays held until a human types retry, which releases it: one lookup.
        assert store.reserve([key], owner="other", lease=timedelta(minutes=1)) == set()
        stack.hubspot.set_property(contact_id, "ic_status", "retry")
        store.add_record_hints("crm", [contact_id])  # what HubSpot's webhook tells the app
        report = run_cycle(services, "crm")
    finally:
        services.close()
    assert report.retried == 1 and email_calls(stack) == 1
    assert stack.hubspot.get_contact(contact_id)["ic_status"] == "enriched"


def test_an_email_reserved_by_another_worker_waits(stack: SandboxStack, tmp_path: Path) -> None:
    list_id = stack.seed_hubspot_list([""], emails=["found_joe+instagram@example.com"])
    services = build_pipeline(stack, tmp_path, [crm(list_id)])
    try:
        key = get_email_key("found_joe+instagram@example.com")
        services.store.reserve([key], owner="other-worker", lease=timedelta(minutes=10))
        report = run_cycle(services, "crm")
    finally:
        services.close()
    assert report.waiting == 1 and email_calls(stack) == 0


def test_the_sandbox_names_the_creator_an_email_belongs_to() -> None:
    assert find_creator("found_ann+tiktok@example.com") == ("tiktok", "found_ann")
    assert find_creator("ghost@example.com") is None
    platform, username = find_creator("Found.Lee@Example.com") or ("", "")
    assert username == "found.lee" and platform in ("instagram", "tiktok", "youtube")


def test_sheet_rows_with_only_an_email_get_handle_and_platform_filled(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet(
        [
            ["", "", "found_sue+youtube@example.com"],
            ["", "instagram", "found_tom+tiktok@example.com"],
            ["", "", "ghost_uma@example.com"],
            ["", "", "office@brand.example"],
        ],
        header=["Handle", "Platform", "Email"],
    )
    source = {
        **leads(key),
        "email_column": "Email",
        "identify_by": "handle_then_email",
    }
    services = build_pipeline(stack, tmp_path, [source])
    try:
        run_cycle(services, "leads")
        again = run_cycle(services, "leads")
    finally:
        services.close()
    values = stack.sheets.get_values(key, "Sheet1")
    header = [str(h) for h in values[0]]
    rows = [dict(zip(header, [*r, *[""] * len(header)], strict=False)) for r in values[1:]]
    assert [r["IC Status"] for r in rows] == [
        "enriched",
        "enriched",
        "no creator for this e-mail",
        "invalid e-mail: role-based address (office@): it names a function, not a creator",
    ]
    assert (rows[0]["Handle"], rows[0]["Platform"]) == ("found_sue", "youtube")
    # A platform typed by a human names another network: nothing is written over it.
    assert (rows[1]["Handle"], rows[1]["Platform"]) == ("", "instagram")
    assert again.records == 0
    assert email_calls(stack) == 3
    assert stack.ic.stats()["credits_by_kind"] == {"email": 0.1, "full": 2.0}


def test_an_older_status_dropdown_gets_the_nearest_older_status(
    stack: SandboxStack, tmp_path: Path
) -> None:
    old = ["queued", "enriching", "enriched", "not found", "invalid handle", "error", "retry"]
    stack.hubspot.create_property(
        "ic_status",
        type="enumeration",
        field_type="select",
        options=[{"label": s.title(), "value": s} for s in old],
    )
    list_id = stack.seed_hubspot_list(["", ""], emails=["ghost_ola@example.com", "info@x.io"])
    services = build_pipeline(stack, tmp_path, [crm(list_id)])
    try:
        run_cycle(services, "crm")
    finally:
        services.close()
    contacts = [stack.hubspot.get_contact(i) for i in stack.contact_ids[list_id]]
    assert [c["ic_status"] for c in contacts] == ["not found", "invalid handle"]
    assert contacts[0]["ic_error"] == "no creator for this e-mail"
    assert contacts[1]["ic_error"].startswith("invalid e-mail: role-based address")
