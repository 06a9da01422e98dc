"""Pre-flight cost checks: hold work the balance, the per-run cap or the approval rule forbids."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connector.alerts.context import AlertServices
from connector.errors import ConnectorError
from connector.sources.base import Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hold:
    """Why work may not be paid for now, and the status its records show meanwhile."""

    status: str
    reason: str


def check_spend(
    services: AlertServices, quote: float, *, run_id: str | None, detail: str | None = None
) -> Hold | None:
    """Return a ``Hold`` when ``quote`` credits may not be spent now, else ``None``.

    ``detail`` itemises the quote for the hold's reason (e.g. e-mail lookups, then the
    enrichment they may lead to: an upper bound, since a lookup may miss or find a creator the
    ledger already holds).
    """
    if quote <= 0:
        return None
    costs = f"costs {quote:g} credits" + (f" ({detail})" if detail else "")
    pipeline = services.settings.pipeline
    store = services.store
    approved = run_id is not None and store.is_run_approved(run_id)
    cap = pipeline.max_credits_per_run
    if cap is not None and quote > cap and not approved:
        return _hold(
            services,
            run_id,
            quote,
            Status.AWAITING_APPROVAL,
            f"{costs}, over max_credits_per_run ({cap:g}); "
            f"approve with `connector approve {run_id}`",
            "awaiting_approval",
        )
    if pipeline.approval_over is not None and quote > pipeline.approval_over and not approved:
        return _hold(
            services,
            run_id,
            quote,
            Status.AWAITING_APPROVAL,
            f"{costs}, over approval_over ({pipeline.approval_over:g}); "
            f"approve with `connector approve {run_id}`",
            "awaiting_approval",
        )
    try:
        balance = services.enrichment.fetch_credits()
    except ConnectorError as exc:
        # Fail closed: without a balance there is no way to know the work can be paid.
        return _hold(
            services, run_id, quote, Status.AWAITING_CREDITS, f"balance unavailable: {exc}", "held"
        )
    store.save_credit_snapshot(balance.available, balance.used)
    if balance.available < quote:
        return _hold(
            services,
            run_id,
            quote,
            Status.AWAITING_CREDITS,
            f"needs {quote:g} credits{f' ({detail})' if detail else ''}, balance is "
            f"{balance.available:g}",
            "held",
        )
    return None


def _hold(
    services: AlertServices,
    run_id: str | None,
    quote: float,
    status: str,
    reason: str,
    run_status: str,
) -> Hold:
    if run_id is not None:
        services.store.hold_run(run_id, reason=reason, quote=quote, status=run_status)
    log.warning("work held", extra={"run_id": run_id, "quote": quote, "reason": reason})
    return Hold(status=status, reason=reason)
