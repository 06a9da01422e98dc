"""One source cycle: fetch pending records, store them as work, route it, write back."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from connector.errors import ConnectorError
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import (
    build_payload,
    flush_outbox,
    get_lease,
    mark_records,
)
from connector.pipeline.events import build_invalid_events, save_events, save_held_events
from connector.pipeline.plan import build_plan
from connector.pipeline.records import Parsed, parse_records
from connector.pipeline.report import CycleReport
from connector.pipeline.retries import release_retried_holds
from connector.pipeline.work import process_work
from connector.sources.base import PendingRecord, RecordUpdate, Status
from connector.store.models import NewWork, WorkItem

log = logging.getLogger(__name__)

# A record key no source produces: its claim is the per-source poll lease.
POLL_LOCK = "*poll*"


def run_cycle(
    services: PipelineServices, source_name: str, *, dry_run: bool = False
) -> CycleReport:
    """Fetch a source's pending records and carry them as far as they can go now.

    Only one worker at a time claims a source's records (the poll lease); the others skip the
    poll and share the rest of the work (reservations, batch polls, the outbox).
    """
    store = services.store
    report = CycleReport(source=source_name, dry_run=dry_run)
    if dry_run:
        return _plan_cycle(services, source_name, report)
    if services.stopping.is_set():
        return report
    if not store.claim_records(source_name, [POLL_LOCK], services.worker_id, get_lease(services)):
        log.info("source busy: another worker is polling it", extra={"source": source_name})
        return report
    try:
        report.run_id = store.start_run(source_name)
        try:
            records = services.get_source(source_name).fetch_pending(claim=True)
        except ConnectorError as exc:
            return _fail_cycle(services, report, exc)
        parsed, invalid = _identify(services, source_name, records)
        # The records are claimed at the source now; storing them at once keeps the window in
        # which a crash leaves a claim without its work item as short as possible.
        work = _save_work(services, source_name, parsed, invalid, report)
    finally:
        store.release_records(source_name, [POLL_LOCK], services.worker_id)
    store.record_source_success(source_name)
    report.records, report.invalid = len(records), len(invalid)
    save_events(services, build_invalid_events(report.run_id, source_name, records, invalid))
    process_work(services, work, report)
    flush_outbox(services, source_name)
    _finish_run(services, report)
    if report.held:
        save_held_events(services, report.run_id, source_name)
    log.info(
        "cycle done",
        extra={"source": source_name, "worker": services.worker_id, **report.as_dict()},
    )
    return report


def _finish_run(services: PipelineServices, report: CycleReport) -> None:
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
    # The alert rules look at the balance after every run that did something.
    services.notify(
        "run_finished",
        source=report.source,
        run_id=report.run_id,
        records=report.records,
        credits_spent=report.credits_spent,
        status=status,
    )


def _plan_cycle(services: PipelineServices, source_name: str, report: CycleReport) -> CycleReport:
    store = services.store
    report.run_id = store.start_run(source_name, dry_run=True)
    try:
        records = services.get_source(source_name).fetch_pending(claim=False)
    except ConnectorError as exc:
        return _fail_cycle(services, report, exc)
    store.record_source_success(source_name)
    parsed, invalid = _identify(services, source_name, records)
    report.records, report.invalid = len(records), len(invalid)
    build_plan(services, source_name, parsed, invalid, report)
    store.finish_run(report.run_id, status="finished", stats=report.as_dict())
    return report


def _identify(
    services: PipelineServices, source_name: str, records: Sequence[PendingRecord]
) -> tuple[list[Parsed], list[RecordUpdate]]:
    """The records' ledger keys (in the source's tiers) or e-mails, and the invalid ones."""
    return parse_records(
        records,
        lambda platform: services.get_mode(source_name, platform),
        services.settings.get_source(source_name).identify_by,
    )


def _fail_cycle(
    services: PipelineServices, report: CycleReport, exc: ConnectorError
) -> CycleReport:
    assert report.run_id is not None
    report.error = str(exc)
    services.store.record_source_failure(report.source, str(exc))
    services.store.finish_run(
        report.run_id, status="failed", stats=report.as_dict(), error=str(exc)
    )
    log.warning("source failed", extra={"source": report.source, "error": str(exc)})
    return report


def _save_work(
    services: PipelineServices,
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
    claimed = [
        NewWork(
            source=source_name,
            record_key=p.record.key,
            identity=p.record.identity,
            key=p.key,
            handle_value=p.handle_value,
            location=p.record.location,
            run_id=report.run_id,
            current=dict(p.record.current),
            email=p.email,
            fill_handle=p.fill_handle,
        )
        for p in parsed
    ]
    # Before the records' new items replace their failed ones: those prove the retry.
    retried = [w for w, p in zip(claimed, parsed, strict=True) if p.record.retry]
    released = release_retried_holds(services, source_name, retried)
    report.retried += len(released)
    moved, new = store.rekey_open_work(claimed)
    report.reclaimed += len(moved)
    # A sheet's new claim overwrote the status cell with "queued"; HubSpot claims write nothing.
    _mark_reclaimed(services, [item for old, item in moved if old != item.record_key])
    # A waiting item that took a retried record must go now that its creator's hold is gone.
    unblocked = [i for _, i in moved if i.state == "waiting" and i.key in released]
    return [*unblocked, *store.add_work(new)]


def _mark_reclaimed(services: PipelineServices, moved: Sequence[WorkItem]) -> None:
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


def release_held(services: PipelineServices) -> list[CycleReport]:
    """Try held work again (after a top-up or an approval); it is held again if still blocked."""
    store = services.store
    if services.stopping.is_set():
        return []
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
