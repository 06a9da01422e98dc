"""What needs a human now: active alerts, records in error, held runs, failing sources, balance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from connector.alerts.credits import CreditReport
from connector.alerts.engine import AlertEngine, get_rule_label
from connector.alerts.rules import SEVERITY, measure_rules
from connector.services import Services
from connector.sources.base import Status
from connector.store import RecordEvent
from connector.web.records import build_record_row

# Records whose latest event says one of these wait for a human (``retry`` retries itself).
NEEDS_ATTENTION = (Status.ERROR, Status.INVALID, Status.INVALID_EMAIL)
ERROR_WINDOW = timedelta(days=30)
MAX_RECORDS = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_error_groups(services: Services, events: Sequence[RecordEvent]) -> list[dict[str, Any]]:
    """Records in error grouped by status and error text, largest group first."""
    groups: dict[tuple[str, str], list[RecordEvent]] = {}
    for event in events:
        groups.setdefault((event.status, event.error or ""), []).append(event)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [
        {
            "status": status,
            "error": error,
            "count": len(group),
            "ids": [e.id for e in group],
            "records": [build_record_row(services, e) for e in group],
        }
        for (status, error), group in ordered
    ]


def build_active_alerts(services: Services, report: CreditReport) -> list[dict[str, Any]]:
    """Rules not ``ok``, each with the sentence its last message carried (or says now)."""
    store = services.store
    states = {rule: s for rule, s in store.get_alert_states().items() if s.state != "ok"}
    if not states:
        return []
    sent = store.fetch_last_deliveries(states)
    observations = AlertEngine(services, channels=[]).observe(
        report, auth_checked=False, auth_error=None
    )
    now_says = {
        m.rule: m.summary
        for m in measure_rules(observations, services.settings.credits, states, services.clock())
    }
    alerts = []
    for rule, state in sorted(states.items(), key=lambda i: (-SEVERITY.get(i[1].state, 0), i[0])):
        delivery = sent.get(rule)
        payload = delivery.payload or {} if delivery is not None else {}
        delivered = delivery is not None and delivery.state == state.state
        alerts.append(
            {
                "rule": rule,
                "state": state.state,
                "since": _iso(state.since),
                "title": get_rule_label(rule),
                "text": (payload.get("text") if delivered else None) or now_says.get(rule, ""),
                "sent_at": _iso(delivery.sent_at) if delivered and delivery else None,
            }
        )
    return alerts


def build_balance(report: CreditReport) -> dict[str, Any]:
    """The balance against its thresholds: ``ok``, ``warn`` or ``critical``."""
    level = "ok"
    if report.balance is not None:
        for rung in report.thresholds:
            below_it = report.balance < float(rung["below"])
            if below_it and SEVERITY.get(rung["level"], 0) > SEVERITY[level]:
                level = rung["level"]
    return {
        "value": report.balance,
        "taken_at": _iso(report.taken_at),
        "level": level,
        "thresholds": list(report.thresholds),
    }


def build_attention(services: Services, report: CreditReport) -> dict[str, Any]:
    """Everything the "Needs attention" panel shows, JSON-ready."""
    store = services.store
    since = services.clock() - ERROR_WINDOW
    errors = store.fetch_records_in(NEEDS_ATTENTION, since=since, limit=MAX_RECORDS)
    states = store.fetch_source_states()
    failing = [
        {
            "name": name,
            "error": state.get("last_error"),
            "failing_since": _iso(state.get("failing_since")),
        }
        for name, state in states.items()
        if state.get("failing_since") is not None
    ]
    held = [
        {
            "run_id": r.run_id,
            "source": r.source,
            "status": r.status,
            "quote": r.quote,
            "reason": r.hold_reason,
            "started_at": _iso(r.started_at),
        }
        for r in store.fetch_held_runs()
    ]
    return {
        "alerts": build_active_alerts(services, report),
        "errors": build_error_groups(services, errors),
        "error_records": len(errors),
        "held_runs": held,
        "failing_sources": failing,
        "balance": build_balance(report),
    }
