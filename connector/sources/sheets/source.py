"""The Google Sheets source: claims pending rows in O(1) API calls per poll, writes results back."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import gspread
from gspread.utils import extract_id_from_url

from connector.config import SheetSourceSettings
from connector.errors import ConnectorError, RetryableError, SourceError, TransientError
from connector.mapping import Mapping as MappingFile
from connector.mapping import lint_mapping
from connector.media.urls import get_image_formula_columns
from connector.ratelimit import RateBudget
from connector.retry import RetryPolicy
from connector.sources.base import (
    PendingRecord,
    RecordUpdate,
    RetryRequest,
    Status,
    WriteResult,
)
from connector.sources.sheets.cells import column_letter, column_range, column_values, row_range
from connector.sources.sheets.claims import format_claim
from connector.sources.sheets.destination import SheetsDestination
from connector.sources.sheets.google import (
    call_google,
    fetch_drive_version,
    get_client_email,
)
from connector.sources.sheets.rows import (
    Layout,
    Snapshot,
    build_record,
    check_layout,
    find_claims,
    find_worksheet,
    parse_layout,
    parse_row_numbers,
    select_pending,
    select_retry_rows,
    skip_backfill,
    statuses_by_identity,
)
from connector.sources.sheets.state import ClaimState, HasTargets, SheetInfo
from connector.sources.sheets.writes import SheetsWrites

log = logging.getLogger(__name__)

READ_PARAMS = {"valueRenderOption": "UNFORMATTED_VALUE", "majorDimension": "ROWS"}


def parse_spreadsheet_key(text: str) -> str:
    """The spreadsheet key from a Google Sheets URL or a bare key."""
    text = text.strip()
    if "/" not in text:
        return text
    try:
        return extract_id_from_url(text)
    except gspread.exceptions.NoValidUrlKeyFound as exc:
        raise SourceError(f"no spreadsheet key in {text!r}", hint="paste the sheet's URL") from exc


class SheetsSource(SheetsWrites, SheetsDestination):
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
        self._sheet: SheetInfo | None = None
        self._layout: Layout | None = None
        self._version: int | None = None
        self._last_read = float("-inf")
        self._claims: dict[str, ClaimState] = {}
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
                self._claims[key] = ClaimState(record.identity, now, dict(record.current))
            records.append(record)
        self._write_cells(cells)
        if claim:
            # Only a completed claiming poll moves the gate: a dry run or a failed claim must not.
            self._version, self._last_read = version, now
            self._statuses = statuses_by_identity(
                snapshot,
                snapshot.layout.find(self.settings.handle_column),
                snapshot.layout.find(self.settings.status_column),
                self._email_col(snapshot.layout),
            )
            if records:
                self._next_expiry = min(self._next_expiry, now + self.settings.claim_lease)
        log.info(
            "sheet polled",
            extra={"source": self.name, "worker": self.worker_id, "pending": len(records)},
        )
        return records

    def write_retry(self, *, errors: bool = False, rows: Sequence[str] = ()) -> RetryRequest:
        """Write ``retry`` into the status cells of the ``error`` rows and/or the rows named.

        ``rows`` are sheet row numbers or ranges (``"7"``, ``"9-12"``), as the sheet shows them.
        """
        try:
            numbers = parse_row_numbers(rows)
        except ValueError as exc:
            raise SourceError(f"{self.name}: {exc}", hint="name sheet rows, e.g. 7,9-12") from exc
        with self._lock:
            snapshot = self._read_snapshot()
            handle_col = snapshot.layout.find(self.settings.handle_column)
            if handle_col is None:
                raise SourceError(
                    f"{self.name}: handle column {self.settings.handle_column!r} not found",
                    hint="rename the column or set handle_column",
                )
            cells = self._ensure_columns(snapshot.layout)
            status_col = (self._layout or snapshot.layout).find(self.settings.status_column)
            chosen, skipped = select_retry_rows(
                snapshot,
                handle_col,
                snapshot.layout.find(self.settings.status_column),
                errors=errors,
                rows=numbers,
                now=self._now(),
                lease=self.settings.claim_lease,
                email_col=self._email_col(snapshot.layout),
                identify_by=self.settings.identify_by,
            )
            if status_col is not None:  # always: _ensure_columns adds a missing one
                cells.update({(row, status_col): Status.RETRY for row in chosen})
            self._write_cells(cells)
        where = f"{self._title}!{column_letter(handle_col)}"
        return RetryRequest([f"{where}{row}" for row in chosen], skipped)

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
        email = self.settings.email_column
        if self.settings.identify_by != "handle" and email and layout.find(email) is None:
            problems.append(f"{where}: e-mail column {email!r} not found (set email_column)")
        problems.extend(f"{self.name}: {p}" for p in self._lint_mapping(layout))
        return problems

    def _email_col(self, layout: Layout) -> int | None:
        """The e-mail column, when this source identifies creators by e-mail too."""
        s = self.settings
        if s.identify_by == "handle" or not s.email_column:
            return None
        return layout.find(s.email_column)

    def _now(self) -> float:
        value = self._clock()
        return value.timestamp() if isinstance(value, datetime) else float(value)

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

    def _get_sheet(self, *, max_age: float | None = None) -> SheetInfo:
        now = self._now()
        if self._sheet is not None and (max_age is None or now - self._sheet.fetched_at <= max_age):
            return self._sheet
        metadata = self._call(
            lambda: self._http.fetch_sheet_metadata(self.spreadsheet_id), self._reads
        )
        match = find_worksheet(metadata, self.settings.worksheet, self.spreadsheet_id)
        grid = match.get("gridProperties", {})
        self._sheet = SheetInfo(
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
        email = s.email_column if s.identify_by != "handle" else None
        names = [s.handle_column, s.platform_column or "", email or "", s.status_column]
        names += self._mapping.targets
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
        email_col = self._email_col(snapshot.layout)
        rows, self._next_expiry = select_pending(
            snapshot,
            handle_col,
            status_col,
            now=now,
            lease=self.settings.claim_lease,
            email_col=email_col,
            identify_by=self.settings.identify_by,
        )
        if self._ignored is None:
            return rows
        first_poll, self._polled = not self._polled, True
        return skip_backfill(
            snapshot, rows, handle_col, status_col, self._ignored, first_poll, email_col
        )

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
            status_column=s.status_column,
            email_column=s.email_column if s.identify_by != "handle" else None,
        )

    def _new_token(self, used: set[str]) -> str:
        while True:
            token = secrets.token_hex(5)
            if token not in used and token not in self._claims:
                used.add(token)
                return token

    def _lint_mapping(self, layout: Layout) -> list[str]:
        if not isinstance(self._mapping, MappingFile):
            return []
        return lint_mapping(
            self._mapping, dict.fromkeys(h for h in layout.headers if h), creates_missing=True
        )
