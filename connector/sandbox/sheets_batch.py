"""spreadsheets.batchUpdate requests for the Sheets sandbox, applied all-or-nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.sandbox.sheets_grid import InvalidRequest, Sheet, delete_rows, insert_rows
from connector.sandbox.sheets_state import Workbook, resize

_Handler = Callable[[Workbook, dict[str, Any]], dict[str, Any]]


def apply_spreadsheet_requests(book: Workbook, requests: list[Any]) -> list[dict[str, Any]]:
    """Apply ``requests`` in order; on any error the workbook is restored and the error raised."""
    snapshot = [
        (s, s.title, s.row_count, s.col_count, [list(r) for r in s.rows]) for s in book.sheets
    ]
    try:
        replies = []
        for index, request in enumerate(requests):
            if not isinstance(request, dict) or len(request) != 1:
                raise InvalidRequest(f"Invalid requests[{index}]: No request set.")
            ((kind, payload),) = request.items()
            handler = _HANDLERS.get(kind)
            if handler is None:
                raise InvalidRequest(
                    f'Invalid JSON payload received. Unknown name "{kind}" at '
                    f"'requests[{index}]': Cannot find field."
                )
            try:
                replies.append(handler(book, payload or {}))
            except InvalidRequest as exc:
                raise InvalidRequest(f"Invalid requests[{index}].{kind}: {exc}") from exc
        return replies
    except Exception:
        book.sheets = [s for s, *_ in snapshot]
        for sheet, title, rows, cols, grid in snapshot:
            sheet.title, sheet.row_count, sheet.col_count, sheet.rows = title, rows, cols, grid
        raise


def _update_sheet_properties(book: Workbook, payload: dict[str, Any]) -> dict[str, Any]:
    props = payload.get("properties") or {}
    sheet = book.sheet_by_id(props.get("sheetId", 0))
    title = props.get("title")
    if title is not None and title != sheet.title:
        _check_title(book, title)
        sheet.title = title
    grid = props.get("gridProperties") or {}
    if "rowCount" in grid or "columnCount" in grid:
        resize(book, sheet, grid.get("rowCount"), grid.get("columnCount"))
    return {}


def _append_dimension(book: Workbook, payload: dict[str, Any]) -> dict[str, Any]:
    sheet = book.sheet_by_id(payload.get("sheetId", 0))
    length = payload.get("length")
    if not isinstance(length, int) or length < 1:
        raise InvalidRequest("length must be at least 1")
    if payload.get("dimension") == "ROWS":
        resize(book, sheet, sheet.row_count + length, None)
    elif payload.get("dimension") == "COLUMNS":
        resize(book, sheet, None, sheet.col_count + length)
    else:
        raise InvalidRequest("dimension must be ROWS or COLUMNS")
    return {}


def _dimension_span(book: Workbook, payload: dict[str, Any]) -> tuple[Sheet, str, int, int]:
    span = payload.get("range") or {}
    sheet = book.sheet_by_id(span.get("sheetId", 0))
    start, end = span.get("startIndex", 0), span.get("endIndex")
    if not isinstance(start, int) or not isinstance(end, int) or end <= start or start < 0:
        raise InvalidRequest("range must have 0 <= startIndex < endIndex")
    dimension = span.get("dimension")
    if dimension not in ("ROWS", "COLUMNS"):
        raise InvalidRequest("dimension must be ROWS or COLUMNS")
    return sheet, dimension, start, end


def _insert_dimension(book: Workbook, payload: dict[str, Any]) -> dict[str, Any]:
    sheet, dimension, start, end = _dimension_span(book, payload)
    if dimension == "ROWS":
        if start > sheet.row_count:
            raise InvalidRequest(f"startIndex {start} is past the last row")
        insert_rows(sheet, start + 1, [[] for _ in range(end - start)])
        return {}
    if start > sheet.col_count:
        raise InvalidRequest(f"startIndex {start} is past the last column")
    resize(book, sheet, None, sheet.col_count + end - start)
    for line in sheet.rows:
        if len(line) > start:
            line[start:start] = [None] * (end - start)
    return {}


def _delete_dimension(book: Workbook, payload: dict[str, Any]) -> dict[str, Any]:
    sheet, dimension, start, end = _dimension_span(book, payload)
    if dimension == "ROWS":
        delete_rows(sheet, start + 1, end - start)
        return {}
    if end > sheet.col_count or end - start >= sheet.col_count:
        raise InvalidRequest("You can't delete all the columns on the sheet.")
    for line in sheet.rows:
        del line[start:end]
    sheet.col_count -= end - start
    return {}


def _add_sheet(book: Workbook, payload: dict[str, Any]) -> dict[str, Any]:
    props = payload.get("properties") or {}
    title = props.get("title") or f"Sheet{len(book.sheets) + 1}"
    _check_title(book, title)
    grid = props.get("gridProperties") or {}
    used = {s.sheet_id for s in book.sheets}
    sheet_id = props.get("sheetId")
    if sheet_id in used:
        raise InvalidRequest(f"A sheet with id {sheet_id} already exists.")
    if sheet_id is None:
        sheet_id = 100_000_000 + 7_919 * len(book.sheets)
        while sheet_id in used:
            sheet_id += 1
    rows, cols = grid.get("rowCount", 1000), grid.get("columnCount", 26)
    book.check_cell_limit(rows * cols)
    sheet = Sheet(sheet_id, title, rows, cols)
    index = min(props.get("index", len(book.sheets)), len(book.sheets))
    book.sheets.insert(index, sheet)
    return {"addSheet": {"properties": sheet.properties(index)}}


def _check_title(book: Workbook, title: str) -> None:
    if book.sheet_by_title(title) is not None:
        raise InvalidRequest(
            f'A sheet with the name "{title}" already exists. Please enter another name.'
        )


_HANDLERS: dict[str, _Handler] = {
    "updateSheetProperties": _update_sheet_properties,
    "appendDimension": _append_dimension,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "addSheet": _add_sheet,
}
