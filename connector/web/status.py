"""The facts the dashboard and the JSON API show: sources, batches, credits, runs and alerts."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from connector.alerts.credits import CreditReport, build_credit_report
from connector.services import Services
from connector.store import Batch, Delivery, Run

CHART_WINDOW = timedelta(days=30)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def build_source_rows(services: Services) -> list[dict[str, Any]]:
    """One row per configured source: type, poll state, pause and work counts by state."""
    states = services.store.fetch_source_states()
    rows = []
    for config in services.settings.sources:
        state = states.get(config.name, {})
        rows.append(
            {
                "name": config.name,
                "type": config.type,
                "enabled": config.enabled,
                "poll_interval": config.poll_interval,
                "last_poll_at": _iso(state.get("last_poll_at")),
                "last_ok_at": _iso(state.get("last_ok_at")),
                "last_error": state.get("last_error"),
                "failing_since": _iso(state.get("failing_since")),
                "paused": bool(state.get("paused_at")),
                "paused_at": state.get("paused_at"),
                "counts": services.store.count_work_by_state(config.name),
            }
        )
    return rows


def build_batch_row(batch: Batch) -> dict[str, Any]:
    """A batch as JSON-ready fields, with its progress share."""
    row = {key: _iso(value) for key, value in asdict(batch).items()}
    row["progress"] = round(batch.progress, 4)
    return row


def build_run_row(run: Run) -> dict[str, Any]:
    """A run as JSON-ready fields."""
    return {key: _iso(value) for key, value in asdict(run).items()}


def build_delivery_row(delivery: Delivery) -> dict[str, Any]:
    """An alert delivery as JSON-ready fields (the payload stays out of listings)."""
    row = {key: _iso(value) for key, value in asdict(delivery).items()}
    row.pop("payload", None)
    return row


def get_credit_report(services: Services, window: timedelta = CHART_WINDOW) -> CreditReport:
    """The credit report from stored facts (no network call), with ``window`` of history."""
    return build_credit_report(services, history_window=window)


def build_status(services: Services) -> dict[str, Any]:
    """Everything ``GET /api/status`` answers."""
    store = services.store
    credits = get_credit_report(services).as_dict()
    credits.pop("history", None)
    return {
        "ok": True,
        "now": services.clock().isoformat(),
        "sources": build_source_rows(services),
        "batches": [build_batch_row(b) for b in store.fetch_open_batches()],
        "credits": credits,
        "held_runs": [build_run_row(r) for r in store.fetch_held_runs()],
        "outbox": {
            "pending": store.count_outbox(),
            "failing": len(store.fetch_failing_writes()),
        },
    }
