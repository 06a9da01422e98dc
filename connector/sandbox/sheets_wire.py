"""Google's error bodies, per-user quotas, injected faults and the traffic log of the sandbox."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

JSON_TYPE = "application/json; charset=UTF-8"
PROJECT_NUMBER = "123456789012"

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}
_DRIVE_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    429: "rateLimitExceeded",
    500: "internalError",
    502: "badGateway",
    503: "backendError",
}
HTML_502 = (
    "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <meta name=viewport "
    'content="initial-scale=1, minimum-scale=1, width=device-width">\n'
    "  <title>Error 502 (Server Error)!!1</title>\n"
    "  <p><b>502.</b> <ins>That\u2019s an error.</ins>\n"
    "  <p>The server encountered a temporary error and could not complete your request."
    "<p>Please try again in 30 seconds.  <ins>That\u2019s all we know.</ins>\n"
)


class ApiError(Exception):
    """Raised inside handlers; rendered as the Google body for the endpoint family."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        *,
        details: list[Any] | None = None,
        reason: str | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(message or _DEFAULT_MESSAGES.get(code, "Error"))
        self.code = code
        self.message = message or _DEFAULT_MESSAGES.get(code, "Error")
        self.details = details
        self.reason = reason  # Drive's errors[0].reason, when not implied by the code
        self.location = location  # Drive's errors[0].location (a parameter or header name)


def json_response(body: Any, status: int = 200) -> Response:
    """Pretty-printed JSON with Google's content type."""
    text = json.dumps(body, indent=2, ensure_ascii=False)
    return Response(text + "\n", status=status, content_type=JSON_TYPE)


def sheets_error(error: ApiError) -> Response:
    """``{"error": {code, message, status[, details]}}``."""
    body: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "status": STATUS_NAMES.get(error.code, "UNKNOWN"),
    }
    if error.details:
        body["details"] = error.details
    return json_response({"error": body}, error.code)


def drive_error(error: ApiError) -> Response:
    """Drive's older ``{"error": {errors: [...], code, message}}`` shape."""
    item: dict[str, Any] = {
        "domain": "usageLimits" if error.code == 429 else "global",
        "reason": error.reason or _DRIVE_REASONS.get(error.code, "backendError"),
        "message": error.message,
    }
    location = error.location
    if location:
        item["locationType"] = "header" if location == "Authorization" else "parameter"
        item["location"] = location
    return json_response(
        {"error": {"errors": [item], "code": error.code, "message": error.message}}, error.code
    )


def token_error(status: int, error: str, description: str) -> Response:
    """OAuth 2 token endpoint error: ``{"error": "invalid_grant", "error_description": …}``."""
    return json_response({"error": error, "error_description": description}, status)


def html_error(status: int = 502) -> Response:
    """The HTML page Google's front end serves for gateway errors."""
    return Response(HTML_502, status=status, content_type="text/html; charset=UTF-8")


def quota_exceeded(write: bool, limit: int) -> ApiError:
    """The exact 429 RESOURCE_EXHAUSTED error Sheets returns for the per-user minute quota."""
    metric, quota = ("Write", "write") if write else ("Read", "read")
    message = (
        f"Quota exceeded for quota metric '{metric} requests' and limit '{metric} requests per "
        f"minute per user' of service 'sheets.googleapis.com' for consumer "
        f"'project_number:{PROJECT_NUMBER}'."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {
                "quota_location": "global",
                "quota_metric": f"sheets.googleapis.com/{quota}_requests",
                "quota_limit": f"{metric}RequestsPerMinutePerUser",
                "quota_limit_value": str(limit),
                "consumer": f"projects/{PROJECT_NUMBER}",
                "service": "sheets.googleapis.com",
            },
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [
                {
                    "description": "Request a higher quota limit.",
                    "url": "https://cloud.google.com/docs/quotas/help/request_increase",
                }
            ],
        },
    ]
    return ApiError(429, message, details=details)


def unauthenticated(*, missing: bool) -> ApiError:
    """Sheets' 401: no credentials at all, or a token it never issued (or that expired)."""
    if missing:
        message = "Request is missing required authentication credential."
        reason = "CREDENTIALS_MISSING"
    else:
        message = "Request had invalid authentication credentials."
        reason = "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    message += (
        " Expected OAuth 2 access token, login cookie or other valid authentication credential."
        " See https://developers.google.com/identity/sign-in/web/devconsole-project."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "sheets.googleapis.com"},
        }
    ]
    return ApiError(401, message, details=details)


class QuotaWindow:
    """Requests per user in a moving 60-second window; rejected requests do not count."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, user: str) -> bool:
        """Record one request for ``user``; ``False`` when it would exceed the limit."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(user, deque())
            while hits and hits[0] <= now - 60:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


@dataclass
class Fault:
    """One queued failure: the next request of ``kind`` gets ``status`` (HTML when asked)."""

    status: int
    html: bool
    kind: str


class FaultQueue:
    """Faults served in order to the next matching requests."""

    KINDS = ("sheets", "drive", "token", "any")

    def __init__(self) -> None:
        self._queue: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, status: int, count: int, html: bool, kind: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, not {kind!r}")
        with self._lock:
            self._queue.extend(Fault(status, html, kind) for _ in range(count))

    def take(self, kind: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._queue):
                if fault.kind in (kind, "any"):
                    return self._queue.pop(index)
        return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class Traffic:
    """Counters and the request log behind ``stats()`` and ``requests()``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._log: list[dict[str, Any]] = []
            self._by_call: Counter[str] = Counter()
            self._kinds: Counter[str] = Counter()
            self._http_429 = 0
            self._max_write_bytes = 0

    def record(
        self, *, method: str, path: str, kind: str, call: str, status: int, size: int
    ) -> None:
        with self._lock:
            self._log.append(
                {
                    "method": method,
                    "path": path,
                    "kind": kind,
                    "call": call,
                    "status": status,
                    "bytes": size,
                }
            )
            self._by_call[call] += 1
            self._kinds[kind] += 1
            if status == 429:
                self._http_429 += 1
            if kind == "sheets_write":
                self._max_write_bytes = max(self._max_write_bytes, size)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "sheets_reads": self._kinds["sheets_read"],
                "sheets_writes": self._kinds["sheets_write"],
                "drive_calls": self._kinds["drive"],
                "token_calls": self._kinds["token"],
                "by_call": dict(self._by_call),
                "http_429": self._http_429,
                "max_write_bytes": self._max_write_bytes,
            }

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]
