"""Sheets v4 and Drive v3 request handlers of the sandbox: arguments in, Google JSON out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Request

from connector.sandbox.sheets_batch import apply_spreadsheet_requests
from connector.sandbox.sheets_state import (
    CellValueError,
    InvalidRequest,
    RangeError,
    Workbook,
    clear_range,
    plan_append,
    plan_write,
    read_values,
)
from connector.sandbox.sheets_values import DIMENSIONS, INPUT_OPTIONS, RENDER_OPTIONS
from connector.sandbox.sheets_wire import ApiError

Handler = Callable[[Workbook, str, Request], dict[str, Any]]
_DRIVE_FIELDS = ("kind", "id", "name", "mimeType", "createdTime", "modifiedTime", "version")


def spreadsheets_get(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    return book.metadata()


def values_get(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    render, dimension = _read_options(request.args)
    return _guard(read_values, book, rng, render, dimension)


def values_batch_get(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    render, dimension = _read_options(request.args)
    ranges = request.args.getlist("ranges")
    value_ranges = [_guard(read_values, book, r, render, dimension) for r in ranges]
    body: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if value_ranges:
        body["valueRanges"] = value_ranges
    return body


def values_update(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    args = request.args
    option = _required_input_option(args.get("valueInputOption"))
    echo = _echo_render(args)
    data = _json(request)
    dimension = _enum(data.get("majorDimension"), DIMENSIONS, "majorDimension")
    plan = _guard(plan_write, book, rng, data.get("values"), option, dimension)
    book.touch()
    update: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if plan is None:
        return update
    update.update(_nonzero(plan.apply()))
    if echo:
        update["updatedData"] = _guard(read_values, book, plan.area.label(), echo, "ROWS")
    return update


def values_append(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    args = request.args
    option = _required_input_option(args.get("valueInputOption"))
    insert = _enum(args.get("insertDataOption"), ("OVERWRITE", "INSERT_ROWS"), "insertDataOption")
    echo = _echo_render(args)
    data = _json(request)
    dimension = _enum(data.get("majorDimension"), DIMENSIONS, "majorDimension")
    plan, table = _guard(
        plan_append, book, rng, data.get("values"), option, dimension, insert == "INSERT_ROWS"
    )
    body: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if table:
        body["tableRange"] = table
    updates: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if plan is not None:
        updates.update(_nonzero(plan.apply()))
        if echo:
            updates["updatedData"] = _guard(read_values, book, plan.area.label(), echo, "ROWS")
    book.touch()
    body["updates"] = updates
    return body


def values_batch_update(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    data = _json(request)
    option = _required_input_option(data.get("valueInputOption"))
    echo = _echo_render(data)
    entries = data.get("data") or []
    if not isinstance(entries, list):
        raise ApiError(
            400, "Invalid value at 'data' (type.googleapis.com/google.apps.sheets.v4.ValueRange)"
        )
    plans = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ApiError(400, f"Invalid value at 'data[{index}]'")
        dimension = _enum(entry.get("majorDimension"), DIMENSIONS, "majorDimension")
        plans.append(
            _guard(plan_write, book, entry.get("range", ""), entry.get("values"), option, dimension)
        )
    responses: list[dict[str, Any]] = []
    rows: set[tuple[str, int]] = set()
    cols: set[tuple[str, int]] = set()
    sheets: set[str] = set()
    cells = 0
    for plan in plans:
        update: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
        if plan is not None:
            update.update(_nonzero(plan.apply()))
            title = plan.area.title
            rows.update((title, row) for row, _ in plan.written)
            cols.update((title, col) for _, col in plan.written)
            if plan.written:
                sheets.add(title)
            cells += update.get("updatedCells", 0)
        responses.append(update)
    book.touch()
    if echo:
        for plan, update in zip(plans, responses, strict=True):
            if plan is not None:
                update["updatedData"] = _guard(read_values, book, plan.area.label(), echo, "ROWS")
    body: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    body.update(
        _nonzero(
            {
                "totalUpdatedRows": len(rows),
                "totalUpdatedColumns": len(cols),
                "totalUpdatedCells": cells,
                "totalUpdatedSheets": len(sheets),
            }
        )
    )
    if responses:
        body["responses"] = responses
    return body


def values_clear(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    cleared = _guard(clear_range, book, rng)
    book.touch()
    return {"spreadsheetId": book.spreadsheet_id, "clearedRange": cleared}


def values_batch_clear(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    ranges = _json(request).get("ranges") or []
    if not isinstance(ranges, list) or not all(isinstance(r, str) for r in ranges):
        raise ApiError(400, "Invalid value at 'ranges'")
    for text in ranges:
        _guard(read_values, book, text, "UNFORMATTED_VALUE", "ROWS")
    cleared = [_guard(clear_range, book, text) for text in ranges]
    book.touch()
    body: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if cleared:
        body["clearedRanges"] = cleared
    return body


def spreadsheets_batch_update(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    data = _json(request)
    replies = _guard(apply_spreadsheet_requests, book, data.get("requests") or [])
    book.touch()
    body: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id, "replies": replies}
    if _flag(data.get("includeSpreadsheetInResponse"), "includeSpreadsheetInResponse"):
        body["updatedSpreadsheet"] = book.metadata()
    return body


def drive_files_get(book: Workbook, rng: str, request: Request) -> dict[str, Any]:
    file = book.drive_file()
    fields = request.args.get("fields")
    if not fields:
        return {k: file[k] for k in ("kind", "id", "name", "mimeType")}
    if fields.strip() == "*":
        return file
    wanted = [f.strip() for f in fields.split(",") if f.strip()]
    for name in wanted:
        if name not in _DRIVE_FIELDS:
            raise ApiError(
                400,
                f"Invalid field selection {name}",
                reason="invalidParameter",
                location="fields",
            )
    return {k: file[k] for k in _DRIVE_FIELDS if k in wanted}


def _guard(func: Any, *args: Any) -> Any:
    """Run a state operation, turning its validation errors into Google's 400."""
    try:
        return func(*args)
    except (RangeError, InvalidRequest, CellValueError) as exc:
        raise ApiError(400, str(exc)) from exc


def _json(request: Request) -> dict[str, Any]:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid JSON payload received. Expected an object.")
    return data


def _enum(value: Any, allowed: tuple[str, ...], name: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ApiError(400, f"Invalid value at '{name}', \"{value}\"")
    return str(value)


def _flag(value: Any, name: str) -> bool:
    """Query-string booleans arrive as ``True``/``false``; JSON bodies as real booleans."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if str(value).lower() in ("true", "1"):
        return True
    if str(value).lower() in ("false", "0", ""):
        return False
    raise ApiError(400, f"Invalid value at '{name}' (TYPE_BOOL), \"{value}\"")


def _required_input_option(value: Any) -> str:
    option = _enum(value, INPUT_OPTIONS, "valueInputOption")
    if option is None:
        raise ApiError(400, "'valueInputOption' is required but not specified")
    return option


def _echo_render(options: Any) -> str | None:
    """The render option for ``updatedData``, or ``None`` unless includeValuesInResponse."""
    render = _enum(
        options.get("responseValueRenderOption"), RENDER_OPTIONS, "responseValueRenderOption"
    )
    if not _flag(options.get("includeValuesInResponse"), "includeValuesInResponse"):
        return None
    return render or "FORMATTED_VALUE"


def _read_options(args: Any) -> tuple[str, str]:
    render = _enum(args.get("valueRenderOption"), RENDER_OPTIONS, "valueRenderOption")
    dimension = _enum(args.get("majorDimension"), DIMENSIONS, "majorDimension")
    return render or "FORMATTED_VALUE", dimension or "ROWS"


def _nonzero(update: dict[str, Any]) -> dict[str, Any]:
    """Proto3 JSON leaves out integer fields that are zero."""
    return {k: v for k, v in update.items() if v != 0}


HANDLERS: dict[str, Handler] = {
    "spreadsheets.get": spreadsheets_get,
    "spreadsheets.batchUpdate": spreadsheets_batch_update,
    "values.get": values_get,
    "values.batchGet": values_batch_get,
    "values.update": values_update,
    "values.append": values_append,
    "values.batchUpdate": values_batch_update,
    "values.clear": values_clear,
    "values.batchClear": values_batch_clear,
    "drive.files.get": drive_files_get,
}
