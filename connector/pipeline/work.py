"""Routing work: serve it from the ledger, hold it, or reserve it and send it to the API."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from connector.enrich.models import BATCH_TIERS, get_price
from connector.errors import FatalError
from connector.pipeline.batches import submit_batches
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import (
    deliver,
    get_answers,
    get_fresh,
    get_lease,
    hand_back,
    mark_records,
)
from connector.pipeline.emails import look_up_emails, quote_lookups, resolve_from_ledger
from connector.pipeline.holds import fail_held_records
from connector.pipeline.lease import LeaseKeeper
from connector.pipeline.report import CycleReport
from connector.pipeline.singles import enrich_singles
from connector.pipeline.stops import stop_work
from connector.sources.base import Status
from connector.store.models import LedgerKey, WorkItem, is_email_key


def build_owner(services: PipelineServices) -> str:
    """A reservation owner for one unit of work.

    Jobs of one worker run in parallel threads; a per-process owner would let two of them
    "re-take" each other's reservations (the takeover of one's own lease) and pay twice.
    """
    return f"{services.worker_id}/{uuid.uuid4().hex[:8]}"


def process_work(services: PipelineServices, work: Sequence[WorkItem], report: CycleReport) -> None:
    """Serve work from the ledger, hold or reserve the rest, and route it to the API.

    Records identified by e-mail first get their creator: from the e-mail ledger, else by a
    lookup (single calls, which move them on in this same call, or a batch, whose records move
    on when it is collected). The pre-flight quote covers the lookups and, as an upper bound,
    the enrichment they may lead to.
    """
    if not work:
        return
    report.duplicates += len(work) - len({w.key for w in work})
    work = resolve_from_ledger(services, work, report)
    lookups = [w for w in work if is_email_key(w.key)]
    pending = _serve_fresh(services, [w for w in work if not is_email_key(w.key)], report)
    if not pending and not lookups:
        return
    if services.stopping.is_set():
        hand_back(services, [*pending, *lookups])
        return
    if _hold_if_needed(services, pending, lookups, report):
        return
    owner = build_owner(services)
    if lookups:
        try:
            found = look_up_emails(services, lookups, report, owner, unsent=pending)
        finally:
            services.store.release_work([w.id for w in lookups], owner)
        if found is None:
            return
        pending += _serve_fresh(services, found, report)
    if pending:
        enrich_creators(services, pending, report, owner)


def _serve_fresh(
    services: PipelineServices, work: Sequence[WorkItem], report: CycleReport
) -> list[WorkItem]:
    """Serve what the ledger answers (at 0 credits); return the items that must be paid for."""
    if not work:
        return []
    fresh = get_answers(services, work)
    served = [w for w in work if w.key in fresh]
    if served:
        report.cached += len({w.key for w in served})
        deliver(services, served, fresh, report, paid=set())
    return [w for w in work if w.key not in fresh]


def _hold_if_needed(
    services: PipelineServices,
    pending: Sequence[WorkItem],
    lookups: Sequence[WorkItem],
    report: CycleReport,
) -> bool:
    """Quote the creators to pay for and the e-mails to look up; hold everything if refused."""
    creators = sum(get_price(k.mode) for k in {w.key for w in pending})
    lookup_cost, followup = quote_lookups(services, lookups)
    report.quote += creators + lookup_cost + followup
    report.quote_lookups += lookup_cost
    report.quote_followup += followup
    detail = None
    if lookups:
        emails = len({w.key for w in lookups})
        detail = (
            f"{lookup_cost:g} for {emails} e-mail lookup(s), up to {followup:g} to enrich the "
            f"creators they find, {creators:g} for creators already known"
        )
    hold = services.check_spend(report.quote, run_id=report.run_id, detail=detail)
    if hold is None:
        return False
    held = [*pending, *lookups]
    services.store.set_work_state([w.id for w in held], "held", error=hold.reason)
    report.held += len(held)
    mark_records(services, held, hold.status)
    services.notify(
        "work_held",
        source=report.source,
        reason=hold.reason,
        quote=report.quote,
        run_id=report.run_id,
    )
    return True


def enrich_creators(
    services: PipelineServices, pending: Sequence[WorkItem], report: CycleReport, owner: str
) -> None:
    """Reserve the creators ``pending`` waits for and send them by tier and platform.

    Per (platform, tier): at least ``batch_threshold`` unique creators go to a batch (Raw and
    Full; the batch API has no Profile mode, so Profile creators always go one by one), fewer
    to concurrent single calls.
    """
    store, settings = services.store, services.settings
    misses = sorted({w.key for w in pending})
    owned = store.reserve(misses, owner=owner, lease=get_lease(services))
    held = fail_held_records(services, [w for w in pending if w.key not in owned], report)
    report.waiting += sum(1 for w in pending if w.key not in owned and w.key not in held)
    if not owned:
        return
    values = {w.key: w.handle_value for w in pending}
    groups: dict[tuple[str, str], list[LedgerKey]] = defaultdict(list)
    for key in sorted(owned):
        groups[(key.platform, key.mode)].append(key)
    stopped: FatalError | None = None
    # A short lease lets others take over quickly after a crash; the keeper stretches it for
    # as long as this worker is alive and still working on the keys.
    with LeaseKeeper(store, owned, owner, get_lease(services)):
        mark_records(services, [w for w in pending if w.key in owned], Status.ENRICHING)
        for (platform, mode), keys in groups.items():
            if services.stopping.is_set():
                break
            items = [(k, values[k]) for k in keys]
            try:
                if len(keys) >= settings.pipeline.batch_threshold and mode in BATCH_TIERS:
                    report.routes["batch"] += len(keys)
                    submit_batches(
                        services, platform, items, run_id=report.run_id, owner=owner, mode=mode
                    )
                else:
                    report.routes["single"] += len(keys)
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
