"""A loopback Google Sheets v4 + Drive v3 + OAuth token sandbox that real gspread talks to."""

from __future__ import annotations

import re
from types import TracebackType
from typing import Any

from flask import Flask, abort, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from connector.sandbox.google_auth import (
    DEFAULT_CLIENT_EMAIL,
    build_service_account_info,
    get_public_key_pem,
)
from connector.sandbox.server import LoopbackServer
from connector.sandbox.sheets_api import GoogleBackend
from connector.sandbox.sheets_grid import Sheet, delete_rows, insert_rows, sort_rows
from connector.sandbox.sheets_ranges import column_index, column_letters
from connector.sandbox.sheets_state import Workbook, build_workbook, new_spreadsheet_id
from connector.sandbox.sheets_values import Formula

_CELL = re.compile(r"^([A-Za-z]{1,3})([1-9][0-9]*)$")
_EDIT_OPS = ("set_cells", "insert_rows", "delete_rows", "append_rows", "append", "sort")


class SheetsSandbox:
    """Sheets/Drive/token emulator on 127.0.0.1 plus the hooks tests use to play a human.

    Point gspread at ``url`` with an ``HTTPClient`` that rewrites ``https://sheets.googleapis.com``
    and ``https://www.googleapis.com``, and log in with ``service_account_info()``.

    Known simplifications: formulas entered with USER_ENTERED are stored but never evaluated
    (every render option returns the formula text); USER_ENTERED parses numbers (``"1,500"``),
    booleans, ``=`` formulas and a leading ``'`` but not dates, percentages or currency;
    ``includeGridData`` and ``fields`` are ignored on spreadsheets.get; human edits store Python
    values verbatim. Unshared files answer Sheets with 403 PERMISSION_DENIED and Drive with 404
    notFound, as Google does. The same ``/_sandbox/...`` operations are served over HTTP.
    """

    def __init__(
        self,
        *,
        reads_per_minute: int = 60,
        writes_per_minute: int = 60,
        require_auth: bool = True,
    ) -> None:
        self.backend = GoogleBackend(
            reads_per_minute=reads_per_minute,
            writes_per_minute=writes_per_minute,
            require_auth=require_auth,
        )
        self._server = LoopbackServer(create_app(self))

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> SheetsSandbox:
        """Bind a loopback port and serve in a background thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.stop()

    def __enter__(self) -> SheetsSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL without a trailing slash; Google's prefixes are rewritten to this."""
        return self._server.url

    # --- credentials -----------------------------------------------------------------------

    def service_account_info(self, client_email: str = DEFAULT_CLIENT_EMAIL) -> dict[str, Any]:
        """A fresh service-account JSON whose ``token_uri`` is this sandbox's ``/token``."""
        info = build_service_account_info(f"{self.url}/token", client_email)
        with self.backend.lock:
            keys = self.backend.public_keys.setdefault(client_email, {})
            keys[info["private_key_id"]] = get_public_key_pem(info)
        return info

    # --- seeding and human edits -----------------------------------------------------------

    def create_spreadsheet(
        self,
        title: str = "Leads",
        sheets: dict[str, list[list[Any]]] | None = None,
        *,
        shared: bool = True,
        spreadsheet_id: str | None = None,
        rows: int = 1000,
        cols: int = 26,
    ) -> str:
        """Create a spreadsheet (one empty ``Sheet1`` by default) and return its id."""
        sid = spreadsheet_id or new_spreadsheet_id()
        book = build_workbook(
            sid, title, sheets or {"Sheet1": []}, shared=shared, rows=rows, cols=cols
        )
        with self.backend.lock:
            self.backend.books[sid] = book
        return sid

    def get_values(self, spreadsheet_id: str, sheet: str) -> list[list[Any]]:
        """The stored grid as Python values, trailing empties trimmed, gaps as ``""``."""
        with self.backend.lock:
            tab = self._sheet(spreadsheet_id, sheet)
            lines = [list(line) for line in tab.rows]
        out = []
        for line in lines:
            while line and line[-1] is None:
                line.pop()
            out.append(["" if v is None else v.text if isinstance(v, Formula) else v for v in line])
        while out and not out[-1]:
            out.pop()
        return out

    def get_formulas(self, spreadsheet_id: str, sheet: str) -> dict[str, str]:
        """``{"E2": "=SUM(A1)"}`` for every cell holding a formula (USER_ENTERED ``=…``)."""
        with self.backend.lock:
            tab = self._sheet(spreadsheet_id, sheet)
            return {
                f"{column_letters(c + 1)}{r + 1}": value.text
                for r, line in enumerate(tab.rows)
                for c, value in enumerate(line)
                if isinstance(value, Formula)
            }

    def set_cells(self, spreadsheet_id: str, sheet: str, cells: dict[str, Any]) -> None:
        """Type values into cells like a human (``""`` clears); the grid grows to fit."""
        with self.backend.lock:
            book, tab = self._book(spreadsheet_id), self._sheet(spreadsheet_id, sheet)
            for ref, value in cells.items():
                match = _CELL.match(ref)
                if match is None:
                    raise ValueError(f"not a cell reference: {ref!r}")
                row, col = int(match.group(2)), column_index(match.group(1))
                tab.row_count, tab.col_count = max(tab.row_count, row), max(tab.col_count, col)
                tab.put(row, col, None if value == "" else value)
            book.touch()

    def insert_rows(
        self, spreadsheet_id: str, sheet: str, at_row: int, rows: list[list[Any]]
    ) -> None:
        """Insert ``rows`` before 1-based ``at_row``, shifting the rows below down."""
        if at_row < 1:
            raise ValueError("at_row is 1-based")
        with self.backend.lock:
            insert_rows(self._sheet(spreadsheet_id, sheet), at_row, rows)
            self._book(spreadsheet_id).touch()

    def delete_rows(self, spreadsheet_id: str, sheet: str, start_row: int, count: int = 1) -> None:
        """Delete ``count`` rows from 1-based ``start_row``."""
        with self.backend.lock:
            delete_rows(self._sheet(spreadsheet_id, sheet), start_row, count)
            self._book(spreadsheet_id).touch()

    def append_rows(self, spreadsheet_id: str, sheet: str, rows: list[list[Any]]) -> None:
        """Type ``rows`` below the last non-empty row, growing the grid when needed."""
        with self.backend.lock:
            tab = self._sheet(spreadsheet_id, sheet)
            last = tab.last_row()
            del tab.rows[last:]
            tab.rows.extend([None if v == "" else v for v in line] for line in rows)
            tab.row_count = max(tab.row_count, len(tab.rows))
            tab.col_count = max([tab.col_count, *(len(line) for line in rows)])
            self._book(spreadsheet_id).touch()

    def sort(
        self,
        spreadsheet_id: str,
        sheet: str,
        column: int | str,
        *,
        header_rows: int = 1,
        descending: bool = False,
    ) -> None:
        """Sort the rows below ``header_rows`` by a column (1-based, letters or header name)."""
        with self.backend.lock:
            tab = self._sheet(spreadsheet_id, sheet)
            sort_rows(tab, self._column(tab, column, header_rows), header_rows, descending)
            self._book(spreadsheet_id).touch()

    def set_shared(self, spreadsheet_id: str, shared: bool) -> None:
        """Share or unshare with the service account (unshared: Sheets 403, Drive 404)."""
        with self.backend.lock:
            self._book(spreadsheet_id).shared = shared

    def drive_version(self, spreadsheet_id: str) -> int:
        """The Drive ``version`` the file reports now."""
        with self.backend.lock:
            return self._book(spreadsheet_id).version

    # --- faults and observation ------------------------------------------------------------

    def inject_faults(
        self, status: int, count: int = 1, *, html: bool = False, kind: str = "any"
    ) -> None:
        """Fail the next ``count`` requests of ``kind`` (sheets, drive, token or any)."""
        self.backend.faults.add(status, count, html, kind)

    def stats(self) -> dict[str, Any]:
        """Request counters: Sheets reads/writes, Drive and token calls, per call, 429s."""
        return self.backend.traffic.stats()

    def reset_stats(self) -> None:
        """Zero the counters and the request log."""
        self.backend.traffic.reset()

    def reset(self, *, spreadsheets: bool = False) -> None:
        """Zero counters, drop queued faults and forget quota usage; optionally drop all data."""
        if spreadsheets:
            with self.backend.lock:
                self.backend.books.clear()
        self.backend.traffic.reset()
        self.backend.faults.clear()
        self.backend.reads.clear()
        self.backend.writes.clear()

    def requests(self) -> list[dict[str, Any]]:
        """Every Google request so far: method, raw path, kind, call, status, body bytes."""
        return self.backend.traffic.log()

    # --- helpers ---------------------------------------------------------------------------

    def _book(self, spreadsheet_id: str) -> Workbook:
        book = self.backend.books.get(spreadsheet_id)
        if book is None:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r}")
        return book

    def _sheet(self, spreadsheet_id: str, title: str) -> Sheet:
        sheet = self._book(spreadsheet_id).sheet_by_title(title)
        if sheet is None:
            raise KeyError(f"no sheet {title!r} in {spreadsheet_id!r}")
        return sheet

    @staticmethod
    def _column(sheet: Sheet, column: int | str, header_rows: int) -> int:
        if isinstance(column, int):
            return column
        if header_rows and sheet.rows:
            header = sheet.rows[0]
            if column in header:
                return header.index(column) + 1
        if re.fullmatch(r"[A-Za-z]{1,3}", column):
            return column_index(column)
        raise ValueError(f"no column {column!r}")


def create_app(sandbox: SheetsSandbox) -> Flask:
    """The WSGI app: Google's paths plus ``/_sandbox/...`` control endpoints for curl."""
    app = Flask("connector.sandbox.sheets")
    backend = sandbox.backend

    @app.route("/token", methods=["POST"])
    @app.route("/v4/spreadsheets/<path:_rest>", methods=["GET", "POST", "PUT"])
    @app.route("/drive/v3/files/<path:_rest>", methods=["GET"])
    def google(_rest: str = "") -> Response:
        return backend.handle(request)

    @app.errorhandler(KeyError)
    def unknown(exc: KeyError) -> tuple[Response, int]:
        return jsonify(error=str(exc.args[0] if exc.args else exc)), 404

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return jsonify(error=exc.description), exc.code or 500

    @app.errorhandler(ValueError)
    def invalid(exc: ValueError) -> tuple[Response, int]:
        return jsonify(error=str(exc)), 400

    @app.post("/_sandbox/spreadsheets")
    def create() -> Response:
        body = _body()
        sid = sandbox.create_spreadsheet(
            body.get("title", "Leads"),
            body.get("sheets"),
            shared=bool(body.get("shared", True)),
            spreadsheet_id=body.get("spreadsheet_id"),
            rows=int(body.get("rows", 1000)),
            cols=int(body.get("cols", 26)),
        )
        return jsonify(spreadsheet_id=sid, drive_version=sandbox.drive_version(sid))

    @app.get("/_sandbox/spreadsheets/<sid>/values/<path:sheet>")
    def values(sid: str, sheet: str) -> Response:
        return jsonify(values=sandbox.get_values(sid, sheet))

    @app.post("/_sandbox/spreadsheets/<sid>/edit")
    def edit(sid: str) -> Response:
        body = _body()
        op = body.pop("op", None)
        if op not in _EDIT_OPS:
            abort(400, f"op must be one of {_EDIT_OPS}")
        method = "append_rows" if op == "append" else op
        getattr(sandbox, method)(sid, **body)
        return jsonify(drive_version=sandbox.drive_version(sid))

    @app.post("/_sandbox/spreadsheets/<sid>/shared")
    def shared(sid: str) -> Response:
        sandbox.set_shared(sid, bool(_body().get("shared", True)))
        return jsonify(shared=sandbox.backend.books[sid].shared)

    @app.post("/_sandbox/service-account")
    def service_account() -> Response:
        return jsonify(
            sandbox.service_account_info(_body().get("client_email", DEFAULT_CLIENT_EMAIL))
        )

    @app.post("/_sandbox/faults")
    def faults() -> Response:
        body = _body()
        sandbox.inject_faults(
            int(body["status"]),
            int(body.get("count", 1)),
            html=bool(body.get("html", False)),
            kind=body.get("kind", "any"),
        )
        return jsonify(ok=True)

    @app.get("/_sandbox/stats")
    def stats() -> Response:
        return jsonify(sandbox.stats())

    @app.get("/_sandbox/requests")
    def log() -> Response:
        return jsonify(sandbox.requests())

    @app.post("/_sandbox/reset")
    def reset() -> Response:
        data = request.get_json(silent=True)
        sandbox.reset(spreadsheets=isinstance(data, dict) and bool(data.get("spreadsheets")))
        return jsonify(ok=True)

    return app


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, "expected a JSON object body")
    return data
