"""What the dashboard's buttons and the JSON API's actions do, shared by both.

Retry does what a human typing ``retry`` into a record's status does (``Source.write_retry``,
as ``connector retry``), then nudges the worker. Re-enrich pays again on purpose: it is quoted
first and confirmed against the ledger answer the human saw, so it pays once however often the
confirmation is sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connector.config import HubSpotSourceSettings, SourceSettings
from connector.enrich.models import get_price
from connector.errors import ConfigError, ConnectorError, InvalidHandleError
from connector.handles import parse_handle
from connector.pipeline.cycle import run_cycle
from connector.pipeline.report import CycleReport
from connector.services import Services
from connector.store import LedgerEntry, LedgerKey, RecordEvent
from connector.web.links import get_contact_id, get_row_number


class ActionError(Exception):
    """An action refused, with the HTTP status and the sentence to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class RetryOutcome:
    """The records set to ``retry`` (by location) and those left alone, with why."""

    marked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReenrichQuote:
    """What re-enriching one record costs, and the answer it replaces."""

    event: RecordEvent
    key: LedgerKey
    entry: LedgerEntry | None
    price: float
    balance: float | None

    @property
    def confirm(self) -> str:
        """The token a confirmation must send back: the time of the answer that was quoted."""
        return self.entry.fetched_at.isoformat() if self.entry is not None else ""

    @property
    def pending(self) -> bool:
        """A re-enrich of this creator was requested and has not been paid for yet."""
        return self.entry is not None and self.entry.refresh_requested_at is not None


def get_source_settings(services: Services, name: str, *, enabled: bool = True) -> SourceSettings:
    """The configured source ``name`` (404 unknown, 409 disabled when ``enabled``)."""
    try:
        config = services.settings.get_source(name)
    except ConfigError as exc:
        raise ActionError(404, f"unknown source {name!r}") from exc
    if enabled and not config.enabled:
        raise ActionError(409, f"source {name!r} is disabled")
    return config


def sync_source(services: Services, name: str) -> str:
    """Ask the worker to poll ``name`` now."""
    get_source_settings(services, name)
    if services.store.is_source_paused(name):
        raise ActionError(409, f"source {name!r} is paused: resume it first")
    services.store.request_poll(name)
    return f"Sync of {name} requested; the worker polls it within seconds."


def pause_source(services: Services, name: str) -> str:
    """Stop polling ``name`` (batches already sent are still collected and written back)."""
    get_source_settings(services, name)
    services.store.pause_source(name)
    return f"{name} is paused: the worker does not poll it until you resume it."


def resume_source(services: Services, name: str) -> str:
    """Poll ``name`` again, starting now."""
    get_source_settings(services, name)
    services.store.resume_source(name)
    return f"{name} resumed; the worker polls it within seconds."


def approve_run(services: Services, run_id: str) -> str:
    """Release a run held for approval."""
    store = services.store
    if store.approve_run(run_id):
        return f"Run {run_id[:8]} approved; the worker resumes it shortly."
    run = store.get_run(run_id)
    if run is None:
        raise ActionError(404, f"no run {run_id!r}")
    raise ActionError(404, f"run {run_id!r} is {run.status}, not awaiting approval")


def parse_event_id(value: str) -> int:
    """A record id from a URL (404 when it cannot be one)."""
    if not value.isdigit():
        raise ActionError(404, f"no record {value!r}")
    return int(value)


def parse_event_ids(values: Sequence[str]) -> list[int]:
    """Record ids from form fields or JSON (``"12"``, ``"12,13"``); 400 on anything else."""
    ids: list[int] = []
    for value in values:
        for token in str(value).replace(",", " ").split():
            if not token.isdigit():
                raise ActionError(400, f"record ids are numbers, not {token!r}")
            ids.append(int(token))
    if not ids:
        raise ActionError(400, "name at least one record to retry")
    return list(dict.fromkeys(ids))


def retry_records(services: Services, event_ids: Sequence[int]) -> RetryOutcome:
    """Write ``retry`` into the records' status and nudge the worker to poll their sources."""
    events = services.store.fetch_record_events(event_ids)
    outcome = RetryOutcome(skipped=[f"no record {i}" for i in set(event_ids) - _ids(events)])
    by_source: dict[str, list[RecordEvent]] = defaultdict(list)
    for event in events:
        by_source[event.source].append(event)
    for source, group in by_source.items():
        marked, skipped = _write_retry(services, source, group)
        outcome.marked += marked
        outcome.skipped += skipped
    return outcome


def _ids(events: Sequence[RecordEvent]) -> set[int]:
    return {e.id for e in events if e.id is not None}


def _write_retry(
    services: Services, source: str, events: Sequence[RecordEvent]
) -> tuple[list[str], list[str]]:
    try:
        config = get_source_settings(services, source)
    except ActionError as exc:
        return [], [f"{e.location or e.handle}: {exc.message}" for e in events]
    rows: list[str] = []
    skipped: list[str] = []
    for event in events:
        row = _record_ref(config, event.location)
        if row is None:
            skipped.append(f"{event.location or event.handle}: no row or contact to retry")
        else:
            rows.append(row)
    if not rows:
        return [], skipped
    try:
        result = services.get_source(source).write_retry(rows=list(dict.fromkeys(rows)))
    except ConnectorError as exc:
        return [], [*skipped, f"{source}: {str(exc).splitlines()[0]}"]
    if result.marked:
        services.store.request_poll(source)
    return list(result.marked), [*skipped, *result.skipped]


def _record_ref(config: SourceSettings, location: str) -> str | None:
    if isinstance(config, HubSpotSourceSettings):
        return get_contact_id(location)
    row = get_row_number(location)
    return str(row) if row is not None else None


def quote_reenrich(services: Services, event_id: int) -> ReenrichQuote:
    """The price of enriching the record of event ``event_id`` again, and what it replaces."""
    store = services.store
    event = store.get_record_event(event_id)
    if event is None:
        raise ActionError(404, f"no record {event_id}")
    get_source_settings(services, event.source)
    if not event.handle or not event.platform:
        raise ActionError(409, "this record has no creator to enrich (fix its handle, then retry)")
    try:
        handle = parse_handle(event.handle, event.platform)
    except InvalidHandleError as exc:
        raise ActionError(409, f"this record's handle is not valid: {exc}") from exc
    mode = services.get_mode(event.source, handle.platform)
    key = LedgerKey(handle.platform, handle.handle_key, mode)
    # A Raw or Profile record may have been served by the creator's Full answer: that is the
    # one to replace, though the new answer is bought in the record's own tier.
    full = LedgerKey(handle.platform, handle.handle_key, "full")
    entries = store.get_ledger_entries([key, full])
    entry = entries.get(key) or entries.get(full)
    latest = store.get_latest_credit_snapshot()
    return ReenrichQuote(
        event=event,
        key=entry.key if entry is not None else key,
        entry=entry,
        price=get_price(mode),
        balance=latest.available if latest is not None else None,
    )


def request_reenrich(services: Services, event_id: int, confirm: str) -> str:
    """Pay again for the record's creator now: stale its answer, then retry the record.

    ``confirm`` must be the quote's token; a repeated or outdated confirmation pays nothing.
    """
    quote = quote_reenrich(services, event_id)
    entry = quote.entry
    if entry is None:
        raise ActionError(409, "no stored answer for this creator yet: use Retry instead")
    if confirm != quote.confirm:
        raise ActionError(
            409, "this creator was enriched again since the price was shown: nothing was paid"
        )
    store = services.store
    if not store.request_refresh(quote.key, _parse_time(confirm)):
        raise ActionError(409, "a re-enrich of this creator is already on its way: nothing more")
    marked, skipped = _write_retry(services, quote.event.source, [quote.event])
    if not marked:
        # Nothing will pick the record up, so nothing should pay for it either.
        store.cancel_refresh(quote.key)
        raise ActionError(409, "; ".join(skipped) or "the record could not be queued again")
    return (
        f"Re-enrich of {quote.event.handle} requested ({quote.price:g} credit); the worker "
        "enriches it at its next poll."
    )


def _parse_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ActionError(400, "the confirmation token is not valid") from exc


def dry_run(services: Services, name: str) -> CycleReport:
    """The plan and quote of one source, as ``connector run --once --dry-run`` prints them."""
    get_source_settings(services, name)
    return run_cycle(services, name, dry_run=True)
