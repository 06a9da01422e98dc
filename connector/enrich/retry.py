"""Bounded retries with full-jitter exponential backoff that honour ``Retry-After``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from connector.errors import RateLimitedError, RetryableError
from connector.logs import redact

T = TypeVar("T")
log = logging.getLogger("connector.enrich")

# The request never left this machine, so the API cannot have processed (or billed) it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a ``RetryableError``.

    ``ambiguous_retries`` bounds retries after failures where the API may already have done
    (and billed) the work — a timeout or a 5xx after the request was sent. ``None`` means no
    extra bound; paid routes use 1 (retry a cold-call 504 once), batch creation 0.
    """

    max_attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    ambiguous_retries: int | None = None
    ambiguous_delay: float = 3.0

    def get_delay(self, attempt: int, error: RetryableError, random: Callable[[], float]) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        return random() * min(self.max_delay, self.base_delay * 2 ** (attempt - 1))


def is_ambiguous(error: RetryableError) -> bool:
    """True when the failed request may have reached the API and been processed."""
    if isinstance(error, RateLimitedError):
        return False
    return not isinstance(error.__cause__, _NOT_SENT)


def call_with_retries(
    func: Callable[[], T],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    random: Callable[[], float],
    what: str = "request",
) -> T:
    """Call ``func`` until it returns, retrying only ``RetryableError`` as ``policy`` allows."""
    attempt = 0
    ambiguous = 0
    while True:
        attempt += 1
        try:
            return func()
        except RetryableError as exc:
            if attempt >= policy.max_attempts:
                raise
            delay = policy.get_delay(attempt, exc, random)
            if policy.ambiguous_retries is not None and is_ambiguous(exc):
                if ambiguous >= policy.ambiguous_retries:
                    raise
                ambiguous += 1
                # A cold call keeps running behind the gateway; a few seconds later it is warm.
                delay = max(delay, policy.ambiguous_delay * (1 + random()))
            log.warning(
                "retrying",
                extra={
                    "what": what,
                    "attempt": attempt,
                    "delay": round(delay, 3),
                    "error": redact(str(exc)),
                },
            )
            sleep(delay)
