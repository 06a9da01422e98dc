"""How one influencers.club request is sent: the key, the gate's pacing, translation, retries."""

from __future__ import annotations

import random as _random
import threading
from collections.abc import Callable
from typing import Any

import httpx

from connector import __version__
from connector.config import InfluencersClubSettings
from connector.enrich.budget import get_api_key
from connector.enrich.classify import classify_response, translate_transport_error
from connector.enrich.inflight import CallGate
from connector.enrich.retry import PaidCallRule
from connector.errors import AuthError, RateLimitedError
from connector.retry import RetryPolicy, call_with_retries

PROJECT_URL = "https://github.com/influencers-club/connector"
USER_AGENT = f"connector/{__version__} (+{PROJECT_URL})"
KEY_HINT = "set influencers_club.api_key (mint a key at https://dashboard.influencers.club/api)"
# What ``ApiSession.call`` answers for a 404 the caller said it can handle.
MISSING = object()


class ApiSession:
    """One thread-safe ``httpx.Client`` for the account, its requests paced through ``gate``."""

    def __init__(
        self,
        settings: InfluencersClubSettings,
        *,
        gate: CallGate,
        timeout: httpx.Timeout,
        transport: httpx.BaseTransport | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.gate = gate
        self._timeout = timeout
        self._random = random
        self._api_key = get_api_key(settings)
        self._http = httpx.Client(
            base_url=settings.base_url,
            headers={
                "User-Agent": USER_AGENT,
                "X-Integration": "connector",
                "Accept": "application/json",
            },
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=settings.max_concurrency + 4,
                max_keepalive_connections=settings.max_concurrency + 4,
            ),
            transport=transport,
            follow_redirects=False,
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        policy: RetryPolicy,
        what: str,
        rule: PaidCallRule | None = None,
        timeout: httpx.Timeout | None = None,
        cancel: threading.Event | None = None,
        missing_ok: bool = False,
        on_send: Callable[[], None] | None = None,
        **request: Any,
    ) -> Any:
        """Send one request, paced by the gate and retried as ``policy`` and ``rule`` allow.

        Returns the JSON answer (None when empty), or ``MISSING`` for a 404 when
        ``missing_ok``; raises the connector's errors, never httpx's.
        """
        if not self._api_key:
            raise AuthError("no influencers.club API key is configured", hint=KEY_HINT)
        headers = {"Authorization": f"Bearer {self._api_key}"}
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            attempts += 1
            self.gate.wait_for_turn(cancel, repeat=attempts > 1)
            try:
                with self.gate.sending():
                    if on_send is not None:
                        on_send()
                    response = self._http.request(
                        method, path, headers=headers, timeout=timeout or self._timeout, **request
                    )
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                raise translate_transport_error(exc) from exc
            if missing_ok and response.status_code == 404:
                return MISSING
            try:
                classify_response(response)
            except RateLimitedError as exc:
                self.gate.hold(exc.retry_after)
                raise
            return response.json() if response.content.strip() else None

        check = rule.build_check(self._random) if rule is not None else None
        return call_with_retries(attempt, policy=policy, what=what, should_retry=check)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()
