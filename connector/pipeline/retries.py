"""Human retries of records whose creator is held (``pipeline.holds``): release it, go on.

A held record coming back pending is the human decision (a typed ``retry``, or ``connector
retry``): its creator's hold is released so the record is enriched again, accepting that the
first request may have been billed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from connector.errors import InvalidHandleError
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import get_fresh_emails
from connector.pipeline.emails import get_creator_key
from connector.pipeline.holds import (
    BATCH_HOLDER,
    HELD,
    INTERRUPTED,
    INTERRUPTED_HOLDER,
    INTERRUPTED_LOOKUP,
    is_unconfirmed_hold,
)
from connector.store.models import LedgerKey, NewWork, WorkItem, is_email_key

log = logging.getLogger(__name__)


def release_retried_holds(
    services: PipelineServices, source: str, records: Sequence[NewWork]
) -> set[LedgerKey]:
    """Release the unconfirmed-upload holds of creators whose failed record came back pending.

    ``records`` are the records whose status said ``retry``. Only one that got the upload's
    error (a failed item of the same source, record and batch) releases its creator; other
    records of a held creator (a new row, a cleared status) keep waiting for the hold.
    """
    store = services.store
    wanted = _held_keys(services, source, records)
    holders = {
        key: owner
        for key, owner in store.get_reservations({key for _, key in wanted}).items()
        if is_unconfirmed_hold(owner)
    }
    if not holders:
        return set()
    released: set[LedgerKey] = set()
    for item in store.fetch_work_for_keys(holders, states=("failed",)):
        holder = holders.get(item.key)
        if (
            holder is None
            or item.source != source
            or (item.identity, item.key) not in wanted
            or not _caused_by(item, holder)
        ):
            continue
        if store.release([item.key], holder):
            released.add(item.key)
            log.warning(
                "retry of an unconfirmed batch upload: enriching again (it may be billed twice)",
                extra={
                    "source": source,
                    "record": item.location,
                    "platform": item.key.platform,
                    "handle": item.key.handle_key,
                    "batch_ref": item.batch_ref,
                },
            )
        del holders[item.key]
    return released


def _caused_by(item: WorkItem, holder: str) -> bool:
    """Whether ``item`` failed because of the request ``holder`` stands for."""
    if item.error == HELD:
        return True
    if holder == INTERRUPTED_HOLDER:
        return item.error in (INTERRUPTED, INTERRUPTED_LOOKUP)
    return f"{BATCH_HOLDER}{item.batch_ref}" == holder


def _held_keys(
    services: PipelineServices, source: str, records: Sequence[NewWork]
) -> set[tuple[str, LedgerKey]]:
    """(identity, key) pairs a retried record may have failed on: its own key, and for one
    identified by e-mail the creator its lookup named (its failed item was moved onto that
    creator before the upload failed or the call was interrupted)."""
    mine = [r for r in records if r.source == source]
    lookups = get_fresh_emails(
        services, {r.key[1] for r in mine if is_email_key(LedgerKey(*r.key))}
    )
    keys: set[tuple[str, LedgerKey]] = set()
    for record in mine:
        own = LedgerKey(*record.key)
        keys.add((record.identity, own))
        lookup = lookups.get(own.handle_key) if is_email_key(own) else None
        try:
            creator = get_creator_key(services, source, lookup) if lookup else None
        except InvalidHandleError:
            creator = None
        if creator is not None:
            keys.add((record.identity, creator))
    return keys
