"""Pure row and column logic for sheet sources: headers, A1 ranges, claims and write payloads."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from connector.errors import SourceError
from connector.sources.base import PendingRecord, RecordUpdate, Status

MAX_CELL_CHARS = 50_000
TRUNCATED_MARKER = " …[truncated by connector]"
PAYLOAD_LIMIT_BYTES = 1_800_000
INTERIM_STATUSES = frozenset(
    {Status.QUEUED, Status.ENRICHING, Status.AWAITING_CREDITS, Status.AWAITING_APPROVAL}
)
_CLAIM = re.compile(r"^(?P<label>.*?)\s*·c:(?P<token>[0-9a-f]{6,32})·(?P<ts>\d{1,12})\s*$")


def column_letter(index: int) -> str:
    """A1 letters of a 1-based column index (1 → A, 27 → AA, 703 → AAA)."""
    if index < 1:
        raise ValueError(f"column index must be >= 1, got {index}")
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """1-based column index of A1 letters (A → 1, AA → 27)."""
    if not letters or not letters.isalpha() or not letters.isascii():
        raise ValueError(f"not column letters: {letters!r}")
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index


def quote_title(title: str) -> str:
    """The worksheet title as an A1 sheet reference, always quoted (``'Bob''s'``)."""
    return "'" + title.replace("'", "''") + "'"


def row_range(title: str, row: int) -> str:
    """A whole row, e.g. ``'Leads'!1:1``."""
    return f"{quote_title(title)}!{row}:{row}"


def column_range(title: str, column: int, first_row: int) -> str:
    """An open-ended column from ``first_row`` down, e.g. ``'Leads'!B2:B``."""
    letter = column_letter(column)
    return f"{quote_title(title)}!{letter}{first_row}:{letter}"


def cell_range(title: str, row: int, column: int, width: int = 1) -> str:
    """One cell, or ``width`` adjacent cells in a row."""
    start = f"{column_letter(column)}{row}"
    if width == 1:
        return f"{quote_title(title)}!{start}"
    return f"{quote_title(title)}!{start}:{column_letter(column + width - 1)}{row}"


def normalise_header(value: Any) -> str:
    """Header text as matched: trimmed and case-insensitive."""
    return cell_text(value).strip().casefold()


def cell_text(value: Any) -> str:
    """A read cell value as text (numbers and booleans as a human would type them)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def get_identity(handle_text: str) -> str:
    """The stable identity of a row: its trimmed, lower-cased handle text."""
    return handle_text.strip().lower()


def column_values(value_range: Mapping[str, Any]) -> list[Any]:
    """The cells of a one-column ``ValueRange`` read by rows; empty rows become ``""``."""
    return [row[0] if row else "" for row in value_range.get("values", [])]


@dataclass(frozen=True)
class Layout:
    """Where each header sits: normalised header name → 1-based column (first one wins)."""

    headers: tuple[str, ...]
    positions: Mapping[str, int]

    def find(self, name: str) -> int | None:
        """The column of header ``name`` (trimmed, case-insensitive), or None."""
        return self.positions.get(normalise_header(name))

    def duplicates(self) -> list[str]:
        """Header names that appear more than once."""
        seen: dict[str, int] = {}
        for header in self.headers:
            key = normalise_header(header)
            if key:
                seen[key] = seen.get(key, 0) + 1
        return [name for name, count in seen.items() if count > 1]

    @property
    def width(self) -> int:
        """Columns up to the last non-empty header cell."""
        return len(self.headers)


def parse_layout(header_row: Sequence[Any]) -> Layout:
    """Build a ``Layout`` from the header row's cells (ragged rows are fine)."""
    headers = [cell_text(v).strip() for v in header_row]
    while headers and not headers[-1]:
        headers.pop()
    positions: dict[str, int] = {}
    for index, header in enumerate(headers, start=1):
        key = header.casefold()
        if key and key not in positions:
            positions[key] = index
    return Layout(tuple(headers), positions)


def plan_new_columns(layout: Layout, names: Iterable[str]) -> dict[str, int]:
    """Columns to create for ``names`` missing from ``layout``, appended after the last header."""
    planned: dict[str, int] = {}
    next_column = layout.width + 1
    for name in names:
        key = normalise_header(name)
        if not key or layout.find(name) is not None or key in map(normalise_header, planned):
            continue
        planned[name.strip()] = next_column
        next_column += 1
    return planned


@dataclass(frozen=True)
class Claim:
    """A claim written into a status cell: the readable label, a token and the unix time."""

    label: str
    token: str
    claimed_at: int


def format_claim(label: str, token: str, claimed_at: float) -> str:
    """The status cell text of a claim, e.g. ``queued ·c:9f2a1b7c0d·1732540000``."""
    return f"{label} ·c:{token}·{int(claimed_at)}"


def parse_claim(status: str) -> Claim | None:
    """The claim in a status cell, or None when the cell holds no claim."""
    match = _CLAIM.match(status.strip())
    if not match:
        return None
    return Claim(match.group("label").strip(), match.group("token"), int(match.group("ts")))


def is_pending(handle: Any, status: Any, *, now: float, lease: float) -> bool:
    """A row needs work: a handle and an empty status, ``retry``, or a claim past its lease."""
    if not cell_text(handle).strip():
        return False
    text = cell_text(status).strip()
    if not text or text.casefold() == "retry":
        return True
    claim = parse_claim(text)
    return claim is not None and claim.claimed_at + lease <= now


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


@dataclass(frozen=True)
class Snapshot:
    """The header layout plus the columns read in one poll, from ``first_row`` down."""

    layout: Layout
    first_row: int
    columns: Mapping[int, list[Any]]

    def cell(self, column: int | None, row: int) -> Any:
        """The value at 1-based ``row`` of ``column`` (``""`` when not read or past the end)."""
        values = self.columns.get(column, []) if column is not None else []
        offset = row - self.first_row
        return values[offset] if 0 <= offset < len(values) else ""

    def row_numbers(self) -> range:
        """Sheet row numbers covered by the longest column read."""
        height = max((len(v) for v in self.columns.values()), default=0)
        return range(self.first_row, self.first_row + height)


def format_status(status: str, key: str, error: str, now: float) -> str:
    """Status cell text: interim statuses keep the claim token, final ones are plain words."""
    if status in INTERIM_STATUSES:
        return format_claim(status, key, now)
    if status == Status.INVALID and error:
        return f"{Status.INVALID}: {error}"
    return status


def format_timestamp(value: datetime) -> str:
    """An enriched-at cell: UTC, to the second, readable and sortable as text."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def find_claims(snapshot: Snapshot, status_col: int | None) -> dict[str, list[int]]:
    """Claim token → the sheet rows holding it (several when someone copied a status cell)."""
    found: dict[str, list[int]] = {}
    for row in snapshot.row_numbers():
        claim = parse_claim(cell_text(snapshot.cell(status_col, row)))
        if claim is not None:
            found.setdefault(claim.token, []).append(row)
    return found


def statuses_by_identity(
    snapshot: Snapshot, handle_col: int | None, status_col: int | None
) -> dict[str, str]:
    """Status text per handle identity (first row wins), to undo a claim in a moved row."""
    statuses: dict[str, str] = {}
    for row in snapshot.row_numbers():
        identity = get_identity(cell_text(snapshot.cell(handle_col, row)))
        if identity:
            statuses.setdefault(identity, cell_text(snapshot.cell(status_col, row)))
    return statuses


def select_pending(
    snapshot: Snapshot, handle_col: int, status_col: int | None, *, now: float, lease: float
) -> tuple[list[int], float]:
    """Rows needing work, plus when the earliest live claim's lease runs out (or ``inf``)."""
    rows: list[int] = []
    next_expiry = float("inf")
    for row in snapshot.row_numbers():
        handle, status = snapshot.cell(handle_col, row), snapshot.cell(status_col, row)
        if is_pending(handle, status, now=now, lease=lease):
            rows.append(row)
        elif (claim := parse_claim(cell_text(status))) is not None:
            next_expiry = min(next_expiry, claim.claimed_at + lease)
    return rows, next_expiry


def skip_backfill(
    snapshot: Snapshot,
    rows: list[int],
    handle_col: int,
    status_col: int | None,
    ignored: set[str],
    first_poll: bool,
) -> list[int]:
    """Drop rows that were already there at the first poll (recorded in ``ignored``).

    An ignored row comes back once its status says ``retry`` (or holds a stale claim).
    """
    kept = []
    for row in rows:
        identity = get_identity(cell_text(snapshot.cell(handle_col, row)))
        untouched = not cell_text(snapshot.cell(status_col, row)).strip()
        if first_poll and untouched:
            ignored.add(identity)
        elif not (untouched and identity in ignored):
            ignored.discard(identity)
            kept.append(row)
    return kept


@dataclass(frozen=True)
class OutputColumns:
    """Where a write-back goes: mapped targets plus the status, error and enriched-at columns."""

    layout: Layout
    status: int | None
    error: int | None
    enriched_at: int | None

    @classmethod
    def of(cls, layout: Layout, settings: Any) -> OutputColumns:
        """Resolve the configured column names of a sheet source against ``layout``."""
        return cls(
            layout,
            layout.find(settings.status_column),
            layout.find(settings.error_column),
            layout.find(settings.enriched_at_column),
        )


def build_update_cells(
    snapshot: Snapshot,
    columns: OutputColumns,
    row: int,
    update: RecordUpdate,
    seen: Mapping[str, Any],
    now: float,
) -> dict[tuple[int, int], Any]:
    """Cells to write for one verified row; ``seen`` holds the target values read at claim time."""
    cells: dict[tuple[int, int], Any] = {}
    for target, value in update.values.items():
        column = columns.layout.find(target)
        if column is None:
            continue
        if target in seen and cell_text(snapshot.cell(column, row)) != cell_text(seen[target]):
            # Edited by a human since we read it: their value wins over this write.
            continue
        cells[(row, column)] = value
    if columns.status is not None:
        cells[(row, columns.status)] = format_status(update.status, update.key, update.error, now)
    if columns.error is not None:
        cells[(row, columns.error)] = update.error
    if columns.enriched_at is not None and update.enriched_at is not None:
        cells[(row, columns.enriched_at)] = format_timestamp(update.enriched_at)
    return cells


def find_worksheet(metadata: Mapping[str, Any], title: str, spreadsheet_id: str) -> dict[str, Any]:
    """The properties of worksheet ``title`` (exact, else trimmed case-insensitive match)."""
    sheets = [dict(s.get("properties", {})) for s in metadata.get("sheets", [])]
    wanted = title.strip().casefold()
    match = next((p for p in sheets if p.get("title") == title), None) or next(
        (p for p in sheets if str(p.get("title", "")).strip().casefold() == wanted), None
    )
    if match is None:
        titles = ", ".join(repr(p.get("title")) for p in sheets) or "none"
        raise SourceError(
            f"worksheet {title!r} not found in spreadsheet {spreadsheet_id} (worksheets: {titles})"
        )
    return match


def check_layout(
    layout: Layout,
    *,
    where: str,
    handle_column: str,
    platform_column: str | None,
    wanted: Sequence[str],
) -> list[str]:
    """Header problems ``connector sources check`` reports (missing or duplicated columns)."""
    problems: list[str] = []
    known = ", ".join(repr(h) for h in layout.headers if h) or "none"
    if not layout.headers:
        problems.append(f"{where} is empty (put column names such as {handle_column!r} there)")
    elif layout.find(handle_column) is None:
        problems.append(f"{where}: handle column {handle_column!r} not found (headers: {known})")
    if platform_column and layout.find(platform_column) is None:
        problems.append(
            f"{where}: platform column {platform_column!r} not found (headers: {known})"
        )
    names = {normalise_header(n) for n in wanted}
    for name in layout.duplicates():
        if name in names:
            problems.append(
                f"{where}: column {name!r} appears more than once; the leftmost one is used"
            )
    return problems


def build_record(
    snapshot: Snapshot,
    row: int,
    key: str,
    *,
    title: str,
    handle_column: str,
    platform_column: str | None,
    platform: str | None,
    targets: Sequence[str],
) -> PendingRecord:
    """The pending record of one row: raw handle text, platform and current target values."""
    layout = snapshot.layout
    handle_col = layout.find(handle_column) or 1
    handle = cell_text(snapshot.cell(handle_col, row))
    if platform_column:
        platform = cell_text(snapshot.cell(layout.find(platform_column), row)).strip() or platform
    current = {t: snapshot.cell(layout.find(t), row) for t in targets}
    return PendingRecord(
        key=key,
        identity=get_identity(handle),
        handle_text=handle,
        platform_text=platform,
        location=f"{title}!{column_letter(handle_col)}{row}",
        current=current,
    )


def build_append_columns(sheet_id: int, count: int) -> dict[str, Any]:
    """A ``spreadsheets:batchUpdate`` body adding ``count`` columns at the right (relative)."""
    grow = {"sheetId": sheet_id, "dimension": "COLUMNS", "length": count}
    return {"requests": [{"appendDimension": grow}]}
