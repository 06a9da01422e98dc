"""Creators held after a paid request that may have been billed without an answer.

After an ambiguous batch upload (a gateway 502, a timeout, a reset connection once the CSV had
left) or a single paid call in flight when its worker died, nobody knows whether
influencers.club billed the request, and asking again could pay twice. So the creator stays
reserved under a holder named for the request (``BATCH_HOLDER`` + the batch ref, or
``INTERRUPTED_HOLDER``) for ``UNCONFIRMED_HOLD``; its records get ``error`` with a message
asking a human to check the influencers.club dashboard and type ``retry``, and so does any other
record of the creator that arrives meanwhile (``HELD``). Every such record is final, so no poll,
claim or recovery job requeues it; a typed retry of any of them releases the hold
(``pipeline.retries``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import write_status
from connector.pipeline.report import CycleReport
from connector.sources.base import Status
from connector.store.models import LedgerKey, WorkItem

UNCONFIRMED_HOLD = timedelta(hours=24)
BATCH_HOLDER = "batch:"
INTERRUPTED_HOLDER = "interrupted"

INTERRUPTED = (
    "the worker stopped while this creator's paid call was in flight, so it may have been "
    "billed without an answer; type retry to enrich it again (it may cost another credit)"
)
INTERRUPTED_LOOKUP = (
    "the worker stopped while this e-mail's lookup was in flight, so it may have been billed "
    "without an answer; type retry to look it up again (it may cost another 0.05 credits)"
)
HELD = (
    "another record of this creator (or e-mail) is waiting for a decision: its paid request may "
    "have been billed without an answer; check the influencers.club dashboard, then type retry "
    "to enrich this record (it may cost another credit)"
)


def is_unconfirmed_hold(owner: str) -> bool:
    """Whether a reservation's owner is one of the holds above (not a working worker)."""
    return owner.startswith(BATCH_HOLDER) or owner == INTERRUPTED_HOLDER


def fail_held_records(
    services: PipelineServices, others: Sequence[WorkItem], report: CycleReport
) -> set[LedgerKey]:
    """Records whose creator (or e-mail) is under a hold above: a final error asking for a
    human retry, since waiting would leave them pending for a day and paying could pay twice.
    Returns the held keys."""
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
