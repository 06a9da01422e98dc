"""Enrich many handles at once: callers that follow the calls in flight, paced by the budget."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from connector.enrich.inflight import CallGate
from connector.enrich.models import CallCancelledError, EnrichResult
from connector.errors import ConnectorError, FatalError

Item = tuple[str, str]
Outcome = EnrichResult | ConnectorError
_SKIPPED = object()
# How often a caller's ``cancel`` is looked at while calls are in flight.
CANCEL_POLL = 0.1


class FullEnricher(Protocol):
    """The part of ``EnrichmentClient`` concurrent enrichment uses."""

    @property
    def max_concurrency(self) -> int:
        """Calls the settings allow in flight at once."""

    @property
    def gate(self) -> CallGate:
        """The client's calls in flight and callers waiting."""

    def enrich_full(
        self, handle: str, platform: str, *, cancel: threading.Event | None = None, **options: Any
    ) -> EnrichResult:
        """One paid Full call."""


def enrich_many(
    client: FullEnricher,
    items: Iterable[Item],
    *,
    max_concurrency: int | None = None,
    cancel: threading.Event | None = None,
    **options: Any,
) -> Iterator[tuple[Item, Outcome]]:
    """Full-enrich ``(handle, platform)`` items, yielding ``(item, result or error)`` as each ends.

    Callers are added while fewer than the gate wants are ready for the next slot of the rate
    budget, so the calls in flight follow the API's latency (Little's law) up to
    ``max_concurrency`` (default: the client's setting); ``items`` is consumed lazily.
    Row-level errors and retryable errors that outlived their retries are yielded for their
    item. After a ``FatalError`` (bad key, no credits) is yielded, no new call
    is sent: calls already in flight finish and are yielded, items not yet sent are never
    yielded, and the generator ends. Setting ``cancel`` (the worker is stopping) also sends
    nothing new, but every item never sent is yielded at once with a ``CallCancelledError``
    (so its caller can hand it back while calls in flight finish). ``options`` go to
    ``EnrichmentClient.enrich_full``.
    """
    workers = max_concurrency or client.max_concurrency
    if workers < 1:
        raise ValueError("max_concurrency must be at least 1")
    gate = client.gate
    stop = threading.Event()
    source = iter(items)
    # Callers submitted that have not reached the gate yet: they count as ready.
    unstarted = [0]
    lock = threading.Lock()

    def run(item: Item) -> Any:
        with lock:
            unstarted[0] -= 1
        if stop.is_set():
            return _SKIPPED
        try:
            return client.enrich_full(item[0], item[1], cancel=stop, **options)
        except CallCancelledError:
            return _SKIPPED
        except ConnectorError as exc:
            return exc

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enrich")
    pending: dict[Future[Any], Item] = {}

    def wants_caller() -> bool:
        if not pending:
            return True
        with lock:
            ready = unstarted[0] + gate.waiting_first
        return len(pending) < workers and ready < gate.ready_wanted

    def refill() -> None:
        while not stop.is_set() and wants_caller():
            item = next(source, None)
            if item is None:
                return
            with lock:
                unstarted[0] += 1
            pending[pool.submit(run, item)] = item

    cancelled = False
    try:
        refill()
        while pending:
            done, _ = wait(pending, timeout=CANCEL_POLL, return_when=FIRST_COMPLETED)
            if cancel is not None and cancel.is_set() and not cancelled:
                cancelled = True
                stop.set()
                for item in source:
                    yield item, CallCancelledError("not sent: the worker is stopping")
            for future in done:
                item = pending.pop(future)
                outcome = future.result()
                if outcome is _SKIPPED:
                    if cancelled:
                        yield item, CallCancelledError("not sent: the worker is stopping")
                    continue
                if isinstance(outcome, FatalError):
                    stop.set()
                yield item, outcome
            refill()
    finally:
        # Also reached when the consumer stops iterating early: queued calls must not start.
        stop.set()
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
