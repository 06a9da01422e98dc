"""Write payloads for sheet sources: RAW cell values, batched value ranges and grid growth."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from connector.sources.sheets.cells import cell_range, cell_text

MAX_CELL_CHARS = 50_000
TRUNCATED_MARKER = " …[truncated by connector]"
PAYLOAD_LIMIT_BYTES = 1_800_000


def fit_cell(value: Any) -> Any:
    """A value ready for a RAW write: numbers stay numbers, text is capped at 50,000 chars."""
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        text = ", ".join(cell_text(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - len(TRUNCATED_MARKER)] + TRUNCATED_MARKER
    return text


def build_value_ranges(title: str, cells: Mapping[tuple[int, int], Any]) -> list[dict[str, Any]]:
    """``values:batchUpdate`` entries for ``{(row, column): value}``; adjacent cells share one."""
    entries: list[dict[str, Any]] = []
    run: list[Any] = []
    start: tuple[int, int] | None = None
    previous: tuple[int, int] | None = None
    for row, column in sorted(cells):
        if (
            previous is not None
            and start is not None
            and (row != previous[0] or column != previous[1] + 1)
        ):
            entries.append({"range": cell_range(title, *start, len(run)), "values": [run]})
            run, start = [], None
        if start is None:
            start = (row, column)
        run.append(fit_cell(cells[(row, column)]))
        previous = (row, column)
    if start is not None:
        entries.append({"range": cell_range(title, *start, len(run)), "values": [run]})
    return entries


def chunk_by_size(
    entries: Sequence[dict[str, Any]], limit: int = PAYLOAD_LIMIT_BYTES
) -> list[list[dict[str, Any]]]:
    """Split entries into requests whose JSON body stays under ``limit`` bytes."""
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = len(json.dumps(entry, ensure_ascii=False).encode()) + 2
        if current and size + entry_size > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        chunks.append(current)
    return chunks


def format_timestamp(value: datetime) -> str:
    """An enriched-at cell: UTC, to the second, readable and sortable as text."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def build_append_columns(sheet_id: int, count: int) -> dict[str, Any]:
    """A ``spreadsheets:batchUpdate`` body adding ``count`` columns at the right (relative)."""
    grow = {"sheetId": sheet_id, "dimension": "COLUMNS", "length": count}
    return {"requests": [{"appendDimension": grow}]}
