"""Request accounting for the HubSpot sandbox: moving-window limiter, injected faults, stats."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

DAILY_LIMIT = 250_000
SEARCH_PER_SECOND = 5


@dataclass
class Fault:
    """One queued fault: a status to answer (or <400 for a pure delay) after ``delay`` seconds."""

    status: int
    policy: str
    path_prefix: str | None
    delay: float


@dataclass(frozen=True)
class Admission:
    """The limiter's verdict for one request."""

    allowed: bool
    remaining: int
    policy: str = "TEN_SECONDLY_ROLLING"


class Traffic:
    """Thread-safe limiter, fault queue, counters and request log."""

    def __init__(self, *, limit: int, interval: float) -> None:
        self.limit = limit
        self.interval = interval
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._search_window: deque[float] = deque()
        self._faults: list[Fault] = []
        self._daily_used = 0
        self._requests = 0
        self._http_429 = 0
        self._by_endpoint: Counter[str] = Counter()
        self._log: list[dict[str, Any]] = []

    def add_faults(self, fault: Fault, count: int) -> None:
        """Queue ``count`` copies of ``fault``; they fire in order on matching requests."""
        with self._lock:
            self._faults.extend([fault] * count)

    def take_fault(self, path: str) -> Fault | None:
        """Pop the first queued fault whose prefix matches ``path``."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    return self._faults.pop(index)
        return None

    def admit(self) -> Admission:
        """Count one request against the moving window (rejected requests are not counted)."""
        now = time.monotonic()
        with self._lock:
            while self._window and self._window[0] <= now - self.interval:
                self._window.popleft()
            if self._daily_used >= DAILY_LIMIT:
                return Admission(False, 0, "DAILY")
            if len(self._window) >= self.limit:
                return Admission(False, 0)
            self._window.append(now)
            self._daily_used += 1
            return Admission(True, self.limit - len(self._window))

    def admit_search(self) -> bool:
        """Search has its own per-second window on top of the burst limit."""
        now = time.monotonic()
        with self._lock:
            while self._search_window and self._search_window[0] <= now - 1.0:
                self._search_window.popleft()
            if len(self._search_window) >= SEARCH_PER_SECOND:
                return False
            self._search_window.append(now)
            return True

    def daily_remaining(self) -> int:
        """Requests left in the simulated daily quota."""
        with self._lock:
            return DAILY_LIMIT - self._daily_used

    def record(self, entry: dict[str, Any]) -> None:
        """Account one finished API request."""
        with self._lock:
            self._requests += 1
            if entry.get("endpoint"):
                self._by_endpoint[entry["endpoint"]] += 1
            if entry.get("status") == 429:
                self._http_429 += 1
            self._log.append(entry)

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_endpoint": dict(self._by_endpoint),
                "http_429": self._http_429,
            }

    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log since the last reset."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    def reset(self) -> None:
        """Zero the counters and clear the request log (the limiter window is kept)."""
        with self._lock:
            self._requests = 0
            self._http_429 = 0
            self._by_endpoint.clear()
            self._log.clear()
