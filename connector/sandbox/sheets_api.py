"""The Google-facing half of the Sheets sandbox: routing raw paths, auth, quotas and handlers."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote

from flask import Request
from werkzeug.wrappers import Response

from connector.sandbox.google_auth import JWT_BEARER_GRANT, GrantError, parse_assertion
from connector.sandbox.sheets_handlers import HANDLERS
from connector.sandbox.sheets_state import Workbook
from connector.sandbox.sheets_wire import (
    ApiError,
    FaultQueue,
    QuotaWindow,
    Traffic,
    drive_error,
    html_error,
    json_response,
    quota_exceeded,
    sheets_error,
    token_error,
    unauthenticated,
)

TOKEN_LIFETIME = 3600
_VALUES_VERBS = ("append", "clear")
_SHEETS_SCOPES = {"spreadsheets", "drive", "drive.file"}
_SHEETS_READ_SCOPES = _SHEETS_SCOPES | {"spreadsheets.readonly", "drive.readonly"}
_DRIVE_SCOPES = {
    "drive",
    "drive.file",
    "drive.readonly",
    "drive.metadata",
    "drive.metadata.readonly",
}


@dataclass(frozen=True)
class Call:
    """A classified request: quota ``kind``, discovery-style ``name`` and its path arguments."""

    kind: str
    name: str
    spreadsheet_id: str = ""
    range: str = ""


@dataclass(frozen=True)
class Grant:
    """An issued access token."""

    email: str
    scopes: frozenset[str]
    expires: float


def classify(method: str, raw_path: str) -> Call | None:
    """Route a still-encoded path; the verb is whatever follows the last literal ``:``."""
    if raw_path == "/token":
        return Call("token", "token") if method == "POST" else None
    if raw_path.startswith("/drive/v3/files/") and method == "GET":
        return Call("drive", "drive.files.get", unquote(raw_path[len("/drive/v3/files/") :]))
    if not raw_path.startswith("/v4/spreadsheets/"):
        return None
    head, slash, tail = raw_path[len("/v4/spreadsheets/") :].partition("/")
    sid, _, verb = head.partition(":")
    sid = unquote(sid)
    if not slash:
        if method == "GET" and not verb:
            return Call("sheets_read", "spreadsheets.get", sid)
        if method == "POST" and verb == "batchUpdate":
            return Call("sheets_write", "spreadsheets.batchUpdate", sid)
        return None
    if verb:
        return None
    if tail.startswith("values:"):
        name = {
            ("GET", "batchGet"): ("sheets_read", "values.batchGet"),
            ("POST", "batchUpdate"): ("sheets_write", "values.batchUpdate"),
            ("POST", "batchClear"): ("sheets_write", "values.batchClear"),
        }.get((method, tail[len("values:") :]))
        return Call(name[0], name[1], sid) if name else None
    if not tail.startswith("values/"):
        return None
    encoded = tail[len("values/") :]
    rest, colon, verb = encoded.rpartition(":")
    if colon and verb in _VALUES_VERBS:
        encoded = rest
    else:
        verb = ""
    name = {
        ("GET", ""): ("sheets_read", "values.get"),
        ("PUT", ""): ("sheets_write", "values.update"),
        ("POST", "append"): ("sheets_write", "values.append"),
        ("POST", "clear"): ("sheets_write", "values.clear"),
    }.get((method, verb))
    return Call(name[0], name[1], sid, unquote(encoded)) if name else None


def raw_path_of(request: Request) -> str:
    """The path as sent: Werkzeug decodes ``%2F``/``%3A``/``%21`` in ``request.path``."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        return quote(request.path, safe="/:")
    return str(raw).split("?", 1)[0]


class GoogleBackend:
    """State plus the Sheets v4, Drive v3 and OAuth token endpoints over it."""

    def __init__(
        self, *, reads_per_minute: int, writes_per_minute: int, require_auth: bool
    ) -> None:
        self.lock = threading.RLock()
        self.books: dict[str, Workbook] = {}
        self.public_keys: dict[str, dict[str, str]] = {}
        self.require_auth = require_auth
        self.reads = QuotaWindow(reads_per_minute)
        self.writes = QuotaWindow(writes_per_minute)
        self.faults = FaultQueue()
        self.traffic = Traffic()
        self._grants: dict[str, Grant] = {}

    def handle(self, request: Request) -> Response:
        """Answer one Google API request and log it."""
        raw = raw_path_of(request)
        call = classify(request.method, raw)
        body = request.get_data()
        if call is None:
            response: Response = sheets_error(ApiError(404))
            call = Call("unknown", f"{request.method} {raw}")
        else:
            response = self._answer(call, request)
        self.traffic.record(
            method=request.method,
            path=raw,
            kind=call.kind,
            call=call.name,
            status=response.status_code,
            size=len(body),
        )
        return response

    def _answer(self, call: Call, request: Request) -> Response:
        family = "drive" if call.kind == "drive" else "token" if call.kind == "token" else "sheets"
        fault = self.faults.take(family)
        if fault is not None:
            return self._fault_response(fault.status, fault.html, call, family)
        if family == "token":
            return self._token(request)
        try:
            grant = self._authorize(call, request, family)
            if call.kind != "drive":
                window = self.writes if call.kind == "sheets_write" else self.reads
                if not window.admit(grant.email if grant else "anonymous"):
                    raise quota_exceeded(call.kind == "sheets_write", window.limit)
            with self.lock:
                book = self._book(call, family)
                result = HANDLERS[call.name](book, call.range, request)
            return json_response(result)
        except ApiError as exc:
            error = exc
        except Exception as exc:
            # A sandbox bug must still look like Google's 500, not a Werkzeug debug page.
            error = ApiError(500, f"Internal error encountered. ({type(exc).__name__}: {exc})")
        if family == "drive":
            return drive_error(error)
        return sheets_error(error)

    def _fault_response(self, status: int, html: bool, call: Call, family: str) -> Response:
        if html:
            return html_error(status)
        if family == "token":
            return token_error(status, "internal_failure", "Backend Error")
        if status == 429 and family == "sheets":
            window = self.writes if call.kind == "sheets_write" else self.reads
            return sheets_error(quota_exceeded(call.kind == "sheets_write", window.limit))
        if family == "drive":
            return drive_error(ApiError(status))
        return sheets_error(ApiError(status))

    def _token(self, request: Request) -> Response:
        form = request.form
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return token_error(
                400, "unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}"
            )
        try:
            claims = parse_assertion(
                form.get("assertion", ""), self.public_keys, audience=request.base_url
            )
        except GrantError as exc:
            return token_error(400, "invalid_grant", str(exc))
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        scopes = frozenset(s.rsplit("/", 1)[-1] for s in str(claims.get("scope", "")).split() if s)
        with self.lock:
            self._grants[token] = Grant(
                str(claims["iss"]), scopes, time.monotonic() + TOKEN_LIFETIME
            )
        return json_response(
            {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
        )

    def _authorize(self, call: Call, request: Request, family: str) -> Grant | None:
        header = request.headers.get("Authorization", "")
        grant = None
        if header.startswith("Bearer "):
            with self.lock:
                grant = self._grants.get(header[len("Bearer ") :])
            if grant is not None and grant.expires < time.monotonic():
                grant = None
        if grant is None:
            if not self.require_auth:
                return None
            if family == "drive":
                raise ApiError(401, "Invalid Credentials", location="Authorization")
            raise unauthenticated(missing=not header)
        allowed = {
            "drive": _DRIVE_SCOPES,
            "sheets_read": _SHEETS_READ_SCOPES,
            "sheets_write": _SHEETS_SCOPES,
        }[call.kind]
        if not grant.scopes & allowed:
            raise ApiError(403, "Request had insufficient authentication scopes.")
        return grant

    def _book(self, call: Call, family: str) -> Workbook:
        book = self.books.get(call.spreadsheet_id)
        if book is None:
            if family == "drive":
                raise ApiError(404, f"File not found: {call.spreadsheet_id}.", location="fileId")
            raise ApiError(404)
        if not book.shared:
            # Drive hides files the caller cannot read behind the same 404 as missing ones.
            if family == "drive":
                raise ApiError(404, f"File not found: {call.spreadsheet_id}.", location="fileId")
            raise ApiError(403)
        return book
