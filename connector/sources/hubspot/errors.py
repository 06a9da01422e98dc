"""HubSpot error translation and retry policy: one place that knows the library's exceptions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from connector.errors import (
    AuthError,
    ConnectorError,
    RateLimitedError,
    RequestRejectedError,
    SourceError,
    TransientError,
)

DAILY_RETRY_AFTER = 3600.0


class _HubSpotRetry(Retry):
    """urllib3 ``Retry`` that gives up at once on a ``DAILY`` 429 instead of looping on it."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and response.status == 429 and _is_daily(_body_text(response)):
            # With raise_on_status=False urllib3 hands this 429 back to the library as is.
            raise MaxRetryError(_pool, url or "", "HubSpot daily API limit reached")  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _body_text(response: Any) -> str:
    try:
        data = response.data
    except Exception:
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")


def _is_daily(body: str) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return "DAILY" in body
    return isinstance(parsed, dict) and str(parsed.get("policyName", "")).upper() == "DAILY"


def build_retry(max_attempts: int) -> Retry:
    """The retry policy from the reference: any method, 429/5xx, ``Retry-After``, no raise."""
    return _HubSpotRetry(
        total=max_attempts,
        backoff_factor=1.0,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def _parse_body(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body:
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {"message": body[:300]}
    return parsed if isinstance(parsed, dict) else {}


def _validation_text(payload: Mapping[str, Any]) -> str:
    """Turn HubSpot's VALIDATION_ERROR body (with its embedded JSON array) into one line."""
    message = str(payload.get("message") or "invalid request")
    start = message.find("[")
    if start >= 0:
        try:
            items = json.loads(message[start:])
        except ValueError:
            items = None
        if isinstance(items, list) and items:
            parts = []
            for item in items:
                if isinstance(item, dict):
                    name = item.get("name") or item.get("propertyName") or "?"
                    parts.append(f"{name}: {item.get('message') or item.get('error')}")
            if parts:
                return "; ".join(parts)
    details = [str(e.get("message")) for e in payload.get("errors") or [] if isinstance(e, dict)]
    return "; ".join([message, *details]) if details else message


def _missing_scopes(payload: Mapping[str, Any]) -> list[str]:
    scopes: list[str] = []
    for error in payload.get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        for key, values in (context or {}).items():
            if "scope" in key.lower() and isinstance(values, list):
                scopes.extend(str(v) for v in values if str(v) not in scopes)
    return scopes


def translate_error(exc: BaseException, what: str) -> ConnectorError:
    """Map any hubspot-api-client ``ApiException`` (any module) or urllib3 error to ours.

    Exceptions that are neither (programming errors) are re-raised unchanged.
    """
    if isinstance(exc, ConnectorError):
        return exc
    status = getattr(exc, "status", None)
    if isinstance(status, int) and hasattr(exc, "body"):
        payload = _parse_body(exc.body)
        message = str(payload.get("message") or getattr(exc, "reason", "") or "no message")
        category = str(payload.get("category") or "")
        if status == 401:
            return AuthError(
                f"HubSpot rejected the access token while trying to {what}: {message}",
                hint="check hubspot.access_token (a private-app or service-key token)",
            )
        if status == 403:
            scopes = _missing_scopes(payload)
            if category == "MISSING_SCOPES" or scopes:
                named = ", ".join(scopes) or "see HubSpot's message"
                return AuthError(
                    f"the HubSpot token lacks scopes needed to {what}: {named}",
                    hint="add the scopes to the private app / service key and update the token",
                )
            return AuthError(f"HubSpot refused to {what} (403): {message}")
        if status == 429:
            if str(payload.get("policyName", "")).upper() == "DAILY":
                return RateLimitedError(
                    f"HubSpot's daily API limit is used up ({what})",
                    retry_after=DAILY_RETRY_AFTER,
                    hint="the limit resets at midnight in the portal's time zone",
                )
            return RateLimitedError(
                f"HubSpot rate limit hit while trying to {what}",
                retry_after=_retry_after(exc) or 10.0,
            )
        if status == 404:
            return SourceError(f"HubSpot could not find what was needed to {what}: {message}")
        if status == 0 or status >= 500 or status in (423, 477):
            return TransientError(
                f"HubSpot failed to {what} ({status}): {message}", retry_after=_retry_after(exc)
            )
        if category == "VALIDATION_ERROR" or status == 400:
            return RequestRejectedError(_validation_text(payload))
        return RequestRejectedError(f"HubSpot refused to {what} ({status}): {message}")
    if isinstance(exc, Urllib3Error):
        return TransientError(f"cannot reach HubSpot to {what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, OSError):
        return TransientError(f"cannot reach HubSpot to {what}: {exc}")
    raise exc


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None) or {}
    try:
        value = headers.get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


def get_status(exc: BaseException) -> int | None:
    """The HTTP status of a hubspot-api-client ``ApiException`` from any module, else None."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and hasattr(exc, "body") else None
