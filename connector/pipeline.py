"""The one place that wires the hops: pending → handles → ledger → route → enrich → map → write."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connector.delivery import (
    build_payload,
    deliver,
    deliver_ready,
    flush_outbox,
    get_fresh,
    get_lease,
    mark_records,
    write_status,
)
from connector.enrich.models import get_price
from connector.errors import ConnectorError, FatalError, InvalidHandleError, OutOfCreditsError
from connector.handles import parse_handle
from connector.sources.base import PendingRecord, RecordUpdate, Status
from connector.store.models import LedgerKey, NewWork, WorkItem

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger(__name__)

__all__ = [
    "CycleReport",
    "deliver_ready",
    "flush_outbox",
    "get_fresh",
    "get_lease",
    "process_work",
    "release_held",
    "run_cycle",
]

# A record key no source produces: its claim is the per-source poll lease.
POLL_LOCK = "*poll*"


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
    # Records claimed again while their earlier item still waits or is held (not re-quoted).
    reclaimed: int = 0
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
        work = _save_work(services, source_name, parsed, invalid, report)
    finally:
        store.release_records(source_name, [POLL_LOCK], services.worker_id)
    store.record_source_success(source_name)
    report.records, report.invalid = len(records), len(invalid)
    process_work(services, work, report)
    flush_outbox(services, source_name)
    _finish_run(services, report)
    log.info(
        "cycle done",
        extra={"source": source_name, "worker": services.worker_id, **report.as_dict()},
    )
    return report


def _finish_run(services: Services, report: CycleReport) -> None:
    """Close the run; a held run keeps the hold status pre-flight gave it (approval or credits)."""
    if report.run_id is None:
        return
    status = "failed" if report.error else "finished"
    if report.held:
        run = services.store.get_run(report.run_id)
        held = ("held", "awaiting_approval", "approved")
        status = run.status if run is not None and run.status in held else "held"
    store = services.store
    store.finish_run(report.run_id, status=status, stats=report.as_dict(), error=report.error)
    # Added, not overwritten: a batch collected meanwhile, or an earlier attempt of a held
    # run, has already credited this run.
    store.add_run_credits(report.run_id, spent=report.credits_spent, saved=report.credits_saved)


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
    report: CycleReport,
) -> list[WorkItem]:
    """Store the claimed records as work; records already held or waiting keep their item.

    A held record is claimed again at every claim lease (sheets) or poll (HubSpot). Its item
    moves to the new claim, so the write-back finds the record, and stays in its first run,
    so approving that run releases it: it is not quoted or held again here.
    """
    store = services.store
    if invalid:
        writes = [(u.key, build_payload(u)) for u in invalid]
        store.enqueue_writes(source_name, writes, run_id=report.run_id)
    moved, new = store.rekey_open_work(
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
    report.reclaimed += len(moved)
    # A sheet's new claim overwrote the status cell with "queued"; HubSpot claims write nothing.
    _mark_reclaimed(services, [item for old, item in moved if old != item.record_key])
    return store.add_work(new)


def _mark_reclaimed(services: Services, moved: Sequence[WorkItem]) -> None:
    waiting = [w for w in moved if w.state == "waiting"]
    if waiting:
        mark_records(services, waiting, Status.ENRICHING)
    by_run: dict[str | None, list[WorkItem]] = defaultdict(list)
    for item in moved:
        if item.state == "held":
            by_run[item.run_id].append(item)
    for run_id, held in by_run.items():
        run = services.store.get_run(run_id) if run_id else None
        approval = run is not None and run.status in ("awaiting_approval", "approved")
        status = Status.AWAITING_APPROVAL if approval else Status.AWAITING_CREDITS
        mark_records(services, held, status, held[0].error or "")


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
    report.quote += len(misses) * get_price(settings.pipeline.mode)
    hold = services.check_spend(report.quote, run_id=report.run_id)
    if hold is not None:
        store.set_work_state([w.id for w in pending], "held", error=hold.reason)
        report.held += len(pending)
        mark_records(services, pending, hold.status)
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
    stopped: FatalError | None = None
    # A short lease lets others take over quickly after a crash; the keeper stretches it for
    # as long as this worker is alive and still working on the keys.
    with LeaseKeeper(store, owned, owner, get_lease(services)):
        mark_records(services, [w for w in pending if w.key in owned], Status.ENRICHING)
        for platform, platform_keys in by_platform.items():
            items = [(k, values[k]) for k in platform_keys]
            try:
                if len(platform_keys) >= settings.pipeline.batch_threshold:
                    report.routes["batch"] += len(platform_keys)
                    submit_batches(services, platform, items, run_id=report.run_id, owner=owner)
                else:
                    report.routes["single"] += len(platform_keys)
                    enrich_singles(services, items, report, owner)
            except FatalError as exc:
                stopped = exc
                break
    if stopped is not None:
        stop_work(services, stopped, owned, owner, report)


def stop_work(
    services: Services,
    error: FatalError,
    owned: set[LedgerKey],
    owner: str,
    report: CycleReport,
) -> None:
    """After a ``FatalError``, settle every owned creator no answer or open batch covers.

    Out of credits holds their records (``awaiting credits``, released by the credits job);
    any other fatal error fails them. A paid answer that could not be saved keeps its
    reservation, stretched for a day, so that no worker pays for that creator again meanwhile.
    """
    from connector.batches import UNCONFIRMED_HOLD
    from connector.singles import UnsavedResultError

    store = services.store
    report.error = str(error)
    log.error("work stopped", extra={"source": report.source, "error": str(error)})
    services.notify(
        "fatal_error", source=report.source, error=str(error), error_type=type(error).__name__
    )
    kept = set(error.keys) if isinstance(error, UnsavedResultError) else set()
    open_keys = owned - kept - set(get_fresh(services, owned)) - store.fetch_batched_keys(owned)
    store.release(open_keys, owner)
    if kept:
        store.extend(kept, owner, UNCONFIRMED_HOLD)
    items = store.fetch_work_for_keys(open_keys | kept, states=("waiting",))
    if isinstance(error, OutOfCreditsError):
        store.set_work_state([w.id for w in items], "held", error=str(error))
        report.held += len(items)
        if report.run_id is not None:
            store.hold_run(report.run_id, reason=str(error), quote=report.quote)
        mark_records(services, items, Status.AWAITING_CREDITS)
    else:
        store.set_work_state([w.id for w in items], "failed", error=str(error))
        write_status(services, items, Status.ERROR, str(error))


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
        if not report.held:
            _finish_run(services, report)
        elif run_id is not None:
            # Still held, but records whose creator meanwhile reached the ledger were served.
            store.add_run_credits(run_id, spent=report.credits_spent, saved=report.credits_saved)
        reports.append(report)
    if reports:
        flush_outbox(services)
    return reports
