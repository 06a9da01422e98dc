"""Stopping work after a fatal error: hold or fail what no answer or open batch covers."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from connector.errors import FatalError, OutOfCreditsError
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import get_fresh, get_fresh_emails, mark_records, write_status
from connector.pipeline.holds import UNCONFIRMED_HOLD
from connector.pipeline.report import CycleReport
from connector.pipeline.singles import UnsavedResultError
from connector.sources.base import Status
from connector.store.models import LedgerKey, WorkItem, get_email_key

log = logging.getLogger(__name__)


def stop_work(
    services: PipelineServices,
    error: FatalError,
    owned: set[LedgerKey],
    owner: str,
    report: CycleReport,
    *,
    unreserved: Sequence[WorkItem] = (),
) -> None:
    """After a ``FatalError``, settle every owned creator no answer or open batch covers.

    Out of credits holds their records (``awaiting credits``, released by the credits job);
    any other fatal error fails them. A paid answer that could not be saved keeps its
    reservation, stretched for a day, so that no worker pays for that creator again meanwhile.
    ``unreserved`` are items of this cycle not reserved yet (creators waiting for the e-mail
    lookups the error stopped); they are settled the same way.
    """
    store = services.store
    report.error = str(error)
    log.error("work stopped", extra={"source": report.source, "error": str(error)})
    services.notify(
        "fatal_error", source=report.source, error=str(error), error_type=type(error).__name__
    )
    kept = set(error.keys) if isinstance(error, UnsavedResultError) else set()
    answered = set(get_fresh(services, owned)) | {
        get_email_key(e) for e in get_fresh_emails(services, {k.handle_key for k in owned})
    }
    open_keys = owned - kept - answered - store.fetch_batched_keys(owned)
    store.release(open_keys, owner)
    if kept:
        store.extend(kept, owner, UNCONFIRMED_HOLD)
    items = store.fetch_work_for_keys(open_keys | kept, states=("waiting",))
    items += [w for w in unreserved if w.id not in {i.id for i in items}]
    if isinstance(error, OutOfCreditsError):
        store.set_work_state([w.id for w in items], "held", error=str(error))
        report.held += len(items)
        if report.run_id is not None:
            store.hold_run(report.run_id, reason=str(error), quote=report.quote)
        mark_records(services, items, Status.AWAITING_CREDITS)
    else:
        store.set_work_state([w.id for w in items], "failed", error=str(error))
        write_status(services, items, Status.ERROR, str(error))
