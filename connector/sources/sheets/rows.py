"""Pure row logic for sheet sources: header layouts, snapshots, pending rows and row updates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.errors import SourceError
from connector.sources.base import PendingRecord, RecordUpdate, Status
from connector.sources.sheets.cells import (
    cell_range,
    cell_text,
    column_index,
    column_letter,
    column_range,
    column_values,
    get_identity,
    normalise_header,
    quote_title,
    row_range,
)
from connector.sources.sheets.claims import (
    INTERIM_STATUSES,
    Claim,
    format_claim,
    format_status,
    is_pending,
    parse_claim,
)
from connector.sources.sheets.payloads import (
    MAX_CELL_CHARS,
    PAYLOAD_LIMIT_BYTES,
    TRUNCATED_MARKER,
    build_append_columns,
    build_value_ranges,
    chunk_by_size,
    fit_cell,
    format_timestamp,
)

__all__ = [
    "INTERIM_STATUSES",
    "MAX_CELL_CHARS",
    "PAYLOAD_LIMIT_BYTES",
    "TRUNCATED_MARKER",
    "Claim",
    "Layout",
    "OutputColumns",
    "Snapshot",
    "build_append_columns",
    "build_record",
    "build_update_cells",
    "build_value_ranges",
    "cell_range",
    "cell_text",
    "check_layout",
    "chunk_by_size",
    "column_index",
    "column_letter",
    "column_range",
    "column_values",
    "find_claims",
    "find_worksheet",
    "fit_cell",
    "format_claim",
    "format_status",
    "format_timestamp",
    "get_identity",
    "get_row_identity",
    "is_pending",
    "names_creator",
    "normalise_header",
    "parse_claim",
    "parse_layout",
    "plan_new_columns",
    "quote_title",
    "row_range",
    "select_pending",
    "skip_backfill",
    "statuses_by_identity",
]


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


def find_claims(snapshot: Snapshot, status_col: int | None) -> dict[str, list[int]]:
    """Claim token → the sheet rows holding it (several when someone copied a status cell)."""
    found: dict[str, list[int]] = {}
    for row in snapshot.row_numbers():
        claim = parse_claim(cell_text(snapshot.cell(status_col, row)))
        if claim is not None:
            found.setdefault(claim.token, []).append(row)
    return found


def get_row_identity(
    snapshot: Snapshot, row: int, handle_col: int | None, email_col: int | None = None
) -> str:
    """The stable identity of a row: its e-mail when the source identifies creators by e-mail
    (``email_col``) and the row has one, else its handle (both trimmed, lower-cased).

    The e-mail wins because the connector fills an empty handle from an e-mail lookup: the
    identity must not change with that write (it keys the hashes of what was written).
    """
    email = cell_text(snapshot.cell(email_col, row)) if email_col is not None else ""
    return (
        get_identity(email)
        if email.strip()
        else get_identity(cell_text(snapshot.cell(handle_col, row)))
    )


def names_creator(
    snapshot: Snapshot,
    row: int,
    handle_col: int | None,
    email_col: int | None = None,
    identify_by: str = "handle",
) -> bool:
    """Whether the row names a creator the way the source identifies them."""
    has_handle = bool(cell_text(snapshot.cell(handle_col, row)).strip())
    has_email = email_col is not None and bool(cell_text(snapshot.cell(email_col, row)).strip())
    if identify_by == "email":
        return has_email
    return has_handle or (identify_by == "handle_then_email" and has_email)


def statuses_by_identity(
    snapshot: Snapshot,
    handle_col: int | None,
    status_col: int | None,
    email_col: int | None = None,
) -> dict[str, str]:
    """Status text per row identity (first row wins), to undo a claim in a moved row."""
    statuses: dict[str, str] = {}
    for row in snapshot.row_numbers():
        identity = get_row_identity(snapshot, row, handle_col, email_col)
        if identity:
            statuses.setdefault(identity, cell_text(snapshot.cell(status_col, row)))
    return statuses


def select_pending(
    snapshot: Snapshot,
    handle_col: int,
    status_col: int | None,
    *,
    now: float,
    lease: float,
    email_col: int | None = None,
    identify_by: str = "handle",
) -> tuple[list[int], float]:
    """Rows needing work, plus when the earliest live claim's lease runs out (or ``inf``)."""
    rows: list[int] = []
    next_expiry = float("inf")
    for row in snapshot.row_numbers():
        named = names_creator(snapshot, row, handle_col, email_col, identify_by)
        status = snapshot.cell(status_col, row)
        if is_pending("x" if named else "", status, now=now, lease=lease):
            rows.append(row)
        elif (claim := parse_claim(cell_text(status))) is not None:
            next_expiry = min(next_expiry, claim.claimed_at + lease)
    return rows, next_expiry


def parse_row_numbers(specs: Sequence[str]) -> list[int]:
    """Sheet row numbers from ``["7", "9-12"]`` or ``["7,9-12"]``; ``ValueError`` otherwise."""
    numbers: list[int] = []
    for spec in specs:
        for token in spec.replace(" ", ",").split(","):
            if not token:
                continue
            first, dash, last = token.partition("-")
            if not first.isdigit() or (dash and not last.isdigit()):
                raise ValueError(f"{token!r} is not a row number or range (e.g. 7 or 9-12)")
            low, high = int(first), int(last) if dash else int(first)
            if low < 1 or high < low:
                raise ValueError(f"{token!r} is not a row number or range (e.g. 7 or 9-12)")
            numbers.extend(range(low, high + 1))
    return list(dict.fromkeys(numbers))


def select_retry_rows(
    snapshot: Snapshot,
    handle_col: int,
    status_col: int | None,
    *,
    errors: bool,
    rows: Sequence[int],
    now: float,
    lease: float,
    email_col: int | None = None,
    identify_by: str = "handle",
) -> tuple[list[int], list[str]]:
    """Rows to set to ``retry``: every ``error`` row and/or the rows named; plus why others not.

    A row without a handle (or e-mail, for a source identifying creators by e-mail), or
    holding a live claim (it is being worked on), is skipped.
    """
    chosen: list[int] = []
    skipped: list[str] = []
    named = set(rows)
    for row in snapshot.row_numbers():
        status = cell_text(snapshot.cell(status_col, row)).strip()
        is_error = status.casefold() == Status.ERROR
        if not (row in named or (errors and is_error)):
            continue
        named.discard(row)
        claim = parse_claim(status)
        if not names_creator(snapshot, row, handle_col, email_col, identify_by):
            skipped.append(f"row {row}: no handle" + (" or e-mail" if email_col else ""))
        elif claim is not None and claim.claimed_at + lease > now:
            skipped.append(f"row {row}: being worked on ({claim.label})")
        else:
            chosen.append(row)
    for row in sorted(named):
        where = "the header row or above" if row < snapshot.first_row else "past the last row"
        skipped.append(f"row {row}: {where}")
    return chosen, skipped


def skip_backfill(
    snapshot: Snapshot,
    rows: list[int],
    handle_col: int,
    status_col: int | None,
    ignored: set[str],
    first_poll: bool,
    email_col: int | None = None,
) -> list[int]:
    """Drop rows that were already there at the first poll (recorded in ``ignored``).

    An ignored row comes back once its status says ``retry`` (or holds a stale claim).
    """
    kept = []
    for row in rows:
        identity = get_row_identity(snapshot, row, handle_col, email_col)
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
    status_column: str | None = None,
    email_column: str | None = None,
) -> PendingRecord:
    """The pending record of one row: raw handle text, platform and current target values.

    ``email_column``: the source identifies creators by e-mail too (the row's e-mail is read).
    """
    layout = snapshot.layout
    status_col = layout.find(status_column) if status_column else None
    status = cell_text(snapshot.cell(status_col, row)) if status_col is not None else ""
    handle_col = layout.find(handle_column) or 1
    handle = cell_text(snapshot.cell(handle_col, row))
    email_col = layout.find(email_column) if email_column else None
    if platform_column:
        platform = cell_text(snapshot.cell(layout.find(platform_column), row)).strip() or platform
    current = {t: snapshot.cell(layout.find(t), row) for t in targets}
    return PendingRecord(
        key=key,
        identity=get_row_identity(snapshot, row, handle_col, email_col),
        handle_text=handle,
        platform_text=platform,
        location=f"{title}!{column_letter(handle_col)}{row}",
        current=current,
        retry=status.strip().casefold() == Status.RETRY,
        email_text=cell_text(snapshot.cell(email_col, row)) if email_col is not None else None,
    )
