"""The one retry policy: bounded attempts and time, jittered exponential backoff, ``Retry-After``.

Every retry in the connector goes through ``call_with_retries`` (stamina underneath). Only a
``RetryableError`` is ever retried; callers translate third-party errors inside the call and may
narrow further with ``should_retry`` (a paid call that may have been billed, a request that is
not idempotent). Tests switch the waiting off with ``stamina.set_testing``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina

from connector.errors import RetryableError
from connector.logs import redact

T = TypeVar("T")
log = logging.getLogger("connector.retry")

# What ``should_retry`` answers: False gives up, True waits the policy's backoff, a number
# waits at least that many seconds.
Verdict = bool | float


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry, and how far to follow a server's ``Retry-After``."""

    attempts: int = 4
    wait_initial: float = 1.0
    wait_max: float = 30.0
    wait_jitter: float = 1.0
    timeout: float | None = 600.0
    max_retry_after: float = 60.0

    def get_wait(self, error: RetryableError) -> Verdict:
        """Seconds the server asked for (capped), or True for the exponential backoff."""
        if error.retry_after is None:
            return True
        return min(max(error.retry_after, 0.0), self.max_retry_after)


def apply_verdict(wait: Verdict, verdict: Verdict) -> Verdict:
    """Combine the policy's wait with a caller's verdict: give up, or wait the longer."""
    if verdict is False or wait is False:
        return False
    if verdict is True:
        return wait
    if wait is True:
        return float(verdict)
    return max(float(wait), float(verdict))


def call_with_retries(
    func: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    should_retry: Callable[[RetryableError], Verdict] | None = None,
) -> T:
    """Call ``func`` until it returns, retrying ``RetryableError`` as ``policy`` allows."""
    attempts = 0

    def decide(exc: Exception) -> Verdict:
        if not isinstance(exc, RetryableError):
            return False
        wait = policy.get_wait(exc)
        if should_retry is not None:
            wait = apply_verdict(wait, should_retry(exc))
        if wait is not False and attempts < policy.attempts:
            extra = {"what": what, "attempt": attempts, "error": redact(str(exc))}
            if wait is not True:
                extra["wait"] = round(float(wait), 3)
            log.warning("retrying", extra=extra)
        return wait

    for attempt in stamina.retry_context(
        on=decide,
        attempts=policy.attempts,
        timeout=policy.timeout,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
        wait_jitter=policy.wait_jitter,
    ):
        with attempt:
            attempts = attempt.num
            return func()
    raise AssertionError("unreachable")  # pragma: no cover - stamina re-raises the last error
