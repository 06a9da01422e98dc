"""The calls in flight to influencers.club: how many, how long they take, and who sends next.

Starts are paced by the rate budget, so by Little's law the calls on the wire number about
rate * latency: 15 when every Full call answers in 3 s at 300/min, ~95 when 30 % of creators
are cold and answer (or time out) after ~55 s. A fixed pool sized for the warm case lets cold
calls hold every slot while the budget sits idle; this gate therefore lets the number of
callers follow what is on the wire, up to a ceiling (``influencers_club.max_concurrency``), and
keeps a few callers ready for the next slot.

It also orders the budget's slots: a call's first attempt goes before another call's repeat
(a cold creator's answer after its gateway 504 comes a minute late anyway, and repeats taking
the slots of first attempts would push every remaining cold creator's round trip later),
but a repeat never waits more than ``REPEAT_YIELD_MAX`` for it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from connector.enrich.models import CallCancelledError
from connector.ratelimit import RateBudget

# How long a repeat lets first attempts go before it competes for slots like any call.
REPEAT_YIELD_MAX = 60.0
# Callers kept ready for a slot: the budget's slots of this many seconds, and at least two.
READY_SECONDS = 1.0
MIN_READY = 2
# How often a repeat waiting behind first attempts looks again.
YIELD_POLL = 0.05
# The longest pause a 429's Retry-After imposes on every caller.
MAX_HOLD = 60.0
# Weight of the newest answer in the latency average (reporting only: the pool follows the
# live count, which needs no estimate).
LATENCY_WEIGHT = 0.1


@dataclass(frozen=True)
class FlightStats:
    """A snapshot of the gate: calls on the wire, callers waiting, the latency seen."""

    on_wire: int
    peak_on_wire: int
    waiting_first: int
    waiting_repeat: int
    latency_seconds: float | None
    sent: int


class CallGate:
    """Who sends next, through ``budget``; calls on the wire (at most ``ceiling``), their latency.

    Thread-safe; one per client, so every cycle of the process shares the ceiling.
    """

    def __init__(
        self,
        ceiling: int,
        budget: RateBudget,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be at least 1")
        self.ceiling = ceiling
        self.budget = budget
        self.rate_per_second = budget.limit / budget.per_seconds
        self._clock = clock
        self._sleep = sleep
        self._hold_until = 0.0
        self._changed = threading.Condition()
        self._on_wire = 0
        self._peak = 0
        self._waiting_first = 0
        self._waiting_repeat = 0
        self._latency: float | None = None
        self._sent = 0

    @property
    def ready_wanted(self) -> int:
        """How many callers should be waiting for a first slot so no slot of the budget idles."""
        return max(MIN_READY, math.ceil(self.rate_per_second * READY_SECONDS))

    @property
    def waiting_first(self) -> int:
        """Callers waiting to send a first attempt."""
        with self._changed:
            return self._waiting_first

    def wait_for_turn(self, cancel: threading.Event | None, *, repeat: bool = False) -> None:
        """Wait out a 429's pause, let first attempts go first if ``repeat``, take a slot.

        Raises ``CallCancelledError`` when ``cancel`` is set first (no slot is taken then).
        """
        with self.waiting(repeat=repeat):
            with self._changed:
                pause = self._hold_until - time.monotonic()
            if pause > 0:
                if cancel is None:
                    self._sleep(pause)
                elif cancel.wait(pause):
                    raise CallCancelledError("cancelled while the API asked to slow down")
            self._take_slot(cancel or threading.Event(), repeat=repeat)

    def hold(self, retry_after: float | None) -> None:
        """Pause every caller for ``retry_after`` seconds (capped): one 429 speaks for all."""
        if retry_after:
            with self._changed:
                until = time.monotonic() + min(retry_after, MAX_HOLD)
                self._hold_until = max(self._hold_until, until)

    def _take_slot(self, cancel: threading.Event, *, repeat: bool) -> None:
        # Waiting on the event instead of sleeping lets a cancelled caller leave at once
        # without taking (and wasting) a slot of the shared budget. A repeat looks again
        # before every try: first attempts that arrived meanwhile go before it.
        started = time.monotonic()
        while not cancel.is_set():
            if repeat and self.should_yield(time.monotonic() - started):
                cancel.wait(YIELD_POLL)
                continue
            if self.budget.try_acquire():
                if cancel.is_set():
                    break
                return
            cancel.wait(min(max(self.budget.wait_time(), 0.005), 0.25))
        raise CallCancelledError("cancelled before sending")

    @contextmanager
    def waiting(self, *, repeat: bool) -> Iterator[None]:
        """Count the caller as waiting for a slot (a first attempt, or a repeat) while inside."""
        with self._changed:
            if repeat:
                self._waiting_repeat += 1
            else:
                self._waiting_first += 1
        try:
            yield
        finally:
            with self._changed:
                if repeat:
                    self._waiting_repeat -= 1
                else:
                    self._waiting_first -= 1

    def should_yield(self, waited: float) -> bool:
        """Whether a repeat that has waited ``waited`` seconds lets first attempts go first."""
        return waited < REPEAT_YIELD_MAX and self.waiting_first > 0

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Hold one of ``ceiling`` places on the wire while inside; record how long it took."""
        with self._changed:
            self._changed.wait_for(lambda: self._on_wire < self.ceiling)
            self._on_wire += 1
            self._sent += 1
            self._peak = max(self._peak, self._on_wire)
        started = self._clock()
        try:
            yield
        finally:
            elapsed = self._clock() - started
            with self._changed:
                self._on_wire -= 1
                self._latency = (
                    elapsed
                    if self._latency is None
                    else self._latency + LATENCY_WEIGHT * (elapsed - self._latency)
                )
                self._changed.notify()

    def get_stats(self) -> FlightStats:
        """What the gate holds right now, and the largest number of calls seen on the wire."""
        with self._changed:
            return FlightStats(
                on_wire=self._on_wire,
                peak_on_wire=self._peak,
                waiting_first=self._waiting_first,
                waiting_repeat=self._waiting_repeat,
                latency_seconds=self._latency,
                sent=self._sent,
            )
