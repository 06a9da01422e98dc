"""The credit report: balance history, burn rate, run-out forecast and the cost of open work."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from connector.alerts.context import AlertServices
from connector.enrich.models import get_price
from connector.store.models import EMAIL, CreditSnapshot, LedgerKey, WorkItem, is_email_key

log = logging.getLogger(__name__)

BURN_WINDOW = timedelta(days=7)
DAY = 86400.0
RUNOUT_HORIZON_DAYS = 36_500


@dataclass(frozen=True)
class HeldRun:
    """A run waiting for credits or an approval."""

    run_id: str
    source: str
    status: str
    quote: float | None
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "run_id": self.run_id,
            "source": self.source,
            "status": self.status,
            "quote": self.quote,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CreditReport:
    """What the credit check knows: balance, burn, forecast and the cost of work not yet paid."""

    balance: float | None
    used: float | None
    taken_at: datetime | None
    burn_rate_per_day: float | None
    runout_date: datetime | None
    queued_cost: float
    held_cost: float
    queued_creators: int = 0
    held_creators: int = 0
    # Records identified by e-mail and not yet looked up: the lookups, and the enrichment of
    # the creators they may find (an upper bound). Both are included in the costs above.
    queued_emails: int = 0
    held_emails: int = 0
    queued_lookup_cost: float = 0.0
    held_lookup_cost: float = 0.0
    queued_followup_cost: float = 0.0
    held_followup_cost: float = 0.0
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    held_runs: list[HeldRun] = field(default_factory=list)
    now: datetime | None = None

    @property
    def days_left(self) -> float | None:
        """Days until the projected run-out (None without a forecast)."""
        if self.runout_date is None or self.now is None:
            return None
        return max(0.0, (self.runout_date - self.now).total_seconds() / DAY)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (datetimes as ISO 8601 strings)."""
        return {
            "balance": self.balance,
            "used": self.used,
            "taken_at": iso_time(self.taken_at),
            "burn_rate_per_day": self.burn_rate_per_day,
            "runout_date": iso_time(self.runout_date),
            "days_left": self.days_left,
            "queued_cost": self.queued_cost,
            "held_cost": self.held_cost,
            "queued_creators": self.queued_creators,
            "held_creators": self.held_creators,
            "queued_emails": self.queued_emails,
            "held_emails": self.held_emails,
            "queued_lookup_cost": self.queued_lookup_cost,
            "held_lookup_cost": self.held_lookup_cost,
            "queued_followup_cost": self.queued_followup_cost,
            "held_followup_cost": self.held_followup_cost,
            "thresholds": list(self.thresholds),
            "held_runs": [r.as_dict() for r in self.held_runs],
            "history": list(self.history),
        }


def iso_time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def apply_spend(previous: CreditSnapshot, current: CreditSnapshot) -> float:
    """Credits spent between two snapshots; a top-up never counts as negative spend.

    ``used`` only grows with spending, so its increase is exact when both snapshots have it;
    the fall of ``available`` is the fallback (and the larger figure wins when both exist).
    """
    spent = max(0.0, previous.available - current.available)
    if previous.used is not None and current.used is not None:
        spent = max(spent, current.used - previous.used)
    return spent


def apply_burn_rate(history: Sequence[CreditSnapshot], *, min_history: timedelta) -> float | None:
    """Credits per day over ``history`` (oldest first); None when it spans less than
    ``min_history``."""
    if len(history) < 2:
        return None
    span = (history[-1].taken_at - history[0].taken_at).total_seconds()
    if span <= 0 or span < min_history.total_seconds():
        return None
    spent = sum(apply_spend(a, b) for a, b in pairwise(history))
    return spent * DAY / span


def apply_runout(balance: float, burn_rate_per_day: float | None, now: datetime) -> datetime | None:
    """When the balance reaches zero at the given burn rate (None when nothing is burning)."""
    if burn_rate_per_day is None or burn_rate_per_day <= 0:
        return None
    days = max(0.0, balance) / burn_rate_per_day
    # Past the horizon (and long before datetime overflows) a forecast means "never".
    if days > RUNOUT_HORIZON_DAYS:
        return None
    return now + timedelta(days=days)


def build_credit_report(
    services: AlertServices, *, history_window: timedelta = BURN_WINDOW
) -> CreditReport:
    """The report from stored facts only (latest snapshot, history, work); no network call."""
    settings, store = services.settings, services.store
    now = services.clock()
    history = store.fetch_credit_history(since=now - max(history_window, BURN_WINDOW))
    burn_history = [s for s in history if s.taken_at >= now - BURN_WINDOW]
    latest = history[-1] if history else _latest_snapshot(services)
    burn = apply_burn_rate(
        burn_history, min_history=timedelta(seconds=settings.credits.min_history)
    )
    runout = apply_runout(latest.available, burn, now) if latest is not None else None
    queued, held = _unpaid_work(services)
    queued_cost, held_cost = _cost(services, queued), _cost(services, held)
    # Rows an open batch already processed are paid for but reach the ledger only on collection.
    in_flight_paid = sum(
        b.credits_used or b.success * get_price(b.mode) for b in store.fetch_open_batches()
    )
    window_start = now - history_window
    return CreditReport(
        balance=latest.available if latest else None,
        used=latest.used if latest else None,
        taken_at=latest.taken_at if latest else None,
        burn_rate_per_day=burn,
        runout_date=runout,
        queued_cost=max(0.0, queued_cost.total - in_flight_paid),
        held_cost=held_cost.total,
        queued_creators=queued_cost.creators,
        held_creators=held_cost.creators,
        queued_emails=queued_cost.emails,
        held_emails=held_cost.emails,
        queued_lookup_cost=queued_cost.lookups,
        held_lookup_cost=held_cost.lookups,
        queued_followup_cost=queued_cost.followup,
        held_followup_cost=held_cost.followup,
        thresholds=[
            {"level": rung.level, "below": rung.below} for rung in settings.credits.low_balance
        ],
        history=[
            {"taken_at": s.taken_at.isoformat(), "available": s.available, "used": s.used}
            for s in history
            if s.taken_at >= window_start
        ],
        held_runs=[
            HeldRun(r.run_id, r.source, r.status, r.quote, r.hold_reason)
            for r in store.fetch_held_runs()
        ],
        now=now,
    )


def _latest_snapshot(services: AlertServices) -> CreditSnapshot | None:
    history = services.store.fetch_credit_history()
    return history[-1] if history else None


@dataclass(frozen=True)
class _Cost:
    creators: int = 0
    creator_cost: float = 0.0
    emails: int = 0
    lookups: float = 0.0
    followup: float = 0.0

    @property
    def total(self) -> float:
        return self.creator_cost + self.lookups + self.followup


def _cost(services: AlertServices, items: list[WorkItem]) -> _Cost:
    """What ``items`` will cost: unique creators at their tier's price; unique e-mails at the
    lookup price plus, as an upper bound, the priciest tier their sources may enrich in."""
    creators = {w.key for w in items if not is_email_key(w.key)}
    followup: dict[str, float] = {}
    for item in items:
        if is_email_key(item.key):
            price = _followup_price(services, item.source)
            followup[item.key.handle_key] = max(followup.get(item.key.handle_key, 0.0), price)
    return _Cost(
        creators=len(creators),
        creator_cost=sum(get_price(k.mode) for k in creators),
        emails=len(followup),
        lookups=len(followup) * get_price(EMAIL),
        followup=sum(followup.values()),
    )


def _followup_price(services: AlertServices, source: str) -> float:
    """The priciest tier a source may enrich a creator in (``auto`` may choose Full)."""
    settings = services.settings
    config = next((s for s in settings.sources if s.name == source), None)
    mode = (config.mode if config is not None else None) or settings.pipeline.mode
    return get_price("full" if mode == "auto" else mode)


def _unpaid_work(services: AlertServices) -> tuple[list[WorkItem], list[WorkItem]]:
    """Waiting and held items whose creator (or e-mail) no fresh answer serves yet."""
    store, pipeline = services.store, services.settings.pipeline
    held = store.fetch_work(state="held")
    held_keys = {w.key for w in held}
    waiting = [w for w in store.fetch_work(state="waiting") if w.key not in held_keys]
    if not held and not waiting:
        return [], []
    every = held + waiting
    fresh: set[LedgerKey] = set(
        store.lookup_fresh(
            {w.key for w in every if not is_email_key(w.key)},
            found_max_age=timedelta(days=pipeline.refresh_after_days),
            not_found_max_age=timedelta(days=pipeline.not_found_refresh_days),
        )
    )
    answered = store.lookup_fresh_emails(
        {w.key.handle_key for w in every if is_email_key(w.key)},
        found_max_age=timedelta(days=pipeline.refresh_after_days),
        not_found_max_age=timedelta(days=pipeline.not_found_refresh_days),
    )

    def unpaid(item: WorkItem) -> bool:
        if is_email_key(item.key):
            return item.key.handle_key not in answered
        return item.key not in fresh

    return [w for w in waiting if unpaid(w)], [w for w in held if unpaid(w)]


def fetch_credit_report(services: AlertServices) -> CreditReport:
    """Read the balance (a free call), store it with ``credits_used`` and build the report."""
    balance = services.enrichment.fetch_credits()
    services.store.save_credit_snapshot(balance.available, balance.used)
    return build_credit_report(services)
