"""Map influencers.club HTTP responses and httpx failures onto the connector's error tree."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connector.errors import (
    AuthError,
    ConnectorError,
    FatalError,
    OutOfCreditsError,
    ProfileNotFoundError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
)
from connector.logs import redact

_API = "influencers.club"
_KEY_HINT = "check influencers_club.api_key (mint a key at https://dashboard.influencers.club/api)"
_NOT_FOUND = re.compile(r"creator_not_found|no data found", re.IGNORECASE)
# No source shows the body of a refused call at zero balance (reference §4, §10.3) and the
# live API answered 403, which DRF also uses for permission refusals: whatever its shape
# (detail / error / message, JSON or text), a 4xx naming a lack of credits is out of credits.
_NO_CREDITS = re.compile(
    r"(?<!paused_)insufficient[ _](?:credits?|balance|funds)"
    r"|(?:not|n't)(?: have)? enough (?:\w+ )?credits?|out of credits?"
    r"|(?:no|zero|0) (?:\w+ )?credits? (?:left|remaining|available)"
    r"|credits? (?:balance )?(?:exhausted|depleted|used up|too low|is zero)"
    r"|credit (?:limit|quota) (?:reached|exceeded)",
    re.IGNORECASE,
)
_HTML = re.compile(r"^\s*(?:<!doctype html|<html|<head|<body|<center|<h1)", re.IGNORECASE)
_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_REDIRECTS = frozenset({301, 302, 307, 308})
_REJECTED = frozenset({400, 404, 405, 409, 422})
_BODY_CHARS = 300


def classify_response(response: httpx.Response) -> None:
    """Return if ``response`` is a usable success, else raise the ``ConnectorError`` it means."""
    status = response.status_code
    text = _body_text(response)
    where = (
        f"{response.request.method} {response.request.url.path}" if _has_request(response) else ""
    )
    if 200 <= status < 300:
        if status == 204 or not text.strip() or _is_json(text):
            return
        raise TransientError(
            f"{_API} answered HTTP {status} with a non-JSON body ({where}): {_summary(text)}",
            status=status,
        )
    if status in _REDIRECTS:
        raise FatalError(
            f"{_API} redirected {where} (HTTP {status}) to {response.headers.get('location', '?')}",
            hint="every API path must end with '/'; this is a bug in the connector",
        )
    if status == 429:
        raise RateLimitedError(
            f"{_API} rate limit reached (HTTP 429)",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            status=429,
        )
    if status >= 500 or (_HTML.match(text) and status not in range(400, 500)):
        raise TransientError(
            f"{_API} is unavailable (HTTP {status}, {where}): {_summary(text)}",
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            status=status,
        )
    message = extract_message(text)
    if status == 402 or (400 <= status < 500 and _NO_CREDITS.search(text)):
        raise OutOfCreditsError(
            f"{_API} balance cannot pay for this call (HTTP {status}): {message}",
            hint="top up credits in the influencers.club dashboard",
        )
    if status == 401:
        raise AuthError(f"{_API} rejected the API key (HTTP 401): {message}", hint=_KEY_HINT)
    if status == 403:
        raise AuthError(
            f"{_API} refused the call (HTTP 403): {message}",
            hint="check influencers_club.api_key and that the plan includes API access; a 403 "
            "can also mean the balance is empty: run connector credits",
        )
    if status == 400 and _NOT_FOUND.search(text):
        raise ProfileNotFoundError(f"no creator found on {_API}: {message}")
    if status == 408:
        raise TransientError(f"{_API} timed out reading the request (HTTP 408)", status=408)
    if status in _REJECTED:
        raise RequestRejectedError(f"{_API} rejected the request (HTTP {status}): {message}")
    raise RequestRejectedError(f"{_API} answered an unexpected HTTP {status} ({where}): {message}")


def translate_transport_error(exc: Exception) -> ConnectorError:
    """The ``ConnectorError`` for an httpx exception; callers ``raise … from exc``."""
    text = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransientError(f"{_API} did not answer in time ({type(exc).__name__}: {text})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError | httpx.InvalidURL):
        return FatalError(
            f"cannot call {_API}: {text}",
            hint="check influencers_club.base_url (e.g. https://api-dashboard.influencers.club)",
        )
    if isinstance(exc, httpx.TooManyRedirects):
        return FatalError(f"{_API} redirected too often: {text}")
    if isinstance(exc, httpx.HTTPError | httpx.StreamError):
        return TransientError(f"connection to {_API} failed ({type(exc).__name__}: {text})")
    return TransientError(f"unexpected failure talking to {_API} ({type(exc).__name__}: {text})")


def extract_message(text: str) -> str:
    """A short, redacted message from an error body: message → detail → error → response_meta."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    message = ""
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if body.get(key):
                message = _flatten(body[key])
                break
        else:
            meta = body.get("response_meta")
            if isinstance(meta, dict) and meta.get("error_message"):
                message = _flatten(meta["error_message"])
            elif body:
                message = _flatten(body)
    elif isinstance(body, list) and body:
        message = _flatten(body)
    if not message:
        message = _summary(text) or "(empty body)"
    return redact(message)[:_BODY_CHARS]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else ``None``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _flatten(value: Any, prefix: str = "") -> str:
    if isinstance(value, dict):
        if "msg" in value and ("loc" in value or len(value) <= 3):
            loc = value.get("loc")
            where = ".".join(str(p) for p in loc) if isinstance(loc, list | tuple) else ""
            return f"{where}: {value['msg']}" if where else str(value["msg"])
        parts = []
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            inner = _flatten(item, path)
            parts.append(inner if isinstance(item, dict) else f"{path}: {inner}")
        return "; ".join(p for p in parts if p)
    if isinstance(value, list | tuple):
        return "; ".join(_flatten(item, prefix) for item in value if item not in (None, ""))
    return str(value)


def _body_text(response: httpx.Response) -> str:
    try:
        return response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError, LookupError):
        return ""


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _summary(text: str) -> str:
    title = _TITLE.search(text)
    if title and _HTML.match(text):
        return redact(" ".join(title.group(1).split()))[:_BODY_CHARS]
    return redact(" ".join(text.split()))[:_BODY_CHARS]


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018
    except RuntimeError:
        return False
    return True
