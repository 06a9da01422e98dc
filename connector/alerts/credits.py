"""The credit report: balance history, burn rate, run-out forecast and the cost of open work."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from connector.alerts.context import AlertServices
from connector.enrich.models import PRICES
from connector.store.models import CreditSnapshot, LedgerKey

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
    queued_keys, held_keys = _unpaid_keys(services)
    price = _price(settings.pipeline.mode)
    # Rows an open batch already processed are paid for but reach the ledger only on collection.
    in_flight_paid = sum(
        b.credits_used or b.success * _price(b.mode) for b in store.fetch_open_batches()
    )
    window_start = now - history_window
    return CreditReport(
        balance=latest.available if latest else None,
        used=latest.used if latest else None,
        taken_at=latest.taken_at if latest else None,
        burn_rate_per_day=burn,
        runout_date=runout,
        queued_cost=max(0.0, len(queued_keys) * price - in_flight_paid),
        held_cost=len(held_keys) * price,
        queued_creators=len(queued_keys),
        held_creators=len(held_keys),
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


def _price(mode: str) -> float:
    return PRICES.get(mode, 1.0)


def _unpaid_keys(services: AlertServices) -> tuple[set[LedgerKey], set[LedgerKey]]:
    """Unique creators waiting and held that the ledger cannot serve (they will be paid for)."""
    store, pipeline = services.store, services.settings.pipeline
    held = {w.key for w in store.fetch_work(state="held")}
    waiting = {w.key for w in store.fetch_work(state="waiting")} - held
    if not held and not waiting:
        return set(), set()
    fresh = store.lookup_fresh(
        held | waiting,
        found_max_age=timedelta(days=pipeline.refresh_after_days),
        not_found_max_age=timedelta(days=pipeline.not_found_refresh_days),
    )
    return waiting - set(fresh), held - set(fresh)


def fetch_credit_report(services: AlertServices) -> CreditReport:
    """Read the balance (a free call), store it with ``credits_used`` and build the report."""
    balance = services.enrichment.fetch_credits()
    services.store.save_credit_snapshot(balance.available, balance.used)
    return build_credit_report(services)
