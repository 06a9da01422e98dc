"""Record events: what the pipeline did to each record of a run, and what that record cost.

The credit of a paid answer goes to the one record that paid for it, on the run the store
credited (the cycle's run for single calls, the batch's run for batches); every other record
served the same answer gets 0 with the route ``duplicate`` (same payment) or ``cache`` (an
answer already in the ledger), on the run the record came with. So the events of a run add up
to the run's ``credits_spent``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from connector.pipeline.context import PipelineServices
from connector.sources.base import PendingRecord, RecordUpdate, Status
from connector.store.models import LedgerEntry, LedgerKey, RecordEvent, WorkItem

CACHE = "cache"
DUPLICATE = "duplicate"
SINGLE = "single"
BATCH = "batch"
EMAIL_LOOKUP = "e-mail lookup"
# The step of a record whose e-mail was matched to a creator (its enrichment follows).
EMAIL_MATCHED = "e-mail matched"


def build_item_event(
    item: WorkItem,
    *,
    run_id: str | None,
    status: str,
    route: str | None = None,
    credits: float = 0.0,
    error: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> RecordEvent:
    """The event of one work item."""
    return RecordEvent(
        run_id=run_id,
        source=item.source,
        status=status,
        record_key=item.record_key,
        identity=item.identity,
        location=item.location,
        handle=item.handle_value,
        platform=item.key.platform,
        route=route,
        credits=credits,
        error=error or None,
        fields=dict(fields or {}),
    )


def build_orphan_event(
    services: PipelineServices,
    key: LedgerKey,
    entry: LedgerEntry,
    *,
    run_id: str | None,
    route: str,
) -> RecordEvent:
    """A paid answer no waiting record took (another job served them first, or they went).

    Written so the run's events still add up to what it was credited.
    """
    run = services.store.get_run(run_id) if run_id else None
    return RecordEvent(
        run_id=run_id,
        source=run.source if run is not None else "",
        status=Status.ENRICHED if entry.outcome == "found" else Status.NOT_FOUND,
        handle=key.handle_key,
        platform=key.platform,
        route=route,
        credits=entry.credits_cost,
        error="paid for records another job had already served",
    )


def build_invalid_events(
    run_id: str | None,
    source: str,
    records: Sequence[PendingRecord],
    invalid: Sequence[RecordUpdate],
) -> list[RecordEvent]:
    """Events of the records whose handle cannot be parsed (no answer, no cost)."""
    by_key = {r.key: r for r in records}
    events = []
    for update in invalid:
        record = by_key.get(update.key)
        events.append(
            RecordEvent(
                run_id=run_id,
                source=source,
                # "invalid handle: why" or "invalid e-mail: why": the kind is the status.
                status=update.status.partition(":")[0].strip() or Status.INVALID,
                record_key=update.key,
                identity=record.identity if record else "",
                location=record.location if record else "",
                handle=update.handle_text or "",
                error=update.error or update.status,
            )
        )
    return events


def save_lookup_events(
    services: PipelineServices, paid: Mapping[LedgerKey, float], run_id: str | None
) -> None:
    """The e-mail lookups just paid for, each on one record waiting for it (run ``run_id``).

    The record then goes on to its creator, whose enrichment is a later event of its own.
    """
    if not paid:
        return
    waiting = services.store.fetch_work_for_keys(paid, states=("waiting",))
    payers: dict[LedgerKey, WorkItem] = {}
    for item in waiting:
        current = payers.get(item.key)
        if current is None or (current.run_id != run_id and item.run_id == run_id):
            payers[item.key] = item
    events = []
    for key, cost in sorted(paid.items()):
        payer = payers.get(key)
        event = (
            build_item_event(payer, run_id=run_id, status=EMAIL_MATCHED)
            if payer is not None
            else build_orphan_lookup(services, key, run_id=run_id)
        )
        events.append(replace(event, platform=None, route=EMAIL_LOOKUP, credits=cost))
    save_events(services, events)


def build_orphan_lookup(
    services: PipelineServices, key: LedgerKey, *, run_id: str | None
) -> RecordEvent:
    """A paid e-mail lookup no waiting record took (kept so the run still adds up)."""
    run = services.store.get_run(run_id) if run_id else None
    return RecordEvent(
        run_id=run_id,
        source=run.source if run is not None else "",
        status=EMAIL_MATCHED,
        handle=key.handle_key,
        error="paid for records another job had already moved on",
    )


def save_events(services: PipelineServices, events: Iterable[RecordEvent]) -> None:
    """Store the events in one insert."""
    services.store.save_record_events(list(events))


def save_held_events(services: PipelineServices, run_id: str | None, source: str) -> None:
    """Events of the records run ``run_id`` holds (awaiting approval or credits)."""
    if run_id is None:
        return
    store = services.store
    held = store.fetch_work(source=source, state="held", run_id=run_id)
    run = store.get_run(run_id)
    approval = run is not None and run.status in ("awaiting_approval", "approved")
    status = Status.AWAITING_APPROVAL if approval else Status.AWAITING_CREDITS
    save_events(
        services, (build_item_event(w, run_id=run_id, status=status, error=w.error) for w in held)
    )
