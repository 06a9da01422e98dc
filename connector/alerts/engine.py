"""Alert dispatch: the scheduled credit check, one message per state change, the event hook."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connector.alerts.channels import Channel, SendResult, build_channels, send_to_all
from connector.alerts.context import AlertServices
from connector.alerts.credits import (
    CreditReport,
    build_credit_report,
    fetch_credit_report,
    iso_time,
)
from connector.alerts.messages import Alert
from connector.alerts.rules import Decision, Measurement, Observations, evaluate_rules
from connector.enrich.models import PRICES
from connector.errors import AuthError, ConnectorError

log = logging.getLogger(__name__)

PAUSED = "paused_insufficient_credits"
_CHECK_EVENTS = {"work_held", "batch_paused", "run_finished"}


def build_alert_id(rule: str, state: str, kind: str, at: datetime) -> str:
    """A deterministic message id: the same transition always gets the same id."""
    digest = hashlib.sha256(f"{rule}|{state}|{kind}|{at.isoformat()}".encode()).hexdigest()
    return f"msg_{digest[:26]}"


_TITLES = {
    "low_balance": "Low influencers.club credits",
    "forecast": "Credits run out soon",
    "work_cost": "Queued work costs more than the balance",
    "batch_paused": "Batch paused: insufficient credits",
    "approval": "Runs await approval",
    "api_key": "influencers.club API key rejected",
}


def get_rule_label(rule: str) -> str:
    """What a rule watches, as a person reads it (``Source failing: leads`` for sources)."""
    if rule in _TITLES:
        return _TITLES[rule]
    kind, _, name = rule.partition(":")
    return f"Source failing: {name}" if kind == "source" and name else rule


def build_alert(
    measurement: Measurement,
    decision: Decision,
    report: CreditReport,
    *,
    now: datetime,
    dashboard_url: str | None,
) -> Alert:
    """The message for one decision."""
    kind = {"reminder": "alert.reminder"}.get(decision.action, "alert.firing")
    if decision.action == "transition" and decision.state == "ok":
        kind = "alert.resolved"
    label = get_rule_label(measurement.rule)
    prefix = {
        "alert.resolved": "Resolved",
        "alert.reminder": f"Still {decision.state}",
    }.get(kind, decision.state.upper())
    return Alert(
        id=build_alert_id(measurement.rule, decision.state, kind, now),
        type=kind,
        rule=measurement.rule,
        state=decision.state,
        previous_state=decision.previous,
        title=f"{prefix}: {label}",
        text=measurement.summary,
        occurred_at=now,
        value=_finite(measurement.value),
        threshold=measurement.threshold,
        credits={
            k: v
            for k, v in report.as_dict().items()
            if k not in ("history", "held_runs", "thresholds")
        },
        held=[r.as_dict() for r in report.held_runs],
        details=dict(measurement.details),
        dashboard_url=dashboard_url,
    )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def build_dashboard_url(services: AlertServices) -> str | None:
    """The dashboard's address, when ``public_base_url`` is set."""
    base = services.settings.public_base_url
    return f"{base.rstrip('/')}/" if base else None


def dispatch(
    services: AlertServices,
    channels: Sequence[Channel],
    evaluated: Sequence[tuple[Measurement, Decision]],
    report: CreditReport,
) -> list[Alert]:
    """Win the store's compare-and-set for each due message, send it, log every delivery."""
    store, now = services.store, services.clock()
    sent = []
    for measurement, decision in evaluated:
        value = _finite(measurement.value)
        if decision.action == "transition":
            won = store.transition_alert(decision.rule, decision.previous, decision.state, value)
        elif decision.action == "reminder":
            won = store.touch_alert_reminder(decision.rule, decision.last_sent_at)
            store.save_alert_value(decision.rule, value)
        else:
            if measurement.target is not None and decision.previous != "ok":
                store.save_alert_value(decision.rule, value)
            continue
        if not won:
            continue
        alert = build_alert(
            measurement, decision, report, now=now, dashboard_url=build_dashboard_url(services)
        )
        log.warning(
            "alert",
            extra={"rule": alert.rule, "state": alert.state, "type": alert.type, "id": alert.id},
        )
        record_deliveries(services, alert, send_to_all(channels, alert))
        sent.append(alert)
    return sent


def record_deliveries(
    services: AlertServices, alert: Alert, results: Sequence[tuple[Channel, SendResult]]
) -> None:
    """Write one delivery-log row per channel (what was sent where, and how it went)."""
    for channel, result in results:
        services.store.save_delivery(
            channel.name, alert.rule, alert.state, alert.as_payload(), result.ok, result.detail
        )


class AlertEngine:
    """The alert rules bound to one ``AlertServices``; also the event hook the pipeline calls."""

    def __init__(self, services: AlertServices, channels: Sequence[Channel] | None = None) -> None:
        self.services = services
        self.channels = (
            list(channels) if channels is not None else build_channels(services.settings.alerts)
        )

    def observe(
        self, report: CreditReport, *, auth_checked: bool, auth_error: str | None
    ) -> Observations:
        """Gather the store facts the rules need besides the credit report."""
        store = self.services.store
        paused = [
            (b.batch_id or b.ref, max(0, b.total - b.processed) * PRICES.get(b.mode, 1.0))
            for b in store.fetch_open_batches()
            if b.status == PAUSED
        ]
        return Observations(
            report=report,
            source_states=store.fetch_source_states(),
            paused_batches=paused,
            auth_checked=auth_checked,
            auth_error=auth_error,
        )

    def evaluate(
        self, report: CreditReport, *, auth_error: str | None, auth_checked: bool = True
    ) -> list[Alert]:
        """Evaluate every rule against ``report`` and send what is due."""
        observations = self.observe(report, auth_checked=auth_checked, auth_error=auth_error)
        states = self.services.store.get_alert_states()
        evaluated = evaluate_rules(
            observations, self.services.settings.credits, states, self.services.clock()
        )
        return dispatch(self.services, self.channels, evaluated, report)

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        """Turn a pipeline event into a rule evaluation."""
        if kind == "fatal_error" and data.get("error_type") == AuthError.__name__:
            self.evaluate(build_credit_report(self.services), auth_error=str(data.get("error")))
            return
        if kind not in _CHECK_EVENTS and kind != "fatal_error":
            return
        if kind == "run_finished" and data.get("records") == 0:
            return  # an idle poll spent nothing; the scheduled check covers it
        try:
            report = fetch_credit_report(self.services)
        except AuthError as exc:
            self.evaluate(build_credit_report(self.services), auth_error=str(exc))
            return
        except ConnectorError as exc:
            log.warning("balance unavailable for alert rules", extra={"error": str(exc)})
            self.evaluate(build_credit_report(self.services), auth_error=None, auth_checked=False)
            return
        self.evaluate(report, auth_error=None)


def install_alerts(
    services: AlertServices, channels: Sequence[Channel] | None = None
) -> AlertEngine:
    """Register the alert engine as an event hook (once) and return it."""
    for hook in services.event_hooks:
        if isinstance(hook, AlertEngine):
            return hook
    engine = AlertEngine(services, channels)
    services.event_hooks.append(engine)
    return engine


def get_alert_engine(services: AlertServices) -> AlertEngine:
    """The engine installed on ``services`` (installed now if missing)."""
    return install_alerts(services)


def send_test_alert(
    services: AlertServices, channels: Sequence[Channel] | None = None
) -> list[tuple[Channel, SendResult]]:
    """Send a clearly labelled test message to every channel and log the deliveries."""
    engine = get_alert_engine(services)
    targets = list(channels) if channels is not None else engine.channels
    now = services.clock()
    report = build_credit_report(services)
    alert = Alert(
        id=build_alert_id("test", "ok", "alert.test", now),
        type="alert.test",
        rule="test",
        state="ok",
        previous_state="ok",
        title="TEST: influencers.club connector alert channel check",
        text="This is a test message sent by `connector alerts test`; no action is needed.",
        occurred_at=now,
        credits={
            k: v
            for k, v in report.as_dict().items()
            if k not in ("history", "held_runs", "thresholds")
        },
        held=[r.as_dict() for r in report.held_runs],
        dashboard_url=build_dashboard_url(services),
    )
    results = send_to_all(targets, alert)
    record_deliveries(services, alert, results)
    return results


def check_credits(services: AlertServices) -> CreditReport:
    """The scheduled check: read and store the balance, evaluate every rule, send alerts.

    A rejected API key fires the ``api_key`` rule and is re-raised; other errors propagate
    (the scheduler logs them and tries again at the next tick).
    """
    engine = get_alert_engine(services)
    try:
        report = fetch_credit_report(services)
    except AuthError as exc:
        engine.evaluate(build_credit_report(services), auth_error=str(exc))
        raise
    engine.evaluate(report, auth_error=None)
    log.info(
        "credits checked",
        extra={
            "balance": report.balance,
            "burn_rate_per_day": report.burn_rate_per_day,
            "runout_date": iso_time(report.runout_date),
            "queued_cost": report.queued_cost,
            "held_cost": report.held_cost,
        },
    )
    return report
