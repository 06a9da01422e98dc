"""Routing work: serve it from the ledger, hold it, or reserve it and send it to the API."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence

from connector.enrich.models import get_price
from connector.errors import FatalError, OutOfCreditsError
from connector.pipeline.batches import submit_batches
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import (
    deliver,
    get_fresh,
    get_lease,
    hand_back,
    mark_records,
    write_status,
)
from connector.pipeline.holds import HELD, UNCONFIRMED_HOLD, is_unconfirmed_hold
from connector.pipeline.lease import LeaseKeeper
from connector.pipeline.report import CycleReport
from connector.pipeline.singles import UnsavedResultError, enrich_singles
from connector.sources.base import Status
from connector.store.models import LedgerKey, WorkItem

log = logging.getLogger(__name__)


def build_owner(services: PipelineServices) -> str:
    """A reservation owner for one unit of work.

    Jobs of one worker run in parallel threads; a per-process owner would let two of them
    "re-take" each other's reservations (the takeover of one's own lease) and pay twice.
    """
    return f"{services.worker_id}/{uuid.uuid4().hex[:8]}"


def process_work(services: PipelineServices, work: Sequence[WorkItem], report: CycleReport) -> None:
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
    if services.stopping.is_set():
        hand_back(services, pending)
        return
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
    held = _fail_held(services, [w for w in pending if w.key not in owned], report)
    report.waiting += sum(1 for w in pending if w.key not in owned and w.key not in held)
    if not owned:
        return
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
            if services.stopping.is_set():
                break
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
    elif services.stopping.is_set():
        # Creators no call was sent for: free for any worker, their records resumed at once.
        open_keys = owned - set(get_fresh(services, owned)) - store.fetch_batched_keys(owned)
        store.release(open_keys, owner)
        hand_back(services, store.fetch_work_for_keys(open_keys, states=("waiting",)))


def stop_work(
    services: PipelineServices,
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


def _fail_held(
    services: PipelineServices, others: Sequence[WorkItem], report: CycleReport
) -> set[LedgerKey]:
    """Records of creators under an unconfirmed hold: a final error asking for a human retry.

    Waiting would leave them pending for a day; paying would risk paying twice.
    """
    if not others:
        return set()
    store = services.store
    owners = store.get_reservations({w.key for w in others})
    held = {key for key, owner in owners.items() if is_unconfirmed_hold(owner)}
    items = [w for w in others if w.key in held]
    if items:
        store.set_work_state([w.id for w in items], "failed", error=HELD)
        write_status(services, items, Status.ERROR, HELD)
        report.errors += len(items)
    return held
