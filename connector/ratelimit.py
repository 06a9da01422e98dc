"""Client-side request budgets: moving windows in memory or Redis that callers wait on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from limits import RateLimitItem, RateLimitItemPerSecond, storage
from limits.strategies import MovingWindowRateLimiter

from connector.errors import ConfigError, TransientError
from connector.logs import redact


def build_storage(uri: str) -> storage.Storage:
    """Create a ``limits`` storage from ``memory://`` or ``redis://host:port/db``."""
    try:
        built = storage.storage_from_string(uri)
    except Exception as exc:
        raise ConfigError([f"rate_limit_storage: cannot use it: {redact(str(exc))}"]) from exc
    if not isinstance(built, storage.Storage):
        raise ConfigError(["rate_limit_storage: an asyncio storage; use memory:// or redis://"])
    return built


class RateBudget:
    """``limit`` requests per ``per_seconds`` under ``key``; ``acquire`` waits for a slot.

    With Redis storage every process using the same key shares one budget, which is how several
    workers stay inside one influencers.club account's 300 requests/minute.
    """

    def __init__(
        self,
        store: storage.Storage,
        *,
        limit: int,
        per_seconds: float,
        key: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(store)
        self._item: RateLimitItem = _item(limit, per_seconds)
        self.limit = limit
        self.per_seconds = per_seconds
        self.key = key
        self._sleep = sleep
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take a slot if one is free now."""
        try:
            return bool(self._limiter.hit(self._item, self.key))
        except Exception as exc:
            raise TransientError(f"rate budget storage unavailable: {exc}") from exc

    def wait_time(self) -> float:
        """Seconds until the oldest hit in the window expires (0 when a slot is free)."""
        try:
            stats = self._limiter.get_window_stats(self._item, self.key)
        except Exception as exc:
            raise TransientError(f"rate budget storage unavailable: {exc}") from exc
        if stats.remaining > 0:
            return 0.0
        return max(0.0, stats.reset_time - time.time())

    def acquire(self, timeout: float | None = None) -> None:
        """Block until a slot is taken; raise ``TransientError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.try_acquire():
                return
            delay = min(max(self.wait_time(), 0.005), 1.0)
            if deadline is not None and time.monotonic() + delay > deadline:
                raise TransientError(f"no request slot free in {self.key!r} within {timeout}s")
            self._sleep(delay)

    def ping(self) -> None:
        """Check the storage answers (for /readyz)."""
        try:
            self._limiter.storage.check()
        except Exception as exc:
            raise TransientError(f"rate budget storage unavailable: {exc}") from exc


def _item(limit: int, per_seconds: float) -> RateLimitItem:
    seconds = max(1, round(per_seconds))
    return RateLimitItemPerSecond(limit, seconds)
