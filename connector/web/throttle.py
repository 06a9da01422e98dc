"""Login throttling: wrong tokens and passwords from one client address are limited.

Flask-Limiter counts, per client address, the dashboard and API requests that presented a wrong
credential (``auth.has_failed_credentials``), in ``rate_limit_storage``: per process with
``memory://``, shared by every gunicorn worker and machine with Redis. Once
``web.auth_failure_limit`` is used up, every dashboard and API request from that address gets 429
with ``Retry-After``, before its credentials are looked at (so a right guess is not revealed
either), until the oldest failure leaves the moving window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from flask import Blueprint, Flask, Response
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from connector.config import Settings
from connector.web.auth import has_failed_credentials
from connector.web.errors import error_response

SCOPE = "credentials"


def _refuse(limit: RequestLimit) -> Response:
    wait = max(1, math.ceil(limit.reset_at - time.time()))
    response = error_response(
        429, f"too many failed sign-in attempts from your address: try again in {wait} s"
    )
    response.headers["Retry-After"] = str(wait)
    return response


def install_throttle(app: Flask, settings: Settings, blueprints: Iterable[Blueprint]) -> Limiter:
    """Limit failed credentials per client address on ``blueprints`` (the dashboard and API)."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.rate_limit_storage,
        strategy="moving-window",
        key_prefix="connector-auth",
        # A Redis outage must not lock everyone out: count in memory until it is back.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        on_breach=_refuse,
    )
    limit = limiter.shared_limit(
        settings.web.auth_failure_limit,
        scope=SCOPE,
        deduct_when=lambda _response: has_failed_credentials(),
    )
    for blueprint in blueprints:
        limit(blueprint)
    return limiter
