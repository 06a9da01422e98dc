"""Alert rules as a pure state machine: (previous state, measurement, settings, now) → decision."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from connector.alerts.credits import CreditReport
from connector.config import CreditsSettings
from connector.store.models import AlertLevel, AlertState

SEVERITY: dict[str, int] = {"ok": 0, "warn": 1, "critical": 2}
Action = Literal["none", "transition", "reminder"]


@dataclass(frozen=True)
class Measurement:
    """What one rule sees now; ``target`` None means "cannot tell", so the state is kept."""

    rule: str
    target: AlertLevel | None
    value: float | None = None
    threshold: float | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """What to do about one rule: nothing, announce a state change, or remind."""

    rule: str
    previous: AlertLevel
    state: AlertLevel
    action: Action
    last_sent_at: datetime | None = None


@dataclass(frozen=True)
class Observations:
    """Everything the rules measure, gathered from the store and the balance check."""

    report: CreditReport
    source_states: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    paused_batches: Sequence[tuple[str, float]] = ()
    auth_checked: bool = False
    auth_error: str | None = None


def apply_ladder(
    checks: Sequence[tuple[AlertLevel, float, float]], previous: str, hysteresis: float
) -> AlertLevel:
    """The level for ``(level, value, below)`` checks, most severe first, with hysteresis.

    A level fires when its value is under ``below``; once firing it only clears above
    ``below * (1 + hysteresis)``, so a value hovering at a threshold does not flap.
    """
    for level, value, below in checks:
        if value < below:
            return level
        if SEVERITY[previous] >= SEVERITY[level] and value <= below * (1 + hysteresis):
            return level
    return "ok"


def decide(
    rule: str,
    state: AlertState | None,
    target: AlertLevel | None,
    now: datetime,
    reminder_every: float | None,
) -> Decision:
    """Transition when the level changes, remind when a firing rule's reminder is due."""
    previous = _level(state.state) if state is not None else "ok"
    last_sent = state.last_sent_at if state is not None else None
    if target is not None and target != previous:
        return Decision(rule, previous, target, "transition", last_sent)
    if (
        previous != "ok"
        and reminder_every
        and last_sent is not None
        and now - last_sent >= timedelta(seconds=reminder_every)
    ):
        return Decision(rule, previous, previous, "reminder", last_sent)
    return Decision(rule, previous, previous, "none", last_sent)


def measure_low_balance(
    report: CreditReport, settings: CreditsSettings, previous: str
) -> Measurement:
    """The threshold ladder on the balance (the highest ``below`` of each level counts)."""
    ladder = _ladder(settings)
    if not ladder:
        return Measurement("low_balance", "ok", None, None, "The low-balance rule is off.")
    if report.balance is None:
        return Measurement("low_balance", None)
    balance = report.balance
    checks = [(level, balance, below) for level, below in ladder]
    target = apply_ladder(checks, previous, settings.hysteresis)
    shown: AlertLevel = target if target != "ok" else _level(previous)
    threshold = dict(ladder).get(shown)
    if target == "ok" or threshold is None:
        summary = f"The balance is {balance:,.0f} credits, back above every threshold."
    elif balance < threshold:
        summary = f"The balance is {balance:,.0f} credits, below the {target} threshold of "
        summary += f"{threshold:,.0f}."
    else:
        clears = threshold * (1 + settings.hysteresis)
        summary = f"The balance is {balance:,.0f} credits, near the {target} threshold of "
        summary += f"{threshold:,.0f} (it clears above {clears:,.0f})."
    return Measurement("low_balance", target, balance, threshold, summary)


def _level(name: str) -> AlertLevel:
    return "critical" if name == "critical" else "warn" if name == "warn" else "ok"


def _ladder(settings: CreditsSettings) -> list[tuple[AlertLevel, float]]:
    best: dict[AlertLevel, float] = {}
    for rung in settings.low_balance:
        best[rung.level] = max(best.get(rung.level, 0.0), rung.below)
    return sorted(best.items(), key=lambda item: -SEVERITY[item[0]])


def measure_forecast(report: CreditReport, settings: CreditsSettings, previous: str) -> Measurement:
    """Warn when the projected run-out falls within ``forecast_days``; critical within a day."""
    if settings.forecast_days is None:
        return Measurement("forecast", "ok", None, None, "The forecast rule is off.")
    if report.burn_rate_per_day is None:
        return Measurement("forecast", None)
    days = report.days_left
    if days is None:
        return Measurement("forecast", "ok", None, settings.forecast_days, "Nothing is burning.")
    critical = min(1.0, settings.forecast_days)
    checks: list[tuple[AlertLevel, float, float]] = [
        ("critical", days, critical),
        ("warn", days, settings.forecast_days),
    ]
    target = apply_ladder(checks, previous, settings.hysteresis)
    runout = report.runout_date.date().isoformat() if report.runout_date else "?"
    summary = (
        f"At {report.burn_rate_per_day:,.1f} credits/day the balance runs out in {days:.1f} days "
        f"(around {runout}); the forecast window is {settings.forecast_days:g} days."
    )
    return Measurement("forecast", target, days, settings.forecast_days, summary)


def measure_work_cost(
    report: CreditReport, settings: CreditsSettings, previous: str, *, paused_cost: float = 0.0
) -> Measurement:
    """Critical when held work costs more than the balance; warn when queued + held do.

    Work inside batches paused for credits (``paused_cost``) is the ``batch_paused`` rule's
    business, so it is left out here rather than announced twice.
    """
    if report.balance is None:
        return Measurement("work_cost", None)
    queued = max(0.0, report.queued_cost - paused_cost)
    total = queued + report.held_cost
    checks: list[tuple[AlertLevel, float, float]] = [
        ("critical", _coverage(report.balance, report.held_cost), 1.0),
        ("warn", _coverage(report.balance, total), 1.0),
    ]
    target = apply_ladder(checks, previous, settings.hysteresis)
    summary = (
        f"Queued work needs {queued:,.0f} credits and held work "
        f"{report.held_cost:,.0f}; the balance is {report.balance:,.0f}."
    )
    details = {"queued_creators": report.queued_creators, "held_creators": report.held_creators}
    return Measurement("work_cost", target, total, report.balance, summary, details)


def _coverage(balance: float, cost: float) -> float:
    return math.inf if cost <= 0 else balance / cost


def measure_batches(observations: Observations) -> Measurement:
    """Critical while a batch is paused for credits the balance cannot cover."""
    balance = observations.report.balance
    blocked = [
        (batch_id, needed)
        for batch_id, needed in observations.paused_batches
        if balance is None or needed > balance
    ]
    if not blocked:
        return Measurement("batch_paused", "ok", 0.0, None, "No batch is waiting for credits.")
    needed = sum(n for _, n in blocked)
    summary = (
        f"{len(blocked)} batch(es) paused with `paused_insufficient_credits`: they need "
        f"{needed:,.0f} more credits to finish; the balance is {_num(balance)}."
    )
    details = {"batches": [{"batch_id": b, "needed": n} for b, n in blocked]}
    return Measurement("batch_paused", "critical", needed, balance, summary, details)


def measure_approvals(report: CreditReport) -> Measurement:
    """Warn while runs wait for ``connector approve RUN_ID``."""
    waiting = [r for r in report.held_runs if r.status == "awaiting_approval"]
    if not waiting:
        return Measurement("approval", "ok", 0.0, None, "No run awaits approval.")
    commands = ", ".join(f"`connector approve {r.run_id}`" for r in waiting[:5])
    summary = f"{len(waiting)} run(s) await approval: {commands}."
    return Measurement("approval", "warn", float(len(waiting)), None, summary)


def measure_api_key(observations: Observations) -> Measurement:
    """Critical while influencers.club rejects the API key (401)."""
    if not observations.auth_checked:
        return Measurement("api_key", None)
    if observations.auth_error is None:
        return Measurement("api_key", "ok", None, None, "influencers.club accepts the API key.")
    summary = (
        f"influencers.club rejected the API key: {observations.auth_error}. Check "
        "influencers_club.api_key (IC_API_KEY); nothing is enriched until it is fixed."
    )
    return Measurement(
        "api_key", "critical", None, None, summary, {"error": observations.auth_error}
    )


def measure_sources(
    observations: Observations,
    settings: CreditsSettings,
    states: Mapping[str, AlertState],
    now: datetime,
) -> list[Measurement]:
    """Warn for each source failing longer than ``source_failing_after``."""
    limit = timedelta(seconds=settings.source_failing_after)
    measurements = []
    names = set(observations.source_states) | {
        rule.removeprefix("source:") for rule in states if rule.startswith("source:")
    }
    for name in sorted(names):
        state = observations.source_states.get(name, {})
        since = state.get("failing_since")
        rule = f"source:{name}"
        if since is None or now - since < limit:
            if since is None:
                measurements.append(
                    Measurement(rule, "ok", 0.0, None, f"Source {name} works again.")
                )
            else:
                measurements.append(Measurement(rule, None))
            continue
        hours = (now - since).total_seconds() / 3600
        error = str(state.get("last_error") or "unknown error")
        summary = f"Source {name} has been failing for {hours:.1f} h: {error}"
        details = {"source": name, "error": error, "failing_since": since.isoformat()}
        measurements.append(
            Measurement(rule, "warn", hours, settings.source_failing_after / 3600, summary, details)
        )
    return measurements


def _num(value: float | None) -> str:
    return "unknown" if value is None else f"{value:,.0f}"


def measure_rules(
    observations: Observations,
    settings: CreditsSettings,
    states: Mapping[str, AlertState],
    now: datetime,
) -> list[Measurement]:
    """Every rule's measurement (pure)."""

    def previous(rule: str) -> str:
        state = states.get(rule)
        return state.state if state is not None else "ok"

    report = observations.report
    return [
        measure_low_balance(report, settings, previous("low_balance")),
        measure_forecast(report, settings, previous("forecast")),
        measure_work_cost(
            report,
            settings,
            previous("work_cost"),
            paused_cost=sum(needed for _, needed in observations.paused_batches),
        ),
        measure_batches(observations),
        measure_approvals(report),
        measure_api_key(observations),
        *measure_sources(observations, settings, states, now),
    ]


def evaluate_rules(
    observations: Observations,
    settings: CreditsSettings,
    states: Mapping[str, AlertState],
    now: datetime,
) -> list[tuple[Measurement, Decision]]:
    """Measure every rule and decide, per rule, whether a message is due (pure)."""
    return [
        (m, decide(m.rule, states.get(m.rule), m.target, now, settings.reminder_every))
        for m in measure_rules(observations, settings, states, now)
    ]
