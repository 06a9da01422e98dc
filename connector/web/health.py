"""Liveness (``/healthz``) and readiness (``/readyz``: what this web process needs to answer).

``/readyz`` checks the state database and the media backend the ``/media/`` route reads: an
outage of influencers.club, Redis or the workers does not take the web process out of rotation.
``/readyz?deep=1`` also asks influencers.club (cached), the rate-budget storage and the workers'
heartbeats, for monitoring and humans.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from connector.errors import ConnectorError, TransientError
from connector.ratelimit import build_storage
from connector.services import Services
from connector.web.context import get_services

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

API_CHECK_TTL = 60.0
MEDIA_CHECK_TTL = 15.0
_EXTENSION = "connector.readiness"


class Readiness:
    """Per-app probe state: the rate-budget storage client and the cached API check."""

    def __init__(
        self, *, ttl: float = API_CHECK_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._storage: Any = None
        self._api: tuple[float, dict[str, Any]] | None = None
        self._media: tuple[float, dict[str, Any]] | None = None
        self._storage_lock = threading.Lock()
        # Held during the API call: concurrent probes wait for one call rather than each making one.
        self._api_lock = threading.Lock()

    def check_rate_storage(self, uri: str) -> None:
        """Raise ``TransientError`` unless the ``limits`` storage answers."""
        with self._storage_lock:
            if self._storage is None:
                self._storage = build_storage(uri)
            storage = self._storage
        try:
            healthy = storage.check()
        except Exception as exc:
            raise TransientError(f"rate budget storage unavailable: {exc}") from exc
        if not healthy:
            raise TransientError("rate budget storage did not answer")

    def check_api(self, services: Services) -> dict[str, Any]:
        """The influencers.club credits call, answered from cache for ``ttl`` seconds."""
        with self._api_lock:
            now = self.clock()
            if self._api is not None and now - self._api[0] < self.ttl:
                return {**self._api[1], "cached": True}
            result = _probe(lambda: _fetch_credits(services))
            self._api = (now, result)
            return {**result, "cached": False}

    def check_media(self, services: Services) -> dict[str, Any]:
        """The media backend the ``/media/`` route reads (a bucket is asked every 15 s at most)."""
        media = services.media
        if media is None or not media.served:
            return {"ok": True, "backend": services.settings.media_backend}
        with self._storage_lock:
            now = self.clock()
            if self._media is not None and now - self._media[0] < MEDIA_CHECK_TTL:
                return self._media[1]
        result = {**_probe(media.check), "backend": services.settings.media_backend}
        with self._storage_lock:
            self._media = (now, result)
        return result


def _fetch_credits(services: Services) -> None:
    key = services.settings.influencers_club.api_key
    if key is None or not key.get_secret_value():
        raise ConnectorError("influencers_club.api_key is not configured")
    services.enrichment.fetch_credits(probe=True)


def _probe(check: Callable[[], None]) -> dict[str, Any]:
    try:
        check()
    except ConnectorError as exc:
        return {"ok": False, "error": str(exc).splitlines()[0][:300]}
    except Exception as exc:
        log.exception("readiness check crashed")
        return {"ok": False, "error": f"unexpected {exc.__class__.__name__}"}
    return {"ok": True}


def get_readiness() -> Readiness:
    """The current app's ``Readiness`` (created on first use)."""
    return current_app.extensions.setdefault(_EXTENSION, Readiness())  # type: ignore[no-any-return]


@bp.get("/healthz")
def healthz() -> Response:
    """The process is alive and serving requests."""
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when this process can answer its routes (``?deep=1``: and its dependencies); 503."""
    services = get_services()
    readiness = get_readiness()
    checks = {
        "store": _probe(services.store.ping),
        "media": readiness.check_media(services),
    }
    if request.args.get("deep") in ("1", "true", "yes"):
        checks["rate_limit_storage"] = _probe(
            lambda: readiness.check_rate_storage(services.settings.rate_limit_storage)
        )
        checks["influencers_club"] = readiness.check_api(services)
        checks["workers"] = check_workers(services)
    ok = all(check["ok"] for check in checks.values())
    return jsonify({"ok": ok, "checks": checks}), 200 if ok else 503


def check_workers(services: Services) -> dict[str, Any]:
    """At least one ``connector worker`` beat within the last minute; each one's last beat."""
    try:
        live = services.store.fetch_live_workers()
    except ConnectorError as exc:
        return {"ok": False, "error": str(exc).splitlines()[0][:300]}
    now = services.clock()
    workers = [
        {
            "worker": beat.worker_id,
            "state": beat.state,
            "seconds_since_beat": round((now - beat.beat_at).total_seconds(), 1),
            "running": beat.running,
        }
        for beat in live
    ]
    if not any(beat.state == "running" for beat in live):
        return {
            "ok": False,
            "error": "no worker has reported in the last minute (is `connector worker` running?)",
            "workers": workers,
        }
    return {"ok": True, "workers": workers}
