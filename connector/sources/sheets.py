"""The Google Sheets source: claims pending rows in O(1) API calls per poll, writes results back."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import gspread
from gspread.utils import extract_id_from_url

from connector.config import SheetSourceSettings
from connector.errors import ConnectorError, RetryableError, SourceError, TransientError
from connector.mapping import Mapping as MappingFile
from connector.mapping import lint_mapping
from connector.media import build_image_formulas, get_image_formula_columns
from connector.ratelimit import RateBudget
from connector.sources.base import PendingRecord, RecordUpdate, Status, WriteResult
from connector.sources.google import RetryPolicy, call_google, fetch_drive_version, get_client_email
from connector.sources.sheets_rows import (
    INTERIM_STATUSES,
    Layout,
    OutputColumns,
    Snapshot,
    build_append_columns,
    build_record,
    build_update_cells,
    build_value_ranges,
    cell_text,
    check_layout,
    chunk_by_size,
    column_range,
    column_values,
    find_claims,
    find_worksheet,
    fit_cell,
    format_claim,
    get_identity,
    parse_layout,
    plan_new_columns,
    quote_title,
    row_range,
    select_pending,
    skip_backfill,
    statuses_by_identity,
)

log = logging.getLogger(__name__)

READ_PARAMS = {"valueRenderOption": "UNFORMATTED_VALUE", "majorDimension": "ROWS"}
APPEND_PARAMS = {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}
METADATA_MAX_AGE = 60.0


class HasTargets(Protocol):
    """The part of a mapping the source needs: the ordered target column headers."""

    @property
    def targets(self) -> Sequence[str]: ...


def parse_spreadsheet_key(text: str) -> str:
    """The spreadsheet key from a Google Sheets URL or a bare key."""
    text = text.strip()
    if "/" not in text:
        return text
    try:
        return extract_id_from_url(text)
    except gspread.exceptions.NoValidUrlKeyFound as exc:
        raise SourceError(f"no spreadsheet key in {text!r}", hint="paste the sheet's URL") from exc


@dataclass(frozen=True)
class _SheetInfo:
    sheet_id: int
    title: str
    column_count: int
    fetched_at: float


@dataclass
class _ClaimState:
    identity: str
    claimed_at: float
    current: dict[str, Any] = field(default_factory=dict)


class SheetsSource:
    """One watched worksheet, read and written through gspread's low-level HTTP client.

    A poll is gated on the Drive file ``version`` (no Sheets call when nothing changed; a full
    read every ``reconcile_every`` and when a claim's lease runs out), reads the header row and
    only the needed columns in one ``values:batchGet`` and claims pending rows by writing
    ``queued ·c:<token>·<unix time>`` into their status cells in one ``values:batchUpdate``.
    Write-back re-reads the same columns, finds each row again by token and handle (rows may
    have been sorted, inserted or deleted meanwhile) and writes values, status, error and
    enriched-at in one RAW ``values:batchUpdate``.

    Status cells: empty or ``retry`` queues a row; ``queued``, ``enriching``, ``awaiting
    credits`` and ``awaiting approval`` carry the claim token and are picked again once
    ``claim_lease`` has passed; ``enriched``, ``not found``, ``invalid handle: <why>`` and
    ``error`` are final (the error column holds the reason). With ``backfill: false`` the rows
    pending at this process's first poll are remembered in memory and skipped until someone
    types ``retry`` into their status cell (a restart forgets them and ignores again).
    """

    kind = "sheets"

    def __init__(
        self,
        settings: SheetSourceSettings,
        *,
        client: gspread.Client,
        mapping: HasTargets,
        reads: RateBudget,
        writes: RateBudget,
        clock: Callable[[], datetime | float] = time.time,
        worker_id: str = "worker",
        retry: RetryPolicy | None = None,
        media_url_prefix: str | None = None,
    ) -> None:
        self.name = settings.name
        self.settings = settings
        self.spreadsheet_id = parse_spreadsheet_key(settings.spreadsheet)
        self.worker_id = worker_id
        self.client_email = get_client_email(client)
        self._http = client.http_client
        self._client = client
        self._mapping = mapping
        self._formula_columns = get_image_formula_columns(mapping)
        self._media_url_prefix = media_url_prefix
        self._reads = reads
        self._writes = writes
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._sheet: _SheetInfo | None = None
        self._layout: Layout | None = None
        self._version: int | None = None
        self._last_read = float("-inf")
        self._claims: dict[str, _ClaimState] = {}
        self._ignored: set[str] | None = None if settings.backfill else set()
        self._polled = False
        self._next_expiry = float("inf")
        self._lock = threading.RLock()
        self._statuses: dict[str, str] = {}

    # -- Source protocol -------------------------------------------------------------------

    def fetch_pending(self, *, claim: bool = True) -> list[PendingRecord]:
        """Pending rows, claimed unless ``claim=False``; no Sheets call if the file is unchanged."""
        with self._lock:
            return self._fetch_pending(claim)

    def mark(self, keys: Sequence[str], status: str, error: str = "") -> WriteResult:
        """Set the status (and error) of claimed rows; interim statuses keep the claim token."""
        return self.write_back([RecordUpdate(key=k, status=status, error=error) for k in keys])

    def write_back(self, updates: Sequence[RecordUpdate]) -> WriteResult:
        """Verify each row is still ours (token + handle), then write everything in one request."""
        if not updates:
            return WriteResult()
        with self._lock:
            return self._write_back(updates)

    def _fetch_pending(self, claim: bool) -> list[PendingRecord]:
        now = self._now()
        horizon = now - 2 * self.settings.claim_lease
        self._claims = {k: v for k, v in self._claims.items() if v.claimed_at >= horizon}
        version = self._fetch_version()
        # Leases expire without any edit, so the gate also opens when the next one runs out.
        fresh = now - self._last_read < self.settings.reconcile_every and now < self._next_expiry
        if version is not None and version == self._version and fresh:
            return []
        snapshot = self._read_snapshot()
        rows = self._select_pending(snapshot, now)
        cells = self._ensure_columns(snapshot.layout) if claim else {}
        layout = self._layout or snapshot.layout
        records: list[PendingRecord] = []
        status_col = layout.find(self.settings.status_column)
        used = set(find_claims(snapshot, status_col))
        for row in rows:
            key = f"{self._title}!{row}"
            if claim and status_col is not None:
                key = self._new_token(used)
                cells[(row, status_col)] = format_claim(Status.QUEUED, key, now)
            record = self._record(snapshot, row, key)
            if claim:
                self._claims[key] = _ClaimState(record.identity, now, dict(record.current))
            records.append(record)
        self._write_cells(cells)
        if claim:
            # Only a completed claiming poll moves the gate: a dry run or a failed claim must not.
            self._version, self._last_read = version, now
            self._statuses = statuses_by_identity(
                snapshot,
                snapshot.layout.find(self.settings.handle_column),
                snapshot.layout.find(self.settings.status_column),
            )
            if records:
                self._next_expiry = min(self._next_expiry, now + self.settings.claim_lease)
        log.info(
            "sheet polled",
            extra={"source": self.name, "worker": self.worker_id, "pending": len(records)},
        )
        return records

    def _write_back(self, updates: Sequence[RecordUpdate]) -> WriteResult:
        result = WriteResult()
        snapshot = self._read_snapshot()
        extra = [name for u in updates for name in u.values]
        cells = self._ensure_columns(snapshot.layout, extra)
        layout = self._layout or snapshot.layout
        status_col = layout.find(self.settings.status_column)
        handle_col = layout.find(self.settings.handle_column)
        rows_by_token = find_claims(snapshot, status_col)
        columns = OutputColumns.of(layout, self.settings)
        now = self._now()
        finished = []
        formulas: dict[tuple[int, int], str] = {}
        for update in updates:
            candidates = rows_by_token.get(update.key, [])
            state = self._claims.get(update.key)
            if state is not None:
                identity = state.identity
                ours = [
                    r
                    for r in candidates
                    if get_identity(cell_text(snapshot.cell(handle_col, r))) == identity
                ]
            else:
                # Outbox delivered by another process: the token alone decides, if unambiguous.
                ours = candidates if len(candidates) == 1 else []
            if not ours:
                # A handle edited under our claim: release the row so the new handle queues.
                # A claim that landed on a row sorted in before it was written: put back what
                # that row's status was when we read it.
                if state is not None and status_col is not None:
                    for row in candidates:
                        other = get_identity(cell_text(snapshot.cell(handle_col, row)))
                        cells[(row, status_col)] = self._statuses.get(other, "")
                result.missing.append(update.key)
                finished.append(update.key)
                continue
            seen = state.current if state else {}
            cells.update(build_update_cells(snapshot, columns, ours[0], update, seen, now))
            formulas.update(self._formula_cells(layout, ours[0], update))
            result.written.append(update.key)
            if update.status not in INTERIM_STATUSES:
                finished.append(update.key)
        self._write_cells(cells)
        # The one USER_ENTERED write: only =IMAGE("<our own media URL>") ever goes through it.
        self._write_cells(formulas, input_option="USER_ENTERED")
        for key in finished:
            self._claims.pop(key, None)
        return result

    def check(self) -> list[str]:
        """Problems with access, headers and the mapping, for ``connector sources check``."""
        try:
            with self._lock:
                self._sheet = None
                layout = self._read_layout()
        except ConnectorError as exc:
            return [f"{self.name}: {exc}"]
        where = f"{self.name}: worksheet {self._title!r} header row {self.settings.header_row}"
        problems = check_layout(
            layout,
            where=where,
            handle_column=self.settings.handle_column,
            platform_column=self.settings.platform_column,
            wanted=self._column_names(),
        )
        problems.extend(f"{self.name}: {p}" for p in self._lint_mapping(layout))
        return problems

    def _now(self) -> float:
        value = self._clock()
        return value.timestamp() if isinstance(value, datetime) else float(value)

    # -- discovery destination -------------------------------------------------------------

    def fetch_handles(self) -> list[tuple[str, str | None]]:
        """``(handle text, platform text)`` of every row with a handle, top to bottom."""
        with self._lock:
            snapshot = self._read_snapshot()
        layout = snapshot.layout
        handle_col = layout.find(self.settings.handle_column)
        if handle_col is None:
            return []
        platform_col = (
            layout.find(self.settings.platform_column) if self.settings.platform_column else None
        )
        found = []
        for row in snapshot.row_numbers():
            handle = cell_text(snapshot.cell(handle_col, row)).strip()
            if handle:
                platform = (
                    cell_text(snapshot.cell(platform_col, row)).strip() if platform_col else ""
                )
                found.append((handle, platform or self.settings.platform))
        return found

    def append_rows(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Append rows below the table, each value put under the header of the same name.

        Missing columns are created first (as write-back does). The append is one RAW
        ``values:append`` anchored at the header row with ``INSERT_ROWS``, so it never overwrites
        cells; it is not idempotent, so it is retried only when Google cannot have applied it.
        """
        if not rows:
            return 0
        with self._lock:
            layout = self._read_layout()
            names = list(dict.fromkeys(str(name) for row in rows for name in row))
            self._write_cells(self._ensure_columns(layout, names))
            layout = self._layout or layout
            width = max(c for c in (layout.find(n) for n in names) if c is not None)
            values = [[""] * width for _ in rows]
            for line, row in zip(values, rows, strict=True):
                for name, value in row.items():
                    column = layout.find(str(name))
                    if column is not None:
                        line[column - 1] = fit_cell(value)
            anchor = f"{quote_title(self._title)}!A{self.settings.header_row}"
            body = {"majorDimension": "ROWS", "values": values}
            self._call(
                lambda: self._http.values_append(
                    self.spreadsheet_id, anchor, dict(APPEND_PARAMS), dict(body)
                ),
                self._writes,
                idempotent=False,
            )
        log.info("sheet rows appended", extra={"source": self.name, "rows": len(rows)})
        return len(rows)

    # -- reads -----------------------------------------------------------------------------

    @property
    def _title(self) -> str:
        return self._sheet.title if self._sheet else self.settings.worksheet

    def _call(
        self, fn: Callable[[], Any], budget: RateBudget | None, *, idempotent: bool = True
    ) -> Any:
        try:
            return call_google(
                fn,
                policy=self._retry,
                budget=budget,
                what=f"spreadsheet {self.spreadsheet_id}",
                client_email=self.client_email,
                idempotent=idempotent,
            )
        except SourceError:
            # A renamed tab or moved grid shows up as a 400: reload metadata and headers next time.
            self._sheet, self._layout = None, None
            raise

    def _fetch_version(self) -> int | None:
        try:
            return fetch_drive_version(self._client, self.spreadsheet_id, policy=self._retry)
        except (SourceError, RetryableError, KeyError, ValueError) as exc:
            log.warning(
                "drive version unavailable; reading the sheet",
                extra={"source": self.name, "error": str(exc)},
            )
            return None

    def _get_sheet(self, *, max_age: float | None = None) -> _SheetInfo:
        now = self._now()
        if self._sheet is not None and (max_age is None or now - self._sheet.fetched_at <= max_age):
            return self._sheet
        metadata = self._call(
            lambda: self._http.fetch_sheet_metadata(self.spreadsheet_id), self._reads
        )
        match = find_worksheet(metadata, self.settings.worksheet, self.spreadsheet_id)
        grid = match.get("gridProperties", {})
        self._sheet = _SheetInfo(
            int(match.get("sheetId", 0)), str(match["title"]), int(grid.get("columnCount", 26)), now
        )
        return self._sheet

    def _batch_get(self, ranges: list[str]) -> list[Mapping[str, Any]]:
        response = self._call(
            lambda: self._http.values_batch_get(
                self.spreadsheet_id, list(ranges), params=dict(READ_PARAMS)
            ),
            self._reads,
        )
        value_ranges = list(response.get("valueRanges", []))
        if len(value_ranges) != len(ranges):
            raise TransientError(
                f"spreadsheet {self.spreadsheet_id}: batchGet returned "
                f"{len(value_ranges)} ranges for {len(ranges)}"
            )
        return value_ranges

    def _read_layout(self) -> Layout:
        sheet = self._get_sheet()
        header = self._batch_get([row_range(sheet.title, self.settings.header_row)])[0]
        self._layout = parse_layout((header.get("values") or [[]])[0])
        return self._layout

    def _column_names(self) -> list[str]:
        s = self.settings
        names = [s.handle_column, s.status_column, s.error_column, s.enriched_at_column]
        if s.platform_column:
            names.append(s.platform_column)
        return names + list(self._mapping.targets)

    def _read_columns(self, layout: Layout) -> list[int]:
        s = self.settings
        names = [s.handle_column, s.platform_column or "", s.status_column, *self._mapping.targets]
        found = (layout.find(n) for n in names if n)
        return sorted({c for c in found if c is not None})

    def _read_snapshot(self) -> Snapshot:
        """Header row plus needed columns in one read, using the header positions seen last."""
        first_row = self.settings.header_row + 1
        for _ in range(3):
            layout = self._layout or self._read_layout()
            title = self._get_sheet().title
            columns = self._read_columns(layout)
            ranges = [row_range(title, self.settings.header_row)]
            ranges += [column_range(title, c, first_row) for c in columns]
            value_ranges = self._batch_get(ranges)
            fresh = parse_layout((value_ranges[0].get("values") or [[]])[0])
            self._layout = fresh
            # Data is keyed by column index, so a moved column only matters if it was not read.
            if set(self._read_columns(fresh)) <= set(columns):
                data = {c: column_values(v) for c, v in zip(columns, value_ranges[1:], strict=True)}
                return Snapshot(fresh, first_row, data)
        raise TransientError(f"{self.name}: the header row kept changing while being read")

    def _select_pending(self, snapshot: Snapshot, now: float) -> list[int]:
        handle_col = snapshot.layout.find(self.settings.handle_column)
        if handle_col is None:
            raise SourceError(
                f"{self.name}: handle column {self.settings.handle_column!r} not found in "
                f"header row {self.settings.header_row} of {self._title!r}",
                hint="rename the column or set handle_column",
            )
        status_col = snapshot.layout.find(self.settings.status_column)
        rows, self._next_expiry = select_pending(
            snapshot, handle_col, status_col, now=now, lease=self.settings.claim_lease
        )
        if self._ignored is None:
            return rows
        first_poll, self._polled = not self._polled, True
        return skip_backfill(snapshot, rows, handle_col, status_col, self._ignored, first_poll)

    def _record(self, snapshot: Snapshot, row: int, key: str) -> PendingRecord:
        s = self.settings
        return build_record(
            snapshot,
            row,
            key,
            title=self._title,
            handle_column=s.handle_column,
            platform_column=s.platform_column,
            platform=s.platform,
            targets=self._mapping.targets,
        )

    def _new_token(self, used: set[str]) -> str:
        while True:
            token = secrets.token_hex(5)
            if token not in used and token not in self._claims:
                used.add(token)
                return token

    # -- writes ----------------------------------------------------------------------------

    def _ensure_columns(
        self, layout: Layout, extra: Sequence[str] = ()
    ) -> dict[tuple[int, int], Any]:
        """Plan missing output columns; grow the grid relatively (never shrink it) if needed."""
        s = self.settings
        names = [
            s.status_column,
            s.error_column,
            s.enriched_at_column,
            *self._mapping.targets,
            *self._formula_columns.values(),
            *extra,
        ]
        planned = plan_new_columns(layout, names)
        if not planned:
            return {}
        sheet = self._get_sheet(max_age=METADATA_MAX_AGE)
        needed = max(planned.values()) - sheet.column_count
        if needed > 0:
            body = build_append_columns(sheet.sheet_id, needed)
            # Relative growth never shrinks a sheet a user widened; a repeat only adds spares.
            self._call(
                lambda: self._http.batch_update(self.spreadsheet_id, dict(body)),
                self._writes,
                idempotent=False,
            )
            self._sheet = _SheetInfo(
                sheet.sheet_id, sheet.title, sheet.column_count + needed, sheet.fetched_at
            )
        headers = list(layout.headers) + [""] * (max(planned.values()) - layout.width)
        for name, column in planned.items():
            headers[column - 1] = name
        self._layout = parse_layout(headers)
        log.info("sheet columns added", extra={"source": self.name, "columns": list(planned)})
        return {(s.header_row, column): name for name, column in planned.items()}

    def _formula_cells(
        self, layout: Layout, row: int, update: RecordUpdate
    ) -> dict[tuple[int, int], str]:
        if not self._formula_columns or not update.values:
            return {}
        texts = build_image_formulas(
            update.values, self._formula_columns, allowed_prefix=self._media_url_prefix
        )
        cells = {}
        for name, text in texts.items():
            column = layout.find(name)
            if column is not None:
                cells[(row, column)] = text
        return cells

    def _write_cells(
        self, cells: Mapping[tuple[int, int], Any], *, input_option: str = "RAW"
    ) -> None:
        if not cells:
            return
        for chunk in chunk_by_size(build_value_ranges(self._title, cells)):
            self._call(self._batch_update_values(chunk, input_option), self._writes)

    def _batch_update_values(
        self, chunk: list[dict[str, Any]], input_option: str = "RAW"
    ) -> Callable[[], Any]:
        def send() -> Any:
            body = {"valueInputOption": input_option, "data": [dict(e) for e in chunk]}
            return self._http.values_batch_update(self.spreadsheet_id, body)

        return send

    def _lint_mapping(self, layout: Layout) -> list[str]:
        if not isinstance(self._mapping, MappingFile):
            return []
        return lint_mapping(
            self._mapping, dict.fromkeys(h for h in layout.headers if h), creates_missing=True
        )
