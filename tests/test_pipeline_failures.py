"""The pipeline when things break after money moved: unsaved answers, lost uploads, fatal errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pipeline_kit import finish_batches

from connector.enrich.client import build_enrichment_client
from connector.errors import AuthError, ConnectorError, OutOfCreditsError, TransientError
from connector.pipeline.batches import poll_batches
from connector.pipeline.cycle import release_held, run_cycle
from connector.pipeline.delivery import flush_outbox
from connector.pipeline.holds import HELD, INTERRUPTED
from connector.pipeline.recovery import resume_stalled
from connector.sandbox.stack import SandboxStack
from connector.services import Services
from connector.store import LedgerKey, Store

HANDLES = [f"found_lost{i}" for i in range(60)]


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=1000.0, ic_config={"not_found_rate": 0.0}) as running:
        running.ic.configure(batch_rows_per_second=500, batch_queued_seconds=0.1)
        yield running


class UnsavableStore(Store):
    """A store whose ledger writes fail ``failures`` times in a row, as a database hiccup."""

    failures = 0

    def save_results(self, *args: Any, **kwargs: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise TransientError("database unavailable: OperationalError")
        super().save_results(*args, **kwargs)


class FlakyClient:
    """The real influencers.club client, with one call made to fail the first time."""

    def __init__(self, client: Any, method: str, fail: Callable[..., Any]) -> None:
        self._client, self._method, self._fail = client, method, fail

    def __getattr__(self, name: str) -> Any:
        if name == self._method and self._fail is not None:
            fail, self._fail = self._fail, None
            return lambda *args, **kwargs: fail(self._client, *args, **kwargs)
        return getattr(self._client, name)


def build(
    stack: SandboxStack,
    tmp_path: Path,
    sources: list[dict[str, Any]],
    *,
    store_class: type[Store] = Store,
    wrap: Callable[[Any], Any] = lambda client: client,
    **overrides: Any,
) -> Services:
    settings = stack.build_settings(
        data_dir=tmp_path, sources=sources, media={"backend": "none"}, **overrides
    )
    return Services(
        settings=settings,
        store=store_class.from_settings(settings),
        _enrichment=wrap(build_enrichment_client(settings)),
    )


def crm(list_id: str) -> list[dict[str, Any]]:
    return [{"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"}]


def statuses(stack: SandboxStack, list_id: str) -> list[tuple[str, str]]:
    contacts = [stack.hubspot.get_contact(i) for i in stack.contact_ids[list_id]]
    return [(str(c.get("ic_status")), str(c.get("ic_error") or "")) for c in contacts]


def test_a_ledger_hiccup_after_payment_is_retried_not_paid_again(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(["found_ivy"])
    services = build(stack, tmp_path, crm(list_id), store_class=UnsavableStore)
    assert isinstance(services.store, UnsavableStore)
    services.store.failures = 2
    try:
        report = run_cycle(services, "crm")
        run_cycle(services, "crm")
    finally:
        services.close()
    assert (report.enriched, report.credits_spent, report.error) == (1, 1.0, None)
    assert stack.ic.stats()["credits_charged"] == 1.0
    assert statuses(stack, list_id)[0][0] == "enriched"


def test_a_paid_answer_that_cannot_be_saved_stops_the_cycle_and_is_never_paid_again(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(["found_jack"])
    services = build(
        stack,
        tmp_path,
        crm(list_id),
        store_class=UnsavableStore,
        pipeline={"reservation_lease": 2, "batch_poll_seconds": 1},
    )
    assert isinstance(services.store, UnsavableStore)
    services.store.failures = 1000
    try:
        report = run_cycle(services, "crm")
        again = run_cycle(services, "crm")
        run = services.store.get_run(report.run_id or "")
        key = LedgerKey("instagram", "found_jack")
        held = services.store.get_reservations([key])
        time.sleep(2.5)
        taken = services.store.reserve([key], owner="another worker", lease=timedelta(seconds=2))
    finally:
        services.close()
    assert report.credits_spent == 1.0
    assert report.error is not None and "paid for but could not be saved" in report.error
    assert run is not None and run.status == "failed"
    assert again.records == 0
    assert len(held) == 1 and taken == set()
    assert stack.ic.stats()["credits_charged"] == 1.0
    status, error = statuses(stack, list_id)[0]
    assert status == "error" and "could not be saved" in error


def lose_upload_response(client: Any, *args: Any, **kwargs: Any) -> Any:
    client.create_batch(*args, **kwargs)
    raise TransientError("influencers.club did not answer in time") from httpx.ReadTimeout("read")


def refuse_connection(client: Any, *args: Any, **kwargs: Any) -> Any:
    raise TransientError("connection refused") from httpx.ConnectError("refused")


def test_an_upload_that_may_have_been_billed_is_never_uploaded_again(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(HANDLES)
    services = build(
        stack,
        tmp_path,
        crm(list_id),
        wrap=lambda client: FlakyClient(client, "create_batch", lose_upload_response),
    )
    try:
        run_cycle(services, "crm")
        time.sleep(0.5)
        later = run_cycle(services, "crm")
        batches = services.store.fetch_batches()
        reserved = services.store.get_reservations([LedgerKey("instagram", h) for h in HANDLES])
    finally:
        services.close()
    assert later.records == 0
    assert stack.ic.stats()["requests_by_endpoint"].get("batch_create") == 1
    assert [(b.status, b.collected_at is not None) for b in batches] == [("failed", True)]
    assert set(reserved.values()) == {f"batch:{batches[0].ref}"}
    for status, error in statuses(stack, list_id):
        assert status == "error"
        assert "may have been created and billed" in error


def test_an_upload_that_never_left_is_retried_at_the_next_poll(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(HANDLES)
    services = build(
        stack,
        tmp_path,
        crm(list_id),
        wrap=lambda client: FlakyClient(client, "create_batch", refuse_connection),
    )
    try:
        first = run_cycle(services, "crm")
        failed = services.store.fetch_batches()
        assert {s for s, _ in statuses(stack, list_id)} == {"retry"}
        run_cycle(services, "crm")
        finish_batches(services)
    finally:
        services.close()
    assert first.routes["batch"] == 60
    assert [b.status for b in failed] == ["failed"]
    assert {s for s, _ in statuses(stack, list_id)} == {"enriched"}
    assert stack.ic.stats()["credits_charged"] == 60.0


@pytest.mark.parametrize(
    ("error", "run_status", "record_status"),
    [
        (OutOfCreditsError("insufficient credits"), "held", "awaiting credits"),
        (AuthError("the API key was rejected"), "failed", "error"),
    ],
)
def test_a_fatal_batch_create_error_settles_the_run_and_its_records(
    stack: SandboxStack,
    tmp_path: Path,
    error: ConnectorError,
    run_status: str,
    record_status: str,
) -> None:
    def fail(client: Any, *args: Any, **kwargs: Any) -> Any:
        raise error

    list_id = stack.seed_hubspot_list(HANDLES)
    services = build(
        stack, tmp_path, crm(list_id), wrap=lambda client: FlakyClient(client, "create_batch", fail)
    )
    events: list[str] = []
    services.event_hooks.append(lambda kind, data: events.append(kind))
    try:
        report = run_cycle(services, "crm")
        run = services.store.get_run(report.run_id or "")
        reserved = services.store.get_reservations([LedgerKey("instagram", h) for h in HANDLES])
        assert {s for s, _ in statuses(stack, list_id)} == {record_status}
        if isinstance(error, OutOfCreditsError):
            release_held(services)
            finish_batches(services)
            assert {s for s, _ in statuses(stack, list_id)} == {"enriched"}
    finally:
        services.close()
    assert run is not None and run.status == run_status
    assert report.error == str(error)
    assert reserved == {}
    assert "fatal_error" in events
    assert services.store.count_outbox() == 0


def test_a_failed_resume_leaves_the_batch_paused_for_the_next_poll(
    stack: SandboxStack, tmp_path: Path
) -> None:
    def fail(client: Any, batch_id: str) -> None:
        raise TransientError("influencers.club answered 503")

    stack.ic.configure(batch_rows_per_second=100)
    list_id = stack.seed_hubspot_list(HANDLES)
    services = build(
        stack,
        tmp_path,
        crm(list_id),
        wrap=lambda client: FlakyClient(client, "resume_batch", fail),
        pipeline={"batch_poll_seconds": 0.2},
    )
    try:
        run_cycle(services, "crm")
        stack.ic.set_balance(5.0)
        for _ in range(100):
            poll_batches(services)
            if services.store.fetch_open_batches()[0].status == "paused_insufficient_credits":
                break
            time.sleep(0.2)
        stack.ic.set_balance(1000.0)
        time.sleep(0.3)
        poll_batches(services)
        assert services.store.fetch_open_batches()[0].status == "paused_insufficient_credits"
        time.sleep(0.3)
        finish_batches(services)
    finally:
        services.close()
    assert {s for s, _ in statuses(stack, list_id)} == {"enriched"}
    assert stack.ic.stats()["credits_charged"] == 60.0


BATCH_CREATE = "/public/v1/enrichment/batch/"


def leads(key: str) -> list[dict[str, Any]]:
    return [{"name": "leads", "type": "sheets", "spreadsheet": key, "platform": "instagram"}]


def sheet_statuses(stack: SandboxStack, key: str) -> list[tuple[str, str]]:
    values = stack.sheets.get_values(key, "Sheet1")
    header = [str(h) for h in values[0]]
    rows = [dict(zip(header, r + [""] * len(header), strict=False)) for r in values[1:]]
    return [(str(r["IC Status"]), str(r["IC Error"])) for r in rows]


def test_a_gateway_502_on_the_upload_is_named_and_a_typed_retry_enriches_again(
    stack: SandboxStack, tmp_path: Path
) -> None:
    handles = [f"found_gate{i}" for i in range(6)]
    key = stack.seed_sheet([[h, "", ""] for h in handles])
    stack.ic.inject_faults(502, html=True, path=BATCH_CREATE)
    services = build(stack, tmp_path, leads(key), pipeline={"batch_threshold": 5})
    try:
        first = run_cycle(services, "leads")
        assert first.routes["batch"] == 6
        message = (
            "the batch upload failed (gateway 502) and may have been created and billed; check "
            "the influencers.club dashboard, then type retry to enrich again"
        )
        assert sheet_statuses(stack, key) == [("error", message)] * 6
        # Another row of a held creator asks for the same decision; it is not a retry.
        stack.sheets.append_rows(key, "Sheet1", [["@found_gate0", "", ""]])
        waiting = run_cycle(services, "leads")
        assert (waiting.records, waiting.errors, waiting.credits_spent) == (1, 1, 0.0)
        # A human checked the dashboard (no batch there) and typed retry into two rows.
        stack.sheets.set_cells(key, "Sheet1", {"D2": "retry", "D3": "retry"})
        again = run_cycle(services, "leads")
        finish_batches(services)
    finally:
        services.close()
    assert (again.records, again.retried, again.routes["single"]) == (2, 2, 2)
    assert again.credits_spent == 2.0
    rows = sheet_statuses(stack, key)
    assert [s for s, _ in rows] == ["enriched", "enriched"] + ["error"] * 5
    assert rows[-1] == ("error", HELD)
    stats = stack.ic.stats()
    assert stats["requests_by_endpoint"].get("batch_create") == 1
    assert stats["credits_charged"] == 2.0
    assert sorted(stats["charges"]) == ["instagram:found_gate0", "instagram:found_gate1"]


@pytest.mark.parametrize(
    ("failure", "named"),
    [
        (httpx.ReadTimeout("read"), "timeout"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            "connection reset",
        ),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), "connection reset"),
    ],
)
def test_an_ambiguous_upload_names_a_timeout_or_a_reset(
    stack: SandboxStack, tmp_path: Path, failure: Exception, named: str
) -> None:
    def lose(client: Any, *args: Any, **kwargs: Any) -> Any:
        raise TransientError("influencers.club did not answer") from failure

    key = stack.seed_sheet([[f"found_lost{i}", "", ""] for i in range(6)])
    services = build(
        stack,
        tmp_path,
        leads(key),
        pipeline={"batch_threshold": 5},
        wrap=lambda client: FlakyClient(client, "create_batch", lose),
    )
    try:
        run_cycle(services, "leads")
    finally:
        services.close()
    for status, error in sheet_statuses(stack, key):
        assert status == "error"
        assert error.startswith(f"the batch upload failed ({named}) and may have been created")


class Killed(BaseException):
    """The worker process dying: nothing after it runs, no handler catches it."""


def test_a_creator_whose_paid_call_a_crash_interrupted_is_held_until_a_human_retries(
    stack: SandboxStack, tmp_path: Path
) -> None:
    def paid_then_killed(client: Any, *args: Any, **kwargs: Any) -> Any:
        client.enrich_full(*args, **kwargs)  # the API answers and bills...
        raise Killed  # ...and the worker dies before the answer reaches the ledger

    key = stack.seed_sheet([["found_quinn", "", ""]])
    services = build(
        stack,
        tmp_path,
        leads(key),
        pipeline={"reservation_lease": "1s"},
        wrap=lambda client: FlakyClient(client, "enrich_full", paid_then_killed),
    )
    try:
        with pytest.raises(Killed):
            run_cycle(services, "leads")
        time.sleep(1.2)  # the dead worker's lease lapses
        resume_stalled(services)
        flush_outbox(services)
        assert sheet_statuses(stack, key) == [("error", INTERRUPTED)]
        # A new record of the same creator must not pay for it behind the human's back: it
        # asks for the same decision instead of waiting a day.
        stack.sheets.append_rows(key, "Sheet1", [["@found_quinn", "", ""]])
        held = run_cycle(services, "leads")
        flush_outbox(services)
        assert (held.records, held.errors, held.waiting, held.credits_spent) == (1, 1, 0, 0.0)
        assert sheet_statuses(stack, key) == [("error", INTERRUPTED), ("error", HELD)]
        assert stack.ic.stats()["credits_charged"] == 1.0
        # The human checked the influencers.club dashboard and typed retry into the new row.
        stack.sheets.set_cells(key, "Sheet1", {"D3": "retry"})
        again = run_cycle(services, "leads")
        flush_outbox(services)
        # The first row, retried later, is served from that answer.
        stack.sheets.set_cells(key, "Sheet1", {"D2": "retry"})
        served = run_cycle(services, "leads")
        flush_outbox(services)
    finally:
        services.close()
    assert (again.retried, again.credits_spent) == (1, 1.0)
    assert (served.cached, served.credits_spent) == (1, 0.0)
    assert [s for s, _ in sheet_statuses(stack, key)] == ["enriched", "enriched"]
    assert stack.ic.stats()["charges"] == {"instagram:found_quinn": 2}


def test_an_intent_whose_upload_a_crash_interrupted_is_closed_and_its_records_held(
    stack: SandboxStack, tmp_path: Path
) -> None:
    def killed_uploading(client: Any, *args: Any, **kwargs: Any) -> Any:
        raise Killed  # the CSV may have left: the worker dies before the batch id is stored

    list_id = stack.seed_hubspot_list(HANDLES[:6])
    services = build(
        stack,
        tmp_path,
        crm(list_id),
        pipeline={"reservation_lease": "1s", "batch_threshold": 5},
        wrap=lambda client: FlakyClient(client, "create_batch", killed_uploading),
    )
    try:
        with pytest.raises(Killed):
            run_cycle(services, "crm")
        assert [b.status for b in services.store.fetch_open_batches()] == ["intent"]
        time.sleep(1.2)  # the dead worker's lease lapses
        resume_stalled(services)
        flush_outbox(services)
        assert services.store.fetch_open_batches() == []
        # Nothing is uploaded again on its own: the records wait for a human retry.
        assert {s for s, _ in statuses(stack, list_id)} == {"error"}
        assert stack.ic.stats()["credits_charged"] == 0.0
    finally:
        services.close()
