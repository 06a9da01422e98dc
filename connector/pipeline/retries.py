"""Human retries of records whose paid request may have been billed: release the hold, go on.

After an ambiguous batch upload (a gateway 502, a timeout, a reset connection once the CSV had
left), or a single paid call in flight when its worker died, the records get ``error`` asking a
human to check the influencers.club dashboard and type ``retry``, and their creators stay held
(under the batch's name, or ``INTERRUPTED_HOLDER``) for ``UNCONFIRMED_HOLD`` so that nothing
pays for them again on its own. A record that got that error coming back pending is that human
decision (a typed ``retry``, or ``connector retry``): its creator's hold is released so the
record is enriched again, accepting that the first request may have been billed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from connector.pipeline.batches import UNCONFIRMED_HOLDER
from connector.pipeline.context import PipelineServices
from connector.pipeline.recovery import INTERRUPTED, INTERRUPTED_HOLDER
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
        if owner.startswith(UNCONFIRMED_HOLDER) or owner == INTERRUPTED_HOLDER
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
    if holder == INTERRUPTED_HOLDER:
        return item.error == INTERRUPTED
    return f"{UNCONFIRMED_HOLDER}{item.batch_ref}" == holder
