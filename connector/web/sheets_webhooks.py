"""The Sheets nudge: an HMAC-signed call from an Apps Script trigger that brings a poll forward.

``POST /webhooks/sheets/<source>`` with ``X-Connector-Signature: sha256=<hex HMAC-SHA256 of the
raw body>`` keyed by ``web.sheets_nudge_secret`` and a JSON body
``{"source", "sheet", "changeType", "ts"}``. Answers: 202 when a poll was requested (or folded
into a request the worker has not taken yet), 400 malformed body or not a sheets
source, 401 bad signature or stale ``ts``, 403 nudges not configured, 404 unknown source,
409 source disabled, 413 body too large.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from connector.errors import ConfigError
from connector.services import Services
from connector.web.context import get_services
from connector.web.errors import error_response

log = logging.getLogger(__name__)

bp = Blueprint("sheets_webhooks", __name__, url_prefix="/webhooks/sheets")

SIGNATURE_HEADER = "X-Connector-Signature"
FRESHNESS_SECONDS = 300.0


def build_signature(body: bytes, secret: str) -> str:
    """The header value for ``body``: ``sha256=`` + hex HMAC-SHA256 keyed by ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def check_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is the body's signature (compared in constant time)."""
    if not header:
        return False
    return hmac.compare_digest(
        header.strip().lower().encode(), build_signature(body, secret).encode()
    )


def _parse_body(body: bytes, source: str, now: datetime) -> tuple[int, str] | None:
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return 400, "body is not JSON"
    if not isinstance(payload, dict):
        return 400, "body must be a JSON object with source, sheet, changeType and ts"
    if payload.get("source") != source:
        return 400, f"body source {payload.get('source')!r} does not match the URL ({source!r})"
    ts = payload.get("ts")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return 400, "ts must be the send time in epoch seconds"
    if abs(now.timestamp() - float(ts)) > FRESHNESS_SECONDS:
        return 401, f"stale nudge: ts is more than {FRESHNESS_SECONDS:.0f} s from now"
    return None


def _check_source(services: Services, source: str) -> tuple[int, str] | None:
    try:
        config = services.settings.get_source(source)
    except ConfigError:
        return 404, f"unknown source {source!r}"
    if config.type != "sheets":
        return 400, f"source {source!r} is a {config.type} source, not a sheet"
    if not config.enabled:
        return 409, f"source {source!r} is disabled"
    return None


@bp.post("/<source>")
def receive_nudge(source: str) -> tuple[Response, int] | Response:
    """Verify the signature and freshness, then ask the worker to poll ``source`` soon."""
    services = get_services()
    secret = services.settings.web.sheets_nudge_secret
    if secret is None or not secret.get_secret_value():
        return error_response(403, "sheets nudges are disabled (set web.sheets_nudge_secret)")
    body = request.get_data(cache=True)
    if not check_signature(body, request.headers.get(SIGNATURE_HEADER), secret.get_secret_value()):
        log.warning("sheets nudge rejected: bad signature", extra={"source": source})
        return error_response(401, f"invalid or missing {SIGNATURE_HEADER}")
    now = services.clock()
    problem = _check_source(services, source) or _parse_body(body, source, now)
    if problem is not None:
        return error_response(*problem)
    coalesced = not store_nudge(services, source)
    return jsonify({"ok": True, "source": source, "coalesced": coalesced}), 202


def store_nudge(services: Services, source: str) -> bool:
    """Leave the poll request for the worker in the store and wake it; False when a request
    was still waiting (a flood of nudges ends in one poll, and none after a poll is lost)."""
    requested = services.store.request_poll(source)
    log.info("sheets nudge: poll requested", extra={"source": source, "coalesced": not requested})
    return requested
