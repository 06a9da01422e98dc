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
    workers stay inside one influencers.club account's 300 requests/minute. ``cap`` adds a
    second, longer window (``(limit, seconds)``) that every slot must also fit in: the API
    counts requests as they arrive, and a request reaches it a little after its slot was taken,
    by a delay that varies, so a budget paced exactly at the API's limit can be seen above it
    for an instant; a cap a few requests below the API's own window keeps that from happening.
    """

    def __init__(
        self,
        store: storage.Storage,
        *,
        limit: int,
        per_seconds: float,
        key: str,
        cap: tuple[int, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(store)
        self._item: RateLimitItem = _item(limit, per_seconds)
        self._cap: RateLimitItem | None = _item(*cap) if cap else None
        self.cap = cap
        self.limit = limit
        self.per_seconds = per_seconds
        self.key = key
        self._sleep = sleep
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take a slot if one is free now (in the pacing window, then in the cap's)."""
        try:
            if not self._limiter.hit(self._item, self.key):
                return False
            # A pacing slot taken when the cap is full goes unused: a fraction of one second's
            # slots, only while the cap binds, in exchange for never counting beyond it.
            return self._cap is None or bool(self._limiter.hit(self._cap, self.key))
        except Exception as exc:
            raise TransientError(f"rate budget storage unavailable: {exc}") from exc

    def wait_time(self) -> float:
        """Seconds until a slot may be free in every window (0 when one is free now)."""
        items = [self._item] if self._cap is None else [self._item, self._cap]
        return max(self._get_wait(item) for item in items)

    def _get_wait(self, item: RateLimitItem) -> float:
        try:
            stats = self._limiter.get_window_stats(item, self.key)
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
