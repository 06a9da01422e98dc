"""Credit usage by source and by day (UTC), from the runs that spent or saved credits."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from connector.store import Run

USAGE_COLUMNS = ("date", "source", "runs", "records", "credits_spent", "credits_saved")
# A cell starting with one of these is a formula to Excel and Sheets: exported text is defused.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def build_usage_rows(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """One row per UTC day and source, oldest day first, sources by name."""
    totals: dict[tuple[date, str], dict[str, Any]] = {}
    for run in runs:
        key = (run.started_at.date(), run.source)
        row = totals.setdefault(
            key,
            {
                "date": key[0].isoformat(),
                "source": run.source,
                "runs": 0,
                "records": 0,
                "credits_spent": 0.0,
                "credits_saved": 0.0,
            },
        )
        row["runs"] += 1
        row["records"] += run.records
        row["credits_spent"] = round(row["credits_spent"] + run.credits_spent, 6)
        row["credits_saved"] = round(row["credits_saved"] + run.credits_saved, 6)
    return [totals[k] for k in sorted(totals)]


def build_usage_summary(
    rows: Sequence[dict[str, Any]], *, today: date, days: int
) -> dict[str, Any]:
    """Totals by day (every day of the window, zeros included) and by source."""
    by_day: dict[str, float] = {
        (today - timedelta(days=n)).isoformat(): 0.0 for n in range(days - 1, -1, -1)
    }
    by_source: dict[str, dict[str, float]] = defaultdict(lambda: {"spent": 0.0, "saved": 0.0})
    for row in rows:
        if row["date"] in by_day:
            by_day[row["date"]] = round(by_day[row["date"]] + row["credits_spent"], 6)
        totals = by_source[row["source"]]
        totals["spent"] = round(totals["spent"] + row["credits_spent"], 6)
        totals["saved"] = round(totals["saved"] + row["credits_saved"], 6)
    return {
        "by_day": [{"date": d, "credits_spent": v} for d, v in by_day.items()],
        "by_source": [
            {"source": name, "credits_spent": t["spent"], "credits_saved": t["saved"]}
            for name, t in sorted(by_source.items(), key=lambda i: (-i[1]["spent"], i[0]))
        ],
        "total_spent": round(sum(by_day.values()), 6),
    }


def defuse(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def build_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    """CSV text with a header row; text cells that look like formulas are defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([defuse(_cell(row.get(c))) for c in columns])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return value
