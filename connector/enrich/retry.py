"""Which failed influencers.club calls may be sent again: never blindly one that may be billed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from connector.errors import RateLimitedError, RetryableError
from connector.retry import Verdict

# The request never left this machine, so the API cannot have processed (or billed) it.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


_GATEWAY = frozenset({502, 503, 504})
# The connection broke after the request was (partly) sent: reset, closed early, half written.
_BROKEN = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def describe_failure(error: RetryableError) -> str:
    """What happened, in a few words for a status cell: ``gateway 502``, ``timeout``, …"""
    if error.status is not None:
        return f"gateway {error.status}" if error.status in _GATEWAY else f"HTTP {error.status}"
    cause = error.__cause__
    if isinstance(cause, httpx.TimeoutException):
        return "timeout"
    if isinstance(cause, _BROKEN):
        return "connection reset"
    if isinstance(cause, _NOT_SENT):
        return "connection refused"
    return "connection failed"


def is_ambiguous(error: RetryableError) -> bool:
    """True when the failed request may have reached the API and been processed."""
    if isinstance(error, RateLimitedError):
        return False
    return not isinstance(error.__cause__, _NOT_SENT)


@dataclass(frozen=True)
class PaidCallRule:
    """How many times a call that may already have been billed is sent again, and after what.

    Paid routes allow 1 (a cold call's gateway 504: the backend keeps working and answers warm
    a few seconds later); batch creation allows 0 (a second upload would bill every row again).
    """

    ambiguous_retries: int
    ambiguous_delay: float = 3.0

    def build_check(self, random: Callable[[], float]) -> Callable[[RetryableError], Verdict]:
        """A ``should_retry`` predicate for one call (it counts that call's ambiguous failures)."""
        sent_again = 0

        def check(error: RetryableError) -> Verdict:
            nonlocal sent_again
            if not is_ambiguous(error):
                return True
            if sent_again >= self.ambiguous_retries:
                return False
            sent_again += 1
            return self.ambiguous_delay * (1 + random())

        return check
