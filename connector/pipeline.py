"""The one place that wires the hops: pending → handles → ledger → route → enrich → map → write."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from connector.errors import (
    ConnectorError,
    FatalError,
    InvalidHandleError,
    OutOfCreditsError,
    RetryableError,
    RowError,
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
    """Fetch a source's pending records and carry them as far as they can go now."""
    store = services.store
    report = CycleReport(source=source_name, dry_run=dry_run)
    report.run_id = store.start_run(source_name, dry_run=dry_run)
    source = services.get_source(source_name)
    try:
        records = source.fetch_pending(claim=not dry_run)
    except ConnectorError as exc:
        report.error = str(exc)
        store.record_source_failure(source_name, str(exc))
        store.finish_run(report.run_id, status="failed", stats=report.as_dict(), error=str(exc))
        log.warning("source failed", extra={"source": source_name, "error": str(exc)})
        return report
    store.record_source_success(source_name)
    report.records = len(records)
    parsed, invalid = _parse_records(records, services.settings.pipeline.mode)
    report.invalid = len(invalid)
    if dry_run:
        from connector.plan import build_plan

        build_plan(services, source_name, parsed, invalid, report)
        store.finish_run(report.run_id, status="finished", stats=report.as_dict())
        return report
    if invalid:
        store.enqueue_writes(
            source_name, [(u.key, _payload(u)) for u in invalid], run_id=report.run_id
        )
    work = store.add_work(
        [
            NewWork(
                source=source_name,
                record_key=p.record.key,
                identity=p.record.identity,
                key=p.key,
                handle_value=p.handle_value,
                location=p.record.location,
                run_id=report.run_id,
                current=dict(p.record.current),
            )
            for p in parsed
        ]
    )
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
    log.info("cycle done", extra={"source": source_name, **report.as_dict()})
    return report


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
    fresh = _lookup_fresh(services, keys)
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
    lease = timedelta(seconds=settings.pipeline.reservation_lease)
    owned = store.reserve(misses, owner=services.worker_id, lease=lease)
    report.waiting += sum(1 for w in pending if w.key not in owned)
    _mark(services, pending, Status.ENRICHING)
    by_platform: dict[str, list[LedgerKey]] = defaultdict(list)
    for key in sorted(owned):
        by_platform[key.platform].append(key)
    for platform, platform_keys in by_platform.items():
        values = {w.key: w.handle_value for w in pending}
        if len(platform_keys) >= settings.pipeline.batch_threshold:
            report.routes["batch"] += len(platform_keys)
            from connector.batches import submit_batches

            submit_batches(
                services, platform, [(k, values[k]) for k in platform_keys], run_id=report.run_id
            )
        else:
            report.routes["single"] += len(platform_keys)
            _enrich_singles(services, [(k, values[k]) for k in platform_keys], report)


def _lookup_fresh(services: Services, keys: Iterable[LedgerKey]) -> dict[LedgerKey, LedgerEntry]:
    pipeline = services.settings.pipeline
    return services.store.lookup_fresh(
        list(keys),
        found_max_age=timedelta(days=pipeline.refresh_after_days),
        not_found_max_age=timedelta(days=pipeline.not_found_refresh_days),
    )


def _enrich_singles(
    services: Services, items: Sequence[tuple[LedgerKey, str]], report: CycleReport
) -> None:
    store = services.store
    by_item = {(value, key.platform): key for key, value in items}
    done: set[LedgerKey] = set()
    fatal: FatalError | None = None
    client = services.enrichment
    for (value, platform), outcome in client.enrich_many(
        list(by_item), max_concurrency=services.settings.influencers_club.max_concurrency
    ):
        key = by_item[(value, platform)]
        done.add(key)
        if isinstance(outcome, FatalError):
            fatal = fatal or outcome
            store.release([key], services.worker_id)
            continue
        if isinstance(outcome, ConnectorError):
            _record_failure(services, key, outcome, report)
            continue
        # The ledger commit comes first: a crash after it never pays for this creator again.
        store.save_result(key, "found", outcome.profile, outcome.credits_cost)
        report.credits_spent += outcome.credits_cost
        report.enriched += 1
        deliver_key(services, key, report, paid=True)
    leftover = [k for k, _ in items if k not in done]
    if leftover:
        store.release(leftover, services.worker_id)
    if fatal is not None:
        unserved = set(leftover) | {k for k, _ in items if k in done} - set(
            _lookup_fresh(services, [k for k, _ in items])
        )
        _handle_fatal(services, fatal, sorted(unserved), report)


def _record_failure(
    services: Services, key: LedgerKey, error: ConnectorError, report: CycleReport
) -> None:
    store = services.store
    from connector.errors import ProfileNotFoundError

    if isinstance(error, ProfileNotFoundError):
        store.save_result(key, "not_found", None, 0.0)
        report.not_found += 1
        deliver_key(services, key, report, paid=True)
        return
    store.release([key], services.worker_id)
    report.errors += 1
    items = store.fetch_work_for_keys([key], states=("waiting",))
    if isinstance(error, RetryableError):
        status, text = Status.RETRY, f"temporary failure, will retry: {error}"
    elif isinstance(error, RowError):
        status, text = Status.ERROR, str(error)
    else:
        status, text = Status.ERROR, str(error)
    store.set_work_state([w.id for w in items], "failed", error=text)
    _enqueue_status(services, items, status, text)


def _handle_fatal(
    services: Services, error: FatalError, keys: Sequence[LedgerKey], report: CycleReport
) -> None:
    store = services.store
    report.error = str(error)
    items = store.fetch_work_for_keys(keys, states=("waiting",))
    if isinstance(error, OutOfCreditsError):
        store.set_work_state([w.id for w in items], "held", error=str(error))
        report.held += len(items)
        _mark(services, items, Status.AWAITING_CREDITS)
    else:
        store.set_work_state([w.id for w in items], "failed", error=str(error))
        _enqueue_status(services, items, Status.ERROR, str(error))
    services.notify(
        "fatal_error", source=report.source, error=str(error), kind=type(error).__name__
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
        entries = _lookup_fresh(services, {w.key for w in items})
        deliver(services, items, entries, report, paid=set(paid))
    return report


def flush_outbox(services: Services, source_name: str | None = None) -> int:
    """Write due outbox entries back to their sources; failures are retried with backoff."""
    store = services.store
    due = store.fetch_due_writes(source_name, limit=1000)
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
