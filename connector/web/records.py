"""A run's records as the dashboard, the JSON API and the CSV export show them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connector.services import Services
from connector.store import RecordEvent, Run
from connector.web.links import build_record_link
from connector.web.status import build_run_row

RECORD_COLUMNS = (
    "id",
    "run_id",
    "source",
    "location",
    "link",
    "handle",
    "platform",
    "route",
    "credits",
    "status",
    "error",
    "fields",
    "at",
)
# Credits are summed from floats (discovery pays 0.01 a creator): equal within this.
TOLERANCE = 1e-6


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_record_row(services: Services, event: RecordEvent) -> dict[str, Any]:
    """One record event as JSON-ready fields, with a link to where the record lives."""
    link = build_record_link(services.settings, event.source, event.location)
    return {
        "id": event.id,
        "run_id": event.run_id,
        "source": event.source,
        "location": event.location,
        "link": link.url,
        "link_note": link.note,
        "handle": event.handle,
        "platform": event.platform,
        "route": event.route,
        "credits": event.credits,
        "status": event.status,
        "error": event.error,
        "fields": dict(event.fields),
        "at": _iso(event.created_at),
    }


def build_run_detail(
    services: Services, run: Run, *, offset: int = 0, limit: int = 100, steps: bool = False
) -> dict[str, Any]:
    """The run, one page of its records, and whether their credits add up to the run's.

    One row per record unless ``steps``: then also the free steps a later one superseded
    (held before it was enriched).
    """
    store = services.store
    total, credits = store.count_run_records(run.run_id, steps=steps)
    events = store.fetch_run_records(run.run_id, offset=offset, limit=limit, steps=steps)
    following = offset + len(events)
    return {
        "run": build_run_row(run),
        "records": [build_record_row(services, e) for e in events],
        "steps": steps,
        "total": total,
        "offset": offset,
        "limit": limit,
        "next_offset": following if following < total else None,
        "records_credits": round(credits, 6),
        "adds_up": abs(credits - run.credits_spent) <= TOLERANCE,
        "in_flight": len(store.fetch_work(run_id=run.run_id, state="waiting")),
    }


def build_record_csv_rows(
    services: Services, events: Iterable[RecordEvent]
) -> Iterable[dict[str, Any]]:
    """The export rows of ``events`` (fields written as one JSON object per row)."""
    for event in events:
        row = build_record_row(services, event)
        row["fields"] = json.dumps(row["fields"], ensure_ascii=False, sort_keys=True)
        yield row
