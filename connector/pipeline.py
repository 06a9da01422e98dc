"""The one place that wires the hops: pending → handles → ledger → route → enrich → map → write."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from connector.errors import (
    ConnectorError,
    InvalidHandleError,
)
from connector.handles import parse_handle
from connector.mapping import apply_mapping
from connector.sources.base import PendingRecord, RecordUpdate, Status
from connector.store.models import LedgerEntry, LedgerKey, NewWork, WorkItem

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger(__name__)

PRICE = {"full": 1.0, "raw": 0.03}
BATCH_MAX_ROWS = 10_000
# A record key no source produces: its claim is the per-source poll lease.
POLL_LOCK = "*poll*"


def get_lease(services: Services) -> timedelta:
    """How long a lease (reservation, poll, outbox, stalled-work claim) of a dead worker lasts."""
    return timedelta(seconds=services.settings.pipeline.reservation_lease)


def build_owner(services: Services) -> str:
    """A reservation owner for one unit of work.

    Jobs of one worker run in parallel threads; a per-process owner would let two of them
    "re-take" each other's reservations (the takeover of one's own lease) and pay twice.
    """
    return f"{services.worker_id}/{uuid.uuid4().hex[:8]}"


@dataclass
class CycleReport:
    """What one source cycle did, in numbers a human (and the dashboard) can read."""

    source: str
    run_id: str | None = None
    dry_run: bool = False
    records: int = 0
    invalid: int = 0
    duplicates: int = 0
    cached: int = 0
    not_found: int = 0
    enriched: int = 0
    waiting: int = 0
    held: int = 0
    errors: int = 0
    written: int = 0
    credits_spent: float = 0.0
    credits_saved: float = 0.0
    quote: float = 0.0
    routes: dict[str, int] = field(default_factory=lambda: {"single": 0, "batch": 0})
    error: str | None = None
    plan: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {k: v for k, v in self.__dict__.items() if k != "plan"}


@dataclass(frozen=True)
class Parsed:
    """A pending record with its normalised ledger key."""

    record: PendingRecord
    key: LedgerKey
    handle_value: str


def run_cycle(services: Services, source_name: str, *, dry_run: bool = False) -> CycleReport:
    """Fetch a source's pending records and carry them as far as they can go now.

    Only one worker at a time claims a source's records (the poll lease); the others skip the
    poll and share the rest of the work (reservations, batch polls, the outbox).
    """
    store = services.store
    report = CycleReport(source=source_name, dry_run=dry_run)
    if dry_run:
        return _plan_cycle(services, source_name, report)
    if not store.claim_records(source_name, [POLL_LOCK], services.worker_id, get_lease(services)):
        log.info("source busy: another worker is polling it", extra={"source": source_name})
        return report
    try:
        report.run_id = store.start_run(source_name)
        try:
            records = services.get_source(source_name).fetch_pending(claim=True)
        except ConnectorError as exc:
            return _fail_cycle(services, report, exc)
        parsed, invalid = _parse_records(records, services.settings.pipeline.mode)
        # The records are claimed at the source now; storing them at once keeps the window in
        # which a crash leaves a claim without its work item as short as possible.
        work = _save_work(services, source_name, parsed, invalid, report.run_id)
    finally:
        store.release_records(source_name, [POLL_LOCK], services.worker_id)
    store.record_source_success(source_name)
    report.records, report.invalid = len(records), len(invalid)
    process_work(services, work, report)
    flush_outbox(services, source_name)
    status = "held" if report.held else "finished"
    store.finish_run(
        report.run_id,
        status=status,
        stats=report.as_dict(),
        credits_spent=report.credits_spent,
        credits_saved=report.credits_saved,
    )
    log.info(
        "cycle done",
        extra={"source": source_name, "worker": services.worker_id, **report.as_dict()},
    )
    return report


def _plan_cycle(services: Services, source_name: str, report: CycleReport) -> CycleReport:
    from connector.plan import build_plan

    store = services.store
    report.run_id = store.start_run(source_name, dry_run=True)
    try:
        records = services.get_source(source_name).fetch_pending(claim=False)
    except ConnectorError as exc:
        return _fail_cycle(services, report, exc)
    store.record_source_success(source_name)
    parsed, invalid = _parse_records(records, services.settings.pipeline.mode)
    report.records, report.invalid = len(records), len(invalid)
    build_plan(services, source_name, parsed, invalid, report)
    store.finish_run(report.run_id, status="finished", stats=report.as_dict())
    return report


def _fail_cycle(services: Services, report: CycleReport, exc: ConnectorError) -> CycleReport:
    assert report.run_id is not None
    report.error = str(exc)
    services.store.record_source_failure(report.source, str(exc))
    services.store.finish_run(
        report.run_id, status="failed", stats=report.as_dict(), error=str(exc)
    )
    log.warning("source failed", extra={"source": report.source, "error": str(exc)})
    return report


def _save_work(
    services: Services,
    source_name: str,
    parsed: Sequence[Parsed],
    invalid: Sequence[RecordUpdate],
    run_id: str | None,
) -> list[WorkItem]:
    store = services.store
    if invalid:
        store.enqueue_writes(source_name, [(u.key, _payload(u)) for u in invalid], run_id=run_id)
    return store.add_work(
        [
            NewWork(
                source=source_name,
                record_key=p.record.key,
                identity=p.record.identity,
                key=p.key,
                handle_value=p.handle_value,
                location=p.record.location,
                run_id=run_id,
                current=dict(p.record.current),
            )
            for p in parsed
        ]
    )


def _parse_records(
    records: Sequence[PendingRecord], mode: str
) -> tuple[list[Parsed], list[RecordUpdate]]:
    parsed: list[Parsed] = []
    invalid: list[RecordUpdate] = []
    for record in records:
        try:
            handle = parse_handle(record.handle_text, record.platform_text)
        except InvalidHandleError as exc:
            invalid.append(
                RecordUpdate(
                    key=record.key,
                    status=f"{Status.INVALID}: {exc.message}",
                    error=str(exc),
                    handle_text=record.handle_text,
                )
            )
            continue
        parsed.append(
            Parsed(record, LedgerKey(handle.platform, handle.handle_key, mode), handle.value)
        )
    return parsed, invalid


def process_work(services: Services, work: Sequence[WorkItem], report: CycleReport) -> None:
    """Serve work from the ledger, hold or reserve the rest, and route it to the API."""
    if not work:
        return
    store, settings = services.store, services.settings
    keys = {w.key for w in work}
    report.duplicates += len(work) - len(keys)
    fresh = get_fresh(services, keys)
    served = [w for w in work if w.key in fresh]
    if served:
        report.cached += len({w.key for w in served})
        deliver(services, served, fresh, report, paid=set())
    misses = sorted(keys - set(fresh))
    if not misses:
        return
    pending = [w for w in work if w.key not in fresh]
    report.quote += len(misses) * PRICE[settings.pipeline.mode]
    hold = services.check_spend(report.quote, run_id=report.run_id)
    if hold is not None:
        store.set_work_state([w.id for w in pending], "held", error=hold.reason)
        report.held += len(pending)
        _mark(services, pending, hold.status)
        services.notify(
            "work_held",
            source=report.source,
            reason=hold.reason,
            quote=report.quote,
            run_id=report.run_id,
        )
        return
    owner = build_owner(services)
    owned = store.reserve(misses, owner=owner, lease=get_lease(services))
    report.waiting += sum(1 for w in pending if w.key not in owned)
    if not owned:
        return
    from connector.batches import submit_batches
    from connector.recovery import LeaseKeeper
    from connector.singles import enrich_singles

    values = {w.key: w.handle_value for w in pending}
    by_platform: dict[str, list[LedgerKey]] = defaultdict(list)
    for key in sorted(owned):
        by_platform[key.platform].append(key)
    # A short lease lets others take over quickly after a crash; the keeper stretches it for
    # as long as this worker is alive and still working on the keys.
    with LeaseKeeper(store, owned, owner, get_lease(services)):
        _mark(services, [w for w in pending if w.key in owned], Status.ENRICHING)
        for platform, platform_keys in by_platform.items():
            items = [(k, values[k]) for k in platform_keys]
            if len(platform_keys) >= settings.pipeline.batch_threshold:
                report.routes["batch"] += len(platform_keys)
                submit_batches(services, platform, items, run_id=report.run_id, owner=owner)
            else:
                report.routes["single"] += len(platform_keys)
                enrich_singles(services, items, report, owner)


def get_fresh(services: Services, keys: Iterable[LedgerKey]) -> dict[LedgerKey, LedgerEntry]:
    """Ledger entries of ``keys`` within the configured freshness windows."""
    pipeline = services.settings.pipeline
    return services.store.lookup_fresh(
        list(keys),
        found_max_age=timedelta(days=pipeline.refresh_after_days),
        not_found_max_age=timedelta(days=pipeline.not_found_refresh_days),
    )


def deliver_key(services: Services, key: LedgerKey, report: CycleReport, *, paid: bool) -> None:
    """Serve every work item waiting on ``key`` from its (just saved) ledger entry."""
    entries = services.store.get_ledger_entries([key])
    items = services.store.fetch_work_for_keys([key], states=("waiting",))
    deliver(services, items, entries, report, paid={key} if paid else set())


def deliver(
    services: Services,
    items: Sequence[WorkItem],
    entries: dict[LedgerKey, LedgerEntry],
    report: CycleReport,
    *,
    paid: set[LedgerKey],
) -> None:
    """Map ledger entries onto work items and put the write-backs into the outbox."""
    store = services.store
    by_source: dict[str, list[WorkItem]] = defaultdict(list)
    for item in items:
        if item.key in entries:
            by_source[item.source].append(item)
    counted_payment: set[LedgerKey] = set()
    for source_name, source_items in by_source.items():
        mapping = services.get_mapping(source_name)
        hashes = store.get_written_hashes(source_name, [w.identity for w in source_items])
        writes = []
        for item in source_items:
            entry = entries[item.key]
            price = PRICE.get(item.key.mode, 1.0)
            if entry.outcome == "found":
                if item.key in paid and item.key not in counted_payment:
                    counted_payment.add(item.key)
                else:
                    report.credits_saved += price
            update, new_hashes = _build_update(
                services, mapping, item, entry, hashes.get(item.identity, {})
            )
            writes.append((item.record_key, _payload(update, item.identity, new_hashes)))
        store.enqueue_writes(source_name, writes, run_id=report.run_id)
        store.set_work_state([w.id for w in source_items], "done")


def _build_update(
    services: Services,
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
    )
    return update, dict(result.hashes)


def _payload(
    update: RecordUpdate, identity: str | None = None, hashes: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "key": update.key,
        "status": update.status,
        "values": dict(update.values),
        "error": update.error,
        "enriched_at": update.enriched_at.isoformat() if update.enriched_at else None,
        "handle_text": update.handle_text,
        "identity": identity,
        "hashes": hashes or {},
    }


def _update_from_payload(payload: dict[str, Any]) -> RecordUpdate:
    from datetime import datetime

    stamp = payload.get("enriched_at")
    return RecordUpdate(
        key=payload["key"],
        status=payload["status"],
        values=payload.get("values") or {},
        error=payload.get("error") or "",
        enriched_at=datetime.fromisoformat(stamp) if stamp else None,
        handle_text=payload.get("handle_text"),
    )


def _mark(services: Services, items: Sequence[WorkItem], status: str, error: str = "") -> None:
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


def _enqueue_status(services: Services, items: Sequence[WorkItem], status: str, error: str) -> None:
    by_source: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for item in items:
        update = RecordUpdate(
            key=item.record_key, status=status, error=error, handle_text=item.handle_value
        )
        by_source[item.source].append((item.record_key, _payload(update, item.identity)))
    for source_name, writes in by_source.items():
        services.store.enqueue_writes(source_name, writes)


def deliver_ready(
    services: Services,
    source_name: str | None = None,
    *,
    paid: Iterable[LedgerKey] = (),
    report: CycleReport | None = None,
) -> CycleReport:
    """Serve waiting work whose creator now has a fresh ledger entry (e.g. a finished batch).

    ``paid`` names keys paid for since their work was parked, so the first record served for
    each is not counted as a saving.
    """
    report = report or CycleReport(source=source_name or "*")
    items = services.store.fetch_ready_work(source_name)
    if items:
        entries = get_fresh(services, {w.key for w in items})
        deliver(services, items, entries, report, paid=set(paid))
    return report


def flush_outbox(services: Services, source_name: str | None = None) -> int:
    """Write due outbox entries back to their sources; failures are retried with backoff."""
    store = services.store
    # The lease keeps parallel flushers (other jobs, other workers) off the same writes; after
    # a crash the unacknowledged ones come back when it runs out.
    due = store.fetch_due_writes(source_name, limit=1000, lease=get_lease(services))
    by_source: dict[str, list[Any]] = defaultdict(list)
    for entry in due:
        by_source[entry.source].append(entry)
    written = 0
    for name, entries in by_source.items():
        updates = [_update_from_payload(e.payload) for e in entries]
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
        for entry in entries:
            if entry.record_key in result.written and entry.payload.get("hashes"):
                store.save_written_hashes(name, entry.payload["identity"], entry.payload["hashes"])
        store.mark_writes_done([e.id for e in entries if e.record_key in done_keys])
        written += len(result.written)
        for key, reason in result.failed.items():
            log.warning(
                "record write failed", extra={"source": name, "record": key, "error": reason}
            )
    return written


def release_held(services: Services) -> list[CycleReport]:
    """Try held work again (after a top-up or an approval); it is held again if still blocked."""
    store = services.store
    held = store.fetch_work(state="held")
    by_run: dict[tuple[str, str | None], list[WorkItem]] = defaultdict(list)
    for item in held:
        by_run[(item.source, item.run_id)].append(item)
    reports = []
    for (source_name, run_id), items in by_run.items():
        report = CycleReport(source=source_name, run_id=run_id)
        store.set_work_state([w.id for w in items], "waiting")
        process_work(services, store.fetch_work_by_ids([w.id for w in items]), report)
        if not report.held and run_id is not None:
            store.finish_run(
                run_id,
                status="finished",
                stats=report.as_dict(),
                credits_spent=report.credits_spent,
                credits_saved=report.credits_saved,
            )
        reports.append(report)
    if reports:
        flush_outbox(services)
    return reports
