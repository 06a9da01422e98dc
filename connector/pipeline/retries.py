"""Human retries of records whose creator is held (``pipeline.holds``): release it, go on.

A held record coming back pending is the human decision (a typed ``retry``, or ``connector
retry``): its creator's hold is released so the record is enriched again, accepting that the
first request may have been billed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from connector.pipeline.context import PipelineServices
from connector.pipeline.holds import (
    BATCH_HOLDER,
    HELD,
    INTERRUPTED,
    INTERRUPTED_HOLDER,
    is_unconfirmed_hold,
)
from connector.store.models import LedgerKey, NewWork, WorkItem

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
    wanted = {(r.identity, LedgerKey(*r.key)) for r in records if r.source == source}
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
        return item.error == INTERRUPTED
    return f"{BATCH_HOLDER}{item.batch_ref}" == holder
