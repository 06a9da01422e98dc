"""The write path of the Google Sheets source: verified write-back, new columns and cell writes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gspread.http_client import HTTPClient

from connector.config import SheetSourceSettings
from connector.media.urls import build_image_formulas
from connector.ratelimit import RateBudget
from connector.sources.base import RecordUpdate, WriteResult, choose_identity_values
from connector.sources.sheets.cells import cell_text
from connector.sources.sheets.claims import INTERIM_STATUSES
from connector.sources.sheets.payloads import (
    build_append_columns,
    build_value_ranges,
    chunk_by_size,
)
from connector.sources.sheets.rows import (
    Layout,
    OutputColumns,
    Snapshot,
    build_update_cells,
    find_claims,
    get_row_identity,
    parse_layout,
    plan_new_columns,
)
from connector.sources.sheets.state import ClaimState, HasTargets, SheetInfo

# The same logger as SheetsSource, so its records keep one name whichever part logs them.
log = logging.getLogger("connector.sources.sheets")

METADATA_MAX_AGE = 60.0


class SheetsWrites:
    """Mixin of ``SheetsSource`` that writes cells; the attributes below are set by its init."""

    name: str
    settings: SheetSourceSettings
    spreadsheet_id: str
    _http: HTTPClient
    _mapping: HasTargets
    _formula_columns: dict[str, str]
    _media_url_prefix: str | None
    _writes: RateBudget
    _sheet: SheetInfo | None
    _layout: Layout | None
    _claims: dict[str, ClaimState]
    _statuses: dict[str, str]

    if TYPE_CHECKING:

        @property
        def _title(self) -> str: ...

        def _now(self) -> float: ...

        def _call(
            self, fn: Callable[[], Any], budget: RateBudget | None, *, idempotent: bool = True
        ) -> Any: ...

        def _get_sheet(self, *, max_age: float | None = None) -> SheetInfo: ...

        def _read_snapshot(self) -> Snapshot: ...

        def _email_col(self, layout: Layout) -> int | None: ...

    def _write_back(self, updates: Sequence[RecordUpdate]) -> WriteResult:
        result = WriteResult()
        snapshot = self._read_snapshot()
        extra = [name for u in updates for name in u.values]
        cells = self._ensure_columns(snapshot.layout, extra)
        layout = self._layout or snapshot.layout
        status_col = layout.find(self.settings.status_column)
        handle_col = layout.find(self.settings.handle_column)
        email_col = self._email_col(layout)
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
                    if get_row_identity(snapshot, r, handle_col, email_col) == identity
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
                        other = get_row_identity(snapshot, row, handle_col, email_col)
                        cells[(row, status_col)] = self._statuses.get(other, "")
                result.missing.append(update.key)
                finished.append(update.key)
                continue
            seen = state.current if state else {}
            cells.update(build_update_cells(snapshot, columns, ours[0], update, seen, now))
            cells.update(self._identity_cells(snapshot, layout, ours[0], update))
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

    def _identity_cells(
        self, snapshot: Snapshot, layout: Layout, row: int, update: RecordUpdate
    ) -> dict[tuple[int, int], Any]:
        """The handle (and platform) an e-mail lookup found, for a row whose cells are empty."""
        if not update.found_handle:
            return {}
        s = self.settings
        handle_col = layout.find(s.handle_column)
        platform_col = layout.find(s.platform_column) if s.platform_column else None
        if handle_col is None:
            return {}
        handle, platform = choose_identity_values(
            update,
            current_handle=cell_text(snapshot.cell(handle_col, row)),
            current_platform=cell_text(snapshot.cell(platform_col, row)),
            platform_field=platform_col is not None,
            platform=s.platform,
        )
        cells: dict[tuple[int, int], Any] = {}
        if handle is not None:
            cells[(row, handle_col)] = handle
            if platform is not None and platform_col is not None:
                cells[(row, platform_col)] = platform
        return cells

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
            self._sheet = replace(sheet, column_count=sheet.column_count + needed)
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
