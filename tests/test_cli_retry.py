"""Tests for ``connector retry``: what it selects, and that the pipeline honours it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pipeline_kit import finish_batches

from connector.cli.context import CliContext
from connector.cli.retry import retry_command
from connector.config import Settings
from connector.pipeline.batches import poll_batches
from connector.pipeline.cycle import run_cycle
from connector.pipeline.delivery import flush_outbox
from connector.pipeline.recovery import serve_ready
from connector.sandbox.stack import SandboxStack
from connector.services import build_services

BATCH_CREATE = "/public/v1/enrichment/batch/"


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(ic_config={"not_found_rate": 0.0}) as running:
        running.ic.configure(batch_rows_per_second=500, batch_queued_seconds=0.1)
        yield running


def settings_for(stack: SandboxStack, tmp_path: Path, source: dict[str, Any]) -> Settings:
    return stack.build_settings(
        data_dir=tmp_path,
        sources=[source],
        media={"backend": "none"},
        pipeline={"batch_threshold": 5},
    )


def cycle(settings: Settings, name: str) -> Any:
    services = build_services(settings)
    try:
        return run_cycle(services, name)
    finally:
        services.close()


def retry(settings: Settings, *args: str) -> Any:
    return CliRunner().invoke(retry_command, list(args), obj=CliContext(_settings=settings))


def sheet_statuses(stack: SandboxStack, key: str) -> list[str]:
    values = stack.sheets.get_values(key, "Sheet1")
    column = [str(h) for h in values[0]].index("IC Status")
    return [str(row[column]) if len(row) > column else "" for row in values[1:]]


def test_retry_rows_and_errors_of_a_sheet_after_an_ambiguous_upload(
    stack: SandboxStack, tmp_path: Path
) -> None:
    rows = [[f"found_cli{i}", "", ""] for i in range(6)] + [["", "", ""], ["found_cli6", "", ""]]
    key = stack.seed_sheet(rows)
    source = {"name": "leads", "type": "sheets", "spreadsheet": key, "platform": "instagram"}
    settings = settings_for(stack, tmp_path, source)
    stack.ic.inject_faults(502, html=True, path=BATCH_CREATE)
    cycle(settings, "leads")
    assert sheet_statuses(stack, key) == ["error"] * 6 + ["", "error"]

    named = retry(settings, "leads", "--rows", "2-3", "--rows", "8,40")
    assert named.exit_code == 0, named.output
    assert "retry  Sheet1!A2\nretry  Sheet1!A3\n" in named.stdout
    assert "skip   row 8: no handle" in named.stderr
    assert "skip   row 40: past the last row" in named.stderr
    assert sheet_statuses(stack, key)[:3] == ["retry", "retry", "error"]
    first = cycle(settings, "leads")
    assert (first.retried, first.credits_spent) == (2, 2.0)

    rest = retry(settings, "leads", "--errors")
    assert rest.exit_code == 0, rest.output
    assert rest.stdout.count("retry  Sheet1!") == 5
    second = cycle(settings, "leads")
    assert (second.retried, second.routes["batch"]) == (5, 5)
    finish = build_services(settings)
    try:
        finish_batches(finish)
    finally:
        finish.close()
    assert sheet_statuses(stack, key) == ["enriched"] * 6 + ["", "enriched"]
    stats = stack.ic.stats()
    assert stats["credits_charged"] == 7.0 and set(stats["charges"].values()) == {1}

    nothing = retry(settings, "leads", "--errors")
    assert nothing.exit_code == 0 and "no record set to retry" in nothing.stdout


def test_retry_skips_a_row_being_worked_on_and_needs_a_selection(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet(
        [["found_busy", "", "queued ·c:0123456789·9999999999"]],
        header=["Handle", "Platform", "IC Status"],
    )
    source = {"name": "leads", "type": "sheets", "spreadsheet": key, "platform": "instagram"}
    settings = settings_for(stack, tmp_path, source)
    busy = retry(settings, "leads", "--rows", "2")
    assert busy.exit_code == 1
    assert "skip   row 2: being worked on (queued)" in busy.stderr
    assert retry(settings, "leads").exit_code == 2
    bad = retry(settings, "leads", "--rows", "2-x")
    assert bad.exit_code == 1 and "'2-x' is not a row number or range" in bad.output
    unknown = retry(settings, "nope", "--errors")
    assert unknown.exit_code == 2 and "nope" in unknown.output


def test_retry_errors_of_a_hubspot_list(stack: SandboxStack, tmp_path: Path) -> None:
    list_id = stack.seed_hubspot_list([f"found_crm{i}" for i in range(6)])
    source = {"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"}
    settings = settings_for(stack, tmp_path, source)
    stack.ic.inject_faults(502, html=True, path=BATCH_CREATE)
    cycle(settings, "crm")
    ids = stack.contact_ids[list_id]
    assert {stack.hubspot.get_contact(i)["ic_status"] for i in ids} == {"error"}
    named = retry(settings, "crm", "--rows", f"{ids[0]},{ids[1]}", "--rows", ids[2])
    assert named.exit_code == 0, named.output
    assert named.stdout.count("retry  contact") == 3
    marked = retry(settings, "crm", "--errors", "--rows", "999")
    assert marked.exit_code == 0, marked.output
    assert "skip   contact 999: not in the list" in marked.stderr
    assert marked.stdout.count("retry  contact") == 3  # the other three already say retry
    assert {stack.hubspot.get_contact(i)["ic_status"] for i in ids} == {"retry"}
    again = cycle(settings, "crm")
    assert (again.retried, again.routes["batch"], again.routes["single"]) == (6, 6, 0)


def test_retry_of_contacts_found_by_email_after_an_ambiguous_upload(
    stack: SandboxStack, tmp_path: Path
) -> None:
    emails = [f"found_em{i}+instagram@example.com" for i in range(5)]
    list_id = stack.seed_hubspot_list([""] * 5, emails=emails)
    source = {
        "name": "crm",
        "type": "hubspot",
        "list": list_id,
        "platform": "instagram",
        "identify_by": "handle_then_email",
    }
    settings = settings_for(stack, tmp_path, source)
    # Five e-mails (the threshold) go to a basic batch; the five creators found then go to a
    # Full batch whose upload meets a gateway 502.
    services = build_services(settings)
    try:
        run_cycle(services, "crm")
        stack.ic.inject_faults(502, html=True, path=BATCH_CREATE)
        for _ in range(100):
            poll_batches(services)
            serve_ready(services)
            if not services.store.fetch_open_batches():
                break
            time.sleep(0.1)
        flush_outbox(services)
    finally:
        services.close()
    ids = stack.contact_ids[list_id]
    assert {stack.hubspot.get_contact(i)["ic_status"] for i in ids} == {"error"}
    marked = retry(settings, "crm", "--errors")
    assert marked.exit_code == 0, marked.output
    assert marked.stdout.count("retry  contact") == 5
    again = cycle(settings, "crm")
    assert again.retried == 5 and again.email_lookups == 0
    finish = build_services(settings)
    try:
        finish_batches(finish)
    finally:
        finish.close()
    contacts = [stack.hubspot.get_contact(i) for i in ids]
    assert {c["ic_status"] for c in contacts} == {"enriched"}
    assert [c["instagram_handle"] for c in contacts] == [f"found_em{i}" for i in range(5)]
    stats = stack.ic.stats()
    assert stats["credits_by_kind"] == {"email": 0.25, "full": 5.0}
