"""Wire-format helpers shared by the HubSpot sandbox modules: errors, timestamps, JSON replies."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Response, request

JSON_CONTENT_TYPE = "application/json;charset=utf-8"
NOT_FOUND_MESSAGE = (
    "Could not get some CONTACT objects, they may be deleted or not exist. "
    "Check that ids are valid."
)
AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
MAX_BATCH = 100


class ApiError(Exception):
    """An error answered in HubSpot's JSON error shape; raised by route handlers."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body HubSpot would send, with a fresh correlation id."""
        return {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
            **self.extra,
        }


def get_now() -> datetime:
    """The current UTC time, truncated to milliseconds like HubSpot's clocks."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def get_iso(value: datetime | None) -> str | None:
    """ISO-8601 with milliseconds and ``Z``, the form HubSpot uses everywhere."""
    if value is None:
        return None
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A JSON reply with HubSpot's exact content type."""
    body = json.dumps(payload, separators=(",", ":"))
    return Response(body, status=status, headers=headers, content_type=JSON_CONTENT_TYPE)


def error_response(error: ApiError, headers: dict[str, str] | None = None) -> Response:
    """Render an ``ApiError`` as HubSpot's error body."""
    return json_response(error.body(), error.status, headers)


def parse_bool(value: str | None, default: bool = False) -> bool:
    """Parse a query boolean; the library sends Python's ``True``/``False``."""
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiError(400, "VALIDATION_ERROR", f"Unable to parse boolean value {value!r}")


def parse_int_arg(name: str, default: int) -> int:
    """Parse an integer query parameter or answer 400."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid value for {name}: {raw!r}") from None


def parse_json_body() -> Any:
    """The request's JSON body, or a 400 shaped like HubSpot's parser error."""
    raw = request.get_data(as_text=True)
    if not raw:
        raise ApiError(400, "VALIDATION_ERROR", "Request body is required")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}",
        ) from None


def parse_object_body() -> dict[str, Any]:
    """The request's JSON body, which must be an object."""
    body = parse_json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: expected an object")
    return body


def parse_batch_inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``inputs`` array of a batch body, enforcing HubSpot's 100-input cap."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise ApiError(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be an array")
    if len(inputs) > MAX_BATCH:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Batch input of size {len(inputs)} exceeds the limit of {MAX_BATCH} inputs",
            context={"inputs": [str(len(inputs))]},
        )
    return inputs
