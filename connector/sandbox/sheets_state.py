"""In-memory spreadsheets for the Sheets sandbox: grids, Drive metadata and every mutation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connector.sandbox.sheets_grid import InvalidRequest, Sheet, insert_rows
from connector.sandbox.sheets_ranges import (
    MAX_COLUMNS,
    A1Range,
    GridRange,
    RangeError,
    column_letters,
    exceeds_grid,
    parse_a1,
    parse_cell_bounds,
    resolve,
)
from connector.sandbox.sheets_values import (
    CellValueError,
    parse_input,
    render,
    transpose,
    trim_grid,
)

MAX_WORKBOOK_CELLS = 10_000_000
_SKIP = object()


@dataclass
class Workbook:
    """A spreadsheet plus the Drive file facts the sandbox reports about it."""

    spreadsheet_id: str
    title: str
    sheets: list[Sheet]
    shared: bool = True
    version: int = 1
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))

    def touch(self) -> None:
        """Record a mutation: Drive bumps ``version`` and ``modifiedTime`` on every change."""
        self.version += 1
        self.modified = datetime.now(UTC)

    def sheet_by_title(self, title: str) -> Sheet | None:
        return next((s for s in self.sheets if s.title == title), None)

    def sheet_by_id(self, sheet_id: Any) -> Sheet:
        found = next((s for s in self.sheets if s.sheet_id == sheet_id), None)
        if found is None:
            raise InvalidRequest(f"No grid with id: {sheet_id}")
        return found

    def locate(self, text: str) -> tuple[Sheet, A1Range]:
        """Find the sheet a range names; an unknown sheet is "Unable to parse range"."""
        rng = parse_a1(text)
        if rng.title is not None:
            sheet = self.sheet_by_title(rng.title)
            if sheet is not None:
                return sheet, rng
            if not rng.quoted and rng.whole_sheet:
                bare = parse_cell_bounds(rng.title)
                if bare is not None and self.sheets:
                    return self.sheets[0], A1Range(
                        None,
                        False,
                        bare.start_row,
                        bare.start_col,
                        bare.end_row,
                        bare.end_col,
                        whole_sheet=False,
                        text=text,
                    )
        raise RangeError(f"Unable to parse range: {text}")

    def check_cell_limit(self, extra_cells: int) -> None:
        total = sum(s.row_count * s.col_count for s in self.sheets) + extra_cells
        if total > MAX_WORKBOOK_CELLS:
            raise InvalidRequest(
                "This action would increase the number of cells in the workbook above the "
                f"limit of {MAX_WORKBOOK_CELLS} cells."
            )

    def drive_file(self) -> dict[str, Any]:
        """Every Drive v3 ``File`` field the sandbox knows, before ``fields`` filtering."""
        return {
            "kind": "drive#file",
            "id": self.spreadsheet_id,
            "name": self.title,
            "mimeType": "application/vnd.google-apps.spreadsheet",
            "createdTime": _rfc3339(self.created),
            "modifiedTime": _rfc3339(self.modified),
            "version": str(self.version),
        }

    def metadata(self) -> dict[str, Any]:
        """The ``Spreadsheet`` JSON object returned by spreadsheets.get without grid data."""
        return {
            "spreadsheetId": self.spreadsheet_id,
            "properties": {
                "title": self.title,
                "locale": "en_US",
                "autoRecalc": "ON_CHANGE",
                "timeZone": "Etc/GMT",
            },
            "sheets": [{"properties": s.properties(i)} for i, s in enumerate(self.sheets)],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.spreadsheet_id}/edit",
        }


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_spreadsheet_id() -> str:
    """A 44-character id shaped like Google's."""
    return secrets.token_urlsafe(33)


def build_workbook(
    spreadsheet_id: str,
    title: str,
    sheets: dict[str, list[list[Any]]],
    *,
    shared: bool,
    rows: int,
    cols: int,
) -> Workbook:
    """A workbook whose tabs hold ``sheets`` verbatim, grown to fit when data is bigger."""
    tabs = []
    for index, (name, data) in enumerate(sheets.items()):
        width = max([cols, *(len(r) for r in data)])
        grid = [[None if v == "" else v for v in line] for line in data]
        sheet_id = 0 if index == 0 else 100_000_000 + 7_919 * index
        tabs.append(Sheet(sheet_id, name, max(rows, len(data)), width, grid))
    return Workbook(spreadsheet_id, title, tabs, shared=shared)


def read_values(book: Workbook, text: str, render_option: str, dimension: str) -> dict[str, Any]:
    """One ``ValueRange``: clipped label, trimmed values, ``values`` left out when empty."""
    sheet, rng = book.locate(text)
    grid = resolve(rng, sheet.title, sheet.row_count, sheet.col_count)
    lines = [
        [sheet.get(r, c) for c in range(grid.start_col, grid.end_col + 1)]
        for r in range(grid.start_row, min(grid.end_row, len(sheet.rows)) + 1)
    ]
    if dimension == "COLUMNS":
        lines = transpose(lines, grid.cols)
    rendered = [[None if v is None else render(v, render_option) for v in line] for line in lines]
    body: dict[str, Any] = {"range": grid.label(), "majorDimension": dimension}
    values = trim_grid(rendered)
    if values:
        body["values"] = values
    return body


@dataclass
class WritePlan:
    """A validated write: where it lands and the parsed cells (``_SKIP`` for nulls)."""

    sheet: Sheet
    area: GridRange
    cells: list[list[Any]]
    insert_rows: bool = False
    written: set[tuple[int, int]] = field(default_factory=set)

    def apply(self) -> dict[str, Any]:
        sheet, area = self.sheet, self.area
        if self.insert_rows:
            # INSERT_ROWS shifts everything below the table down instead of overwriting it.
            insert_rows(sheet, area.start_row, [[] for _ in range(area.rows)])
        sheet.row_count = max(sheet.row_count, area.end_row)
        sheet.col_count = max(sheet.col_count, area.end_col)
        for dr, line in enumerate(self.cells):
            for dc, value in enumerate(line):
                if value is not _SKIP:
                    row, col = area.start_row + dr, area.start_col + dc
                    sheet.put(row, col, value)
                    self.written.add((row, col))
        return {
            "updatedRange": area.label(),
            "updatedRows": len({row for row, _ in self.written}),
            "updatedColumns": len({col for _, col in self.written}),
            "updatedCells": len(self.written),
        }


def plan_write(
    book: Workbook, text: str, values: Any, option: str, dimension: str | None
) -> WritePlan | None:
    """Validate one ``ValueRange`` write; ``None`` when it carries no values."""
    sheet, rng = book.locate(text)
    if values is None or values == []:
        return None
    if not isinstance(values, list) or not all(isinstance(v, list) for v in values):
        raise InvalidRequest(
            "Invalid value at 'data.values' (type.googleapis.com/google.protobuf.ListValue)"
        )
    if dimension == "COLUMNS":
        values = transpose(values, max(len(v) for v in values))
    height, width = len(values), max((len(v) for v in values), default=0)
    if width == 0:
        return None
    start_row, start_col = (1, 1) if rng.whole_sheet else (rng.start_row or 1, rng.start_col or 1)
    if not rng.whole_sheet and not rng.single_cell:
        if rng.end_row is not None and start_row + height - 1 > rng.end_row:
            raise InvalidRequest(
                f"Requested writing within range [{text}], but tried writing to row "
                f"[{start_row + height - 1}]"
            )
        if rng.end_col is not None and start_col + width - 1 > rng.end_col:
            raise InvalidRequest(
                f"Requested writing within range [{text}], but tried writing to column "
                f"[{column_letters(start_col + width - 1)}]"
            )
    end_row, end_col = start_row + height - 1, start_col + width - 1
    if end_row > sheet.row_count or end_col > sheet.col_count:
        raise exceeds_grid(text, sheet.row_count, sheet.col_count)
    cells = []
    for line in values:
        parsed = []
        for value in line:
            parsed.append(_SKIP if value is None else parse_input(value, option))
        cells.append(parsed)
    return WritePlan(sheet, GridRange(sheet.title, start_row, start_col, end_row, end_col), cells)


def plan_append(
    book: Workbook, text: str, values: Any, option: str, dimension: str | None, insert: bool
) -> tuple[WritePlan | None, str | None]:
    """Find the table in ``text`` and plan the rows after it, growing the grid as needed."""
    sheet, rng = book.locate(text)
    first_row = 1 if rng.whole_sheet else rng.start_row or 1
    first_col = 1 if rng.whole_sheet else rng.start_col or 1
    open_ended = rng.whole_sheet or rng.single_cell or rng.end_col is None
    last_col = sheet.col_count if open_ended else rng.end_col or sheet.col_count
    filled = [
        r
        for r in range(first_row, len(sheet.rows) + 1)
        if any(sheet.get(r, c) is not None for c in range(first_col, last_col + 1))
    ]
    if rng.single_cell:
        # An anchor cell's table is the block of consecutive filled rows starting there; this is
        # what gspread's insert_rows relies on when it appends into the row it just inserted.
        count = 0
        while count < len(filled) and filled[count] == first_row + count:
            count += 1
        filled = filled[:count]
    table_rows = filled
    table_label = None
    anchor_row, anchor_col = first_row, first_col
    if table_rows:
        used = [
            c
            for r in table_rows
            for c in range(first_col, min(last_col, len(sheet.rows[r - 1])) + 1)
            if sheet.get(r, c) is not None
        ]
        table = GridRange(sheet.title, table_rows[0], min(used), table_rows[-1], max(used))
        table_label = table.label()
        anchor_row, anchor_col = table.end_row + 1, table.start_col
    if not isinstance(values, list) or not values:
        return None, table_label
    if dimension == "COLUMNS":
        values = transpose(values, max(len(v) for v in values))
    height = len(values)
    width = max((len(v) for v in values), default=0)
    grow_rows = height if insert else max(0, anchor_row + height - 1 - sheet.row_count)
    grow_cols = max(0, anchor_col + width - 1 - sheet.col_count)
    book.check_cell_limit(grow_rows * sheet.col_count + grow_cols * (sheet.row_count + grow_rows))
    if anchor_col + width - 1 > MAX_COLUMNS:
        raise exceeds_grid(text, sheet.row_count, sheet.col_count)
    cells = [[_SKIP if v is None else parse_input(v, option) for v in line] for line in values]
    area = GridRange(
        sheet.title, anchor_row, anchor_col, anchor_row + height - 1, anchor_col + width - 1
    )
    return WritePlan(sheet, area, cells, insert_rows=insert), table_label


def clear_range(book: Workbook, text: str) -> str:
    """Empty every cell of ``text`` (clipped to the grid) and return the cleared label."""
    sheet, rng = book.locate(text)
    grid = resolve(rng, sheet.title, sheet.row_count, sheet.col_count)
    for r in range(grid.start_row, min(grid.end_row, len(sheet.rows)) + 1):
        line = sheet.rows[r - 1]
        for c in range(grid.start_col, min(grid.end_col, len(line)) + 1):
            line[c - 1] = None
    return grid.label()


def resize(book: Workbook, sheet: Sheet, rows: int | None, cols: int | None) -> None:
    """Set the grid size; shrinking drops the data outside it, as the Sheets UI does."""
    rows = sheet.row_count if rows is None else rows
    cols = sheet.col_count if cols is None else cols
    if rows < 1 or cols < 1 or cols > MAX_COLUMNS:
        raise InvalidRequest(
            f"Invalid requests[0]: grid size must be at least 1x1 and at most {MAX_COLUMNS} columns"
        )
    book.check_cell_limit(rows * cols - sheet.row_count * sheet.col_count)
    sheet.row_count, sheet.col_count = rows, cols
    del sheet.rows[rows:]
    for line in sheet.rows:
        del line[cols:]


__all__ = [
    "CellValueError",
    "InvalidRequest",
    "RangeError",
    "Sheet",
    "Workbook",
    "WritePlan",
    "build_workbook",
    "clear_range",
    "new_spreadsheet_id",
    "plan_append",
    "plan_write",
    "read_values",
    "resize",
]
