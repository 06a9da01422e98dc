"""Delivery: ledger entries mapped onto work items, statuses and write-backs through the outbox."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from connector.enrich.models import get_price
from connector.errors import ConnectorError
from connector.mapping import apply_mapping
from connector.pipeline.context import PipelineServices
from connector.pipeline.events import (
    BATCH,
    CACHE,
    DUPLICATE,
    SINGLE,
    build_item_event,
    build_orphan_event,
    save_events,
)
from connector.pipeline.report import CycleReport
from connector.sources.base import RecordUpdate, Status
from connector.store.models import EmailLookup, LedgerEntry, LedgerKey, RecordEvent, WorkItem

log = logging.getLogger(__name__)

# Outbox entries taken (and leased) at a time by one flusher.
OUTBOX_PAGE = 1000


def get_lease(services: PipelineServices) -> timedelta:
    """How long a lease (reservation, poll, outbox, stalled-work claim) of a dead worker lasts."""
    return timedelta(seconds=services.settings.pipeline.reservation_lease)


def get_fresh(
    services: PipelineServices, keys: Iterable[LedgerKey]
) -> dict[LedgerKey, LedgerEntry]:
    """Ledger entries of ``keys`` within the configured freshness windows."""
    pipeline = services.settings.pipeline
    return services.store.lookup_fresh(
        list(keys),
        found_max_age=timedelta(days=pipeline.refresh_after_days),
        not_found_max_age=timedelta(days=pipeline.not_found_refresh_days),
    )


def get_fresh_emails(services: PipelineServices, emails: Iterable[str]) -> dict[str, EmailLookup]:
    """E-mail lookups of ``emails`` within the same freshness windows as creators."""
    pipeline = services.settings.pipeline
    return services.store.lookup_fresh_emails(
        list(emails),
        found_max_age=timedelta(days=pipeline.refresh_after_days),
        not_found_max_age=timedelta(days=pipeline.not_found_refresh_days),
    )


def get_answers(
    services: PipelineServices, items: Sequence[WorkItem]
) -> dict[LedgerKey, LedgerEntry]:
    """Fresh ledger entries that may serve ``items``, by the key the items wait on.

    A key's own entry serves it; a Raw or Profile request may also be served by a fresh Full
    entry of the same creator, when every item waiting on the key comes from a source whose
    mapping reads nothing that tier documents and Full does not (``TierAdvice.serves``).
    Never the reverse: a cheaper answer never serves a Full request.
    """
    keys = {w.key for w in items}
    fresh = get_fresh(services, keys)
    upgradable = {k for k in keys - set(fresh) if k.mode != "full"}
    if not upgradable:
        return fresh
    full = get_fresh(services, {k._replace(mode="full") for k in upgradable})
    by_key: dict[LedgerKey, set[str]] = defaultdict(set)
    for item in items:
        by_key[item.key].add(item.source)
    for key in upgradable:
        entry = full.get(key._replace(mode="full"))
        if entry is not None and all(
            services.get_tier_advice(source).serves(key.mode, key.platform)
            for source in by_key[key]
        ):
            fresh[key] = entry
    return fresh


def deliver_key(
    services: PipelineServices, key: LedgerKey, report: CycleReport, *, paid: bool
) -> None:
    """Serve every work item waiting on ``key`` from its (just saved) ledger entry."""
    entries = services.store.get_ledger_entries([key])
    items = services.store.fetch_work_for_keys([key], states=("waiting",))
    paid_keys = {key} if paid else set()
    deliver(services, items, entries, report, paid=paid_keys, paid_run=report.run_id, route=SINGLE)


def deliver(
    services: PipelineServices,
    items: Sequence[WorkItem],
    entries: dict[LedgerKey, LedgerEntry],
    report: CycleReport,
    *,
    paid: set[LedgerKey],
    paid_run: str | None = None,
    route: str = SINGLE,
) -> None:
    """Map ledger entries onto work items and put the write-backs into the outbox.

    ``paid`` names the keys just paid for through ``route``, credited to run ``paid_run``: one
    record of each carries the credit in its event (see ``pipeline/events.py``).
    """
    store = services.store
    by_source: dict[str, list[WorkItem]] = defaultdict(list)
    for item in items:
        if item.key in entries:
            by_source[item.source].append(item)
    payers = _pick_payers([i for i in items if i.key in entries and i.key in paid], paid_run)
    saved_by_run: dict[str, float] = defaultdict(float)
    events: list[RecordEvent] = []
    for source_name, source_items in by_source.items():
        mapping = services.get_mapping(source_name)
        hashes = store.get_written_hashes(source_name, [w.identity for w in source_items])
        writes = []
        for item in source_items:
            entry = entries[item.key]
            payer = payers.get(item.key) == item.id
            if entry.outcome == "found" and not payer:
                report.credits_saved += get_price(item.key.mode)
                if item.run_id is not None:
                    saved_by_run[item.run_id] += get_price(item.key.mode)
            update, new_hashes = _build_update(
                services, mapping, item, entry, hashes.get(item.identity, {})
            )
            writes.append((item.record_key, build_payload(update, item.identity, new_hashes)))
            events.append(
                build_item_event(
                    item,
                    run_id=paid_run if payer else item.run_id or report.run_id,
                    status=update.status,
                    route=route if payer else DUPLICATE if item.key in paid else CACHE,
                    credits=entry.credits_cost if payer else 0.0,
                    error=update.error,
                    fields=update.values,
                )
            )
        store.enqueue_writes(source_name, writes, run_id=report.run_id)
        store.set_work_state([w.id for w in source_items], "done")
    orphans = sorted(paid - set(payers))
    if orphans:
        found = store.get_ledger_entries(orphans)
        events += [
            build_orphan_event(services, k, found[k], run_id=paid_run, route=route)
            for k in orphans
            if k in found
        ]
    save_events(services, events)
    if report.run_id is None:
        # Work served outside its own cycle (a finished batch): credit the runs it came from.
        for run_id, saved in saved_by_run.items():
            store.add_run_credits(run_id, saved=saved)


def _pick_payers(items: Sequence[WorkItem], paid_run: str | None) -> dict[LedgerKey, int]:
    """The record that paid for each key: one of the credited run's own records if any."""
    payers: dict[LedgerKey, WorkItem] = {}
    for item in items:
        current = payers.get(item.key)
        if current is None or (current.run_id != paid_run and item.run_id == paid_run):
            payers[item.key] = item
    return {key: item.id for key, item in payers.items()}


def _build_update(
    services: PipelineServices,
    mapping: Any,
    item: WorkItem,
    entry: LedgerEntry,
    last_hashes: dict[str, str],
) -> tuple[RecordUpdate, dict[str, str]]:
    now = services.clock()
    if entry.outcome != "found" or entry.profile is None:
        return RecordUpdate(
            key=item.record_key,
            status=Status.NOT_FOUND,
            error="",
            enriched_at=now,
            handle_text=item.handle_value,
            email_text=item.email,
        ), {}
    result = apply_mapping(
        mapping,
        entry.profile,
        platform=item.key.platform,
        current=item.current,
        last_hashes=last_hashes,
        context=services.transform_context(item),
        meta={"enriched_at": now, "now": now, "handle": item.handle_value},
    )
    update = RecordUpdate(
        key=item.record_key,
        status=Status.ENRICHED,
        values=result.changes,
        error="; ".join(result.errors),
        enriched_at=now,
        handle_text=item.handle_value,
        # Found by e-mail for a record without a handle: the source fills its empty handle
        # (and platform) so that later runs need no lookup.
        found_handle=item.handle_value if item.fill_handle else None,
        found_platform=item.key.platform if item.fill_handle else None,
        email_text=item.email,
    )
    return update, dict(result.hashes)


def build_payload(
    update: RecordUpdate, identity: str | None = None, hashes: dict[str, str] | None = None
) -> dict[str, Any]:
    """The JSON an outbox entry stores for one record update."""
    return {
        "key": update.key,
        "status": update.status,
        "values": dict(update.values),
        "error": update.error,
        "enriched_at": update.enriched_at.isoformat() if update.enriched_at else None,
        "handle_text": update.handle_text,
        "found_handle": update.found_handle,
        "found_platform": update.found_platform,
        "email_text": update.email_text,
        "identity": identity,
        "hashes": hashes or {},
    }


def parse_payload(payload: dict[str, Any]) -> RecordUpdate:
    """The record update an outbox entry's JSON describes."""
    stamp = payload.get("enriched_at")
    return RecordUpdate(
        key=payload["key"],
        status=payload["status"],
        values=payload.get("values") or {},
        error=payload.get("error") or "",
        enriched_at=datetime.fromisoformat(stamp) if stamp else None,
        handle_text=payload.get("handle_text"),
        found_handle=payload.get("found_handle"),
        found_platform=payload.get("found_platform"),
        email_text=payload.get("email_text"),
    )


def mark_records(
    services: PipelineServices, items: Sequence[WorkItem], status: str, error: str = ""
) -> None:
    """Show an interim status on the items' records at once (best effort, not via the outbox)."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_source[item.source].append(item.record_key)
    for source_name, keys in by_source.items():
        try:
            services.get_source(source_name).mark(keys, status, error)
        except ConnectorError as exc:
            # Interim statuses are a courtesy; the final write goes through the outbox.
            log.warning(
                "could not mark records",
                extra={"source": source_name, "status": status, "error": str(exc)},
            )


def write_status(
    services: PipelineServices,
    items: Sequence[WorkItem],
    status: str,
    error: str,
    *,
    route: str | None = None,
) -> None:
    """Queue a final status (and error) for the items' records in the outbox.

    ``route`` is how the failed attempt went (``single``, ``batch``), for the record events.
    """
    by_source: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for item in items:
        update = RecordUpdate(
            key=item.record_key,
            status=status,
            error=error,
            handle_text=item.handle_value,
            email_text=item.email,
        )
        by_source[item.source].append((item.record_key, build_payload(update, item.identity)))
    for source_name, writes in by_source.items():
        services.store.enqueue_writes(source_name, writes)
    save_events(
        services,
        (
            build_item_event(item, run_id=item.run_id, status=status, route=route, error=error)
            for item in items
        ),
    )


def deliver_ready(
    services: PipelineServices,
    source_name: str | None = None,
    *,
    paid: Iterable[LedgerKey] = (),
    paid_run: str | None = None,
    route: str = BATCH,
    report: CycleReport | None = None,
) -> CycleReport:
    """Serve waiting work whose creator now has a fresh ledger entry (e.g. a finished batch).

    ``paid`` names keys paid for (through ``route``, credited to ``paid_run``) since their work
    was parked, so the first record served for each is not counted as a saving.
    """
    report = report or CycleReport(source=source_name or "*")
    items = services.store.fetch_ready_work(source_name)
    paid = set(paid)
    if items or paid:
        entries = get_fresh(services, {w.key for w in items})
        deliver(services, items, entries, report, paid=paid, paid_run=paid_run, route=route)
    return report


def flush_outbox(services: PipelineServices, source_name: str | None = None) -> int:
    """Write every due outbox entry back to its source; failures are retried with backoff.

    The entries go in pages of ``OUTBOX_PAGE``, until none is due (or the worker stops): a
    finished batch of thousands of rows is written at once, not a page per tick.
    """
    written = 0
    while True:
        count, written_now = _flush_page(services, source_name)
        written += written_now
        if count < OUTBOX_PAGE or services.stopping.is_set():
            return written


def _flush_page(services: PipelineServices, source_name: str | None) -> tuple[int, int]:
    """Write one page of due entries; returns (entries taken, records written)."""
    store = services.store
    # The lease keeps parallel flushers (other jobs, other workers) off the same writes; after
    # a crash the unacknowledged ones come back when it runs out.
    due = store.fetch_due_writes(source_name, limit=OUTBOX_PAGE, lease=get_lease(services))
    by_source: dict[str, list[Any]] = defaultdict(list)
    for entry in due:
        by_source[entry.source].append(entry)
    written = 0
    for name, entries in by_source.items():
        if services.stopping.is_set():
            store.release_writes([e.id for e in entries])
            continue
        updates = [parse_payload(e.payload) for e in entries]
        try:
            result = services.get_source(name).write_back(updates)
        except ConnectorError as exc:
            for entry in entries:
                delay = min(3600.0, 30.0 * 2 ** min(entry.attempts, 7))
                store.mark_write_failed(
                    entry.id, str(exc), retry_at=services.clock() + timedelta(seconds=delay)
                )
            log.warning(
                "write-back failed",
                extra={"source": name, "error": str(exc), "records": len(entries)},
            )
            continue
        done_keys = set(result.written) | set(result.missing) | set(result.failed)
        written_keys = set(result.written)
        hashes: dict[str, dict[str, str]] = defaultdict(dict)
        for entry in entries:
            if entry.record_key in written_keys and entry.payload.get("hashes"):
                hashes[entry.payload["identity"]].update(entry.payload["hashes"])
        store.save_written_hashes(name, hashes)
        store.mark_writes_done([e.id for e in entries if e.record_key in done_keys])
        written += len(result.written)
        for key, reason in result.failed.items():
            log.warning(
                "record write failed", extra={"source": name, "record": key, "error": reason}
            )
    return len(due), written


def hand_back(services: PipelineServices, items: Sequence[WorkItem]) -> None:
    """Leave work no call was sent for to the next worker (this one is stopping)."""
    if not items:
        return
    stalled_since = services.clock() - get_lease(services) - timedelta(seconds=1)
    services.store.hand_back_work([w.id for w in items], stalled_since=stalled_since)
    log.info("work handed back: the worker is stopping", extra={"records": len(items)})
