"""Crash recovery: keep live leases fresh, and resume what a stopped worker left half-done."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable

from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import deliver_ready, get_lease, write_status
from connector.pipeline.holds import (
    INTERRUPTED,
    INTERRUPTED_HOLDER,
    INTERRUPTED_LOOKUP,
    UNCONFIRMED_HOLD,
    is_unconfirmed_hold,
)
from connector.pipeline.report import CycleReport
from connector.pipeline.work import process_work
from connector.sources.base import Status
from connector.store import Store
from connector.store.models import Batch, LedgerKey, WorkItem, is_email_key

log = logging.getLogger(__name__)


def close_stale_intents(services: PipelineServices) -> list[str]:
    """Fail batch intents whose creating worker is gone, so their handles can be queued again.

    The creator holds (and keeps extending) the reservations of an intent's handles until the
    API's batch id is stored, so an ``intent`` row none of whose handles is reserved any more
    (or only held after an interrupted upload, see ``settle_interrupted_calls``) belongs to a
    worker that died before or during the create call.
    """
    store = services.store
    closed: list[str] = []
    for batch in store.fetch_open_batches():
        if batch.status != "intent":
            continue
        keys = [
            LedgerKey(i.platform, i.handle_key, batch.mode)
            for i in store.fetch_batch_items(batch.ref)
        ]
        owners = store.get_reservations(keys).values()
        if any(not is_unconfirmed_hold(owner) for owner in owners):
            continue
        # Re-read after the reservation check: a creator releases only after attaching the id.
        current = store.get_batch(batch.ref)
        if current is None or current.status != "intent":
            continue
        store.update_batch(
            batch.ref,
            status="failed",
            error=(
                "the worker stopped while uploading the batch, which may have been created and "
                "billed; its records wait for a human retry"
                if owners
                else "the worker stopped before the batch was created; its handles are queued again"
            ),
        )
        log.warning("stale batch intent closed", extra={"batch_ref": batch.ref, "rows": len(keys)})
        closed.append(batch.ref)
    return closed


def settle_interrupted_calls(services: PipelineServices, report: CycleReport) -> int:
    """Fail (never re-send) work whose paid call was in flight when its worker died.

    Sending it again could pay twice for one creator, so a human decides: the records show an
    error asking for ``retry``, and the creator stays held for a day, so that neither these
    records nor a new record of the same creator pay for it on their own. A typed ``retry`` of
    one of these records releases the hold (``pipeline.retries``).
    """
    store = services.store
    keys = store.fetch_interrupted_keys()
    if not keys:
        return 0
    items = store.fetch_work_for_keys(keys, states=("waiting",))
    for message in (INTERRUPTED, INTERRUPTED_LOOKUP):
        chosen = [w for w in items if is_email_key(w.key) == (message is INTERRUPTED_LOOKUP)]
        store.set_work_state([w.id for w in chosen], "failed", error=message)
        write_status(services, chosen, Status.ERROR, message)
    store.hold_interrupted(keys, INTERRUPTED_HOLDER, UNCONFIRMED_HOLD)
    report.errors += len(items)
    log.warning(
        "paid calls interrupted by a stopped worker",
        extra={"creators": len(keys), "records": len(items)},
    )
    return len(keys)


def serve_ready(services: PipelineServices, report: CycleReport | None = None) -> CycleReport:
    """Serve waiting work whose answer has landed since it was parked.

    Creators answered meanwhile (a finished batch, another worker) are served from the ledger;
    records whose e-mail was answered (a collected e-mail batch) go on to their creators, in
    the run they came with: ledger, pre-flight for the follow-up, single calls or a batch.
    """
    store = services.store
    report = deliver_ready(services, report=report)
    ready = store.fetch_ready_email_work(limit=5000)
    won = store.claim_work([w.id for w in ready], services.worker_id, get_lease(services))
    if won:
        _process_by_run(services, store.fetch_work_by_ids(won), report)
    return report


def _process_by_run(
    services: PipelineServices, items: Iterable[WorkItem], report: CycleReport
) -> None:
    """``process_work`` per run, so what is paid now is credited to the run it came with."""
    store = services.store
    by_run: dict[str | None, list[WorkItem]] = defaultdict(list)
    for item in items:
        by_run[item.run_id].append(item)
    for run_id, run_items in by_run.items():
        part = CycleReport(source=report.source, run_id=run_id)
        process_work(services, run_items, part)
        if run_id is not None:
            store.add_run_credits(run_id, spent=part.credits_spent, saved=part.credits_saved)
        report.merge(part)


def resume_stalled(
    services: PipelineServices, report: CycleReport | None = None, *, limit: int = 5000
) -> CycleReport:
    """Process again the waiting work nobody is working on (its worker stopped or crashed).

    Work is stalled when it has waited longer than a lease, no live reservation covers its
    creator and no open batch holds it. A claim on the items keeps other workers from resuming
    the same items at the same time; reservations still decide who may pay.
    """
    store = services.store
    report = report or CycleReport(source="*")
    if services.stopping.is_set():
        return report
    # Interrupted calls first: a stale intent whose upload had left must not be queued again.
    settle_interrupted_calls(services, report)
    close_stale_intents(services)
    lease = get_lease(services)
    cutoff = services.clock() - lease
    old = [w for w in store.fetch_work(state="waiting", limit=limit) if w.updated_at < cutoff]
    if not old:
        return report
    keys = {w.key for w in old}
    busy = set(store.get_reservations(keys)) | _keys_in_open_batches(
        store.fetch_open_batches(), store
    )
    stalled = [w.id for w in old if w.key not in busy]
    won = store.claim_work(stalled, services.worker_id, lease)
    if won:
        log.info("resuming stalled work", extra={"records": len(won)})
        report.records += len(won)
        _process_by_run(services, store.fetch_work_by_ids(won), report)
    return report


def _keys_in_open_batches(batches: Iterable[Batch], store: Store) -> set[LedgerKey]:
    return {
        LedgerKey(item.platform, item.handle_key, batch.mode)
        for batch in batches
        for item in store.fetch_batch_items(batch.ref)
    }
