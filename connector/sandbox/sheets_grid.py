"""Sheet grids of the Sheets sandbox: stored cells plus row insert, delete and sort."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.sandbox.sheets_values import Formula


class InvalidRequest(ValueError):
    """A request the API answers with 400 INVALID_ARGUMENT; ``str()`` is Google's message."""


@dataclass
class Sheet:
    """One tab: a ragged grid of stored values (``None`` = empty) inside a fixed grid size."""

    sheet_id: int
    title: str
    row_count: int
    col_count: int
    rows: list[list[Any]] = field(default_factory=list)

    def get(self, row: int, col: int) -> Any:
        """The stored value at 1-based ``row``/``col``, ``None`` when empty."""
        if row - 1 < len(self.rows):
            line = self.rows[row - 1]
            if col - 1 < len(line):
                return line[col - 1]
        return None

    def put(self, row: int, col: int, value: Any) -> None:
        """Store ``value`` at 1-based ``row``/``col`` (the caller checked the grid)."""
        while len(self.rows) < row:
            self.rows.append([])
        line = self.rows[row - 1]
        if value is None and col > len(line):
            return
        while len(line) < col:
            line.append(None)
        line[col - 1] = value

    def last_row(self) -> int:
        """1-based index of the last row holding any value (0 for an empty sheet)."""
        for index in range(len(self.rows), 0, -1):
            if any(cell is not None for cell in self.rows[index - 1]):
                return index
        return 0

    def properties(self, index: int) -> dict[str, Any]:
        """The ``SheetProperties`` JSON object."""
        return {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": self.row_count, "columnCount": self.col_count},
        }


def insert_rows(sheet: Sheet, at_row: int, lines: list[list[Any]]) -> None:
    """Insert ``lines`` before 1-based ``at_row``, growing the grid by as many rows."""
    while len(sheet.rows) < at_row - 1:
        sheet.rows.append([])
    grid = [[None if v == "" else v for v in line] for line in lines]
    sheet.rows[at_row - 1 : at_row - 1] = grid
    sheet.row_count += len(lines)
    sheet.col_count = max([sheet.col_count, *(len(line) for line in lines)])


def delete_rows(sheet: Sheet, start_row: int, count: int) -> None:
    """Remove ``count`` rows from 1-based ``start_row``; the grid shrinks by as many."""
    if start_row < 1 or count < 1 or start_row + count - 1 > sheet.row_count:
        raise InvalidRequest(f"Invalid row span {start_row}+{count} on {sheet.title}")
    if count >= sheet.row_count:
        raise InvalidRequest("You can't delete all the rows on the sheet.")
    del sheet.rows[start_row - 1 : start_row - 1 + count]
    sheet.row_count -= count


def sort_rows(sheet: Sheet, column: int, header_rows: int, descending: bool) -> None:
    """Sort the data rows by one column: numbers, then text, then booleans, blanks last."""
    body = sheet.rows[header_rows : sheet.last_row()]
    filled = [r for r in body if _cell(r, column) is not None]
    blanks = [r for r in body if _cell(r, column) is None]
    filled.sort(key=lambda r: _sort_key(_cell(r, column)), reverse=descending)
    sheet.rows[header_rows : header_rows + len(body)] = filled + blanks


def _cell(line: list[Any], column: int) -> Any:
    return line[column - 1] if column - 1 < len(line) else None


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, Formula):
        return 1, value.text.casefold()
    if isinstance(value, bool):
        return 2, value
    if isinstance(value, (int, float)):
        return 0, value
    return 1, str(value).casefold()
