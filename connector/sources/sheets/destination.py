"""The Google Sheets source as a discovery destination: existing handles and appended rows."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gspread.http_client import HTTPClient

from connector.config import SheetSourceSettings
from connector.ratelimit import RateBudget
from connector.sources.sheets.cells import cell_text, quote_title
from connector.sources.sheets.payloads import fit_cell
from connector.sources.sheets.rows import Layout, Snapshot

# The same logger as SheetsSource, so its records keep one name whichever part logs them.
log = logging.getLogger("connector.sources.sheets")

APPEND_PARAMS = {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}


class SheetsDestination:
    """Mixin of ``SheetsSource`` for discovery; the attributes below are set by its init."""

    name: str
    settings: SheetSourceSettings
    spreadsheet_id: str
    _http: HTTPClient
    _writes: RateBudget
    _layout: Layout | None
    _lock: threading.RLock

    if TYPE_CHECKING:

        @property
        def _title(self) -> str: ...

        def _call(
            self, fn: Callable[[], Any], budget: RateBudget | None, *, idempotent: bool = True
        ) -> Any: ...

        def _read_layout(self) -> Layout: ...

        def _read_snapshot(self) -> Snapshot: ...

        def _ensure_columns(
            self, layout: Layout, extra: Sequence[str] = ()
        ) -> dict[tuple[int, int], Any]: ...

        def _write_cells(
            self, cells: Mapping[tuple[int, int], Any], *, input_option: str = "RAW"
        ) -> None: ...

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
