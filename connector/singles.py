"""The single route: one paid Full call per creator, each answer in the ledger before use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from connector.enrich.concurrent import enrich_many
from connector.errors import (
    ConnectorError,
    FatalError,
    OutOfCreditsError,
    ProfileNotFoundError,
    RetryableError,
)
from connector.sources.base import Status
from connector.store.models import LedgerKey

if TYPE_CHECKING:
    from connector.pipeline import CycleReport
    from connector.services import Services


class _LedgerFirst:
    """The enrichment client, but every answer is in the ledger before anyone sees it.

    A paid answer is committed by the thread that received it: waiting for the consumer loop
    (busy mapping and queueing earlier results) would widen the window in which a crash loses
    an answer that was already billed.
    """

    def __init__(self, services: Services, keys: dict[tuple[str, str], LedgerKey]) -> None:
        self._client = services.enrichment
        self._store = services.store
        self._keys = keys
        self.max_concurrency: int = self._client.max_concurrency

    def enrich_full(self, handle: str, platform: str, **options: Any) -> Any:
        key = self._keys[(handle, platform)]
        try:
            result = self._client.enrich_full(handle, platform, **options)
        except ProfileNotFoundError:
            self._store.save_result(key, "not_found", None, 0.0)
            raise
        self._store.save_result(key, "found", result.profile, result.credits_cost)
        return result


def enrich_singles(
    services: Services, items: Sequence[tuple[LedgerKey, str]], report: CycleReport, owner: str
) -> None:
    """Call the API once per creator (in parallel); serve each record as its answer lands.

    ``owner`` holds the reservations of ``items``; they end with the saved answer, or are
    released when no answer came.
    """
    from connector.pipeline import deliver_key, get_fresh

    store = services.store
    by_item = {(value, key.platform): key for key, value in items}
    done: set[LedgerKey] = set()
    fatal: FatalError | None = None
    outcomes = enrich_many(
        _LedgerFirst(services, by_item),  # type: ignore[arg-type]
        list(by_item),
        max_concurrency=services.settings.influencers_club.max_concurrency,
    )
    for (value, platform), outcome in outcomes:
        key = by_item[(value, platform)]
        done.add(key)
        if isinstance(outcome, FatalError):
            fatal = fatal or outcome
            store.release([key], owner)
        elif isinstance(outcome, ProfileNotFoundError):
            report.not_found += 1
            deliver_key(services, key, report, paid=True)
        elif isinstance(outcome, ConnectorError):
            _record_failure(services, key, outcome, report, owner)
        else:
            report.credits_spent += outcome.credits_cost
            report.enriched += 1
            deliver_key(services, key, report, paid=True)
    leftover = [k for k, _ in items if k not in done]
    if leftover:
        store.release(leftover, owner)
    if fatal is not None:
        answered = set(get_fresh(services, [k for k, _ in items]))
        unserved = {k for k, _ in items} - answered
        _handle_fatal(services, fatal, sorted(unserved), report)


def _record_failure(
    services: Services, key: LedgerKey, error: ConnectorError, report: CycleReport, owner: str
) -> None:
    from connector.pipeline import _enqueue_status

    store = services.store
    store.release([key], owner)
    report.errors += 1
    items = store.fetch_work_for_keys([key], states=("waiting",))
    if isinstance(error, RetryableError):
        status, text = Status.RETRY, f"temporary failure, will retry: {error}"
    else:
        status, text = Status.ERROR, str(error)
    store.set_work_state([w.id for w in items], "failed", error=text)
    _enqueue_status(services, items, status, text)


def _handle_fatal(
    services: Services, error: FatalError, keys: Sequence[LedgerKey], report: CycleReport
) -> None:
    from connector.pipeline import _enqueue_status, _mark

    store = services.store
    report.error = str(error)
    items = store.fetch_work_for_keys(keys, states=("waiting",))
    if isinstance(error, OutOfCreditsError):
        store.set_work_state([w.id for w in items], "held", error=str(error))
        report.held += len(items)
        _mark(services, items, Status.AWAITING_CREDITS)
    else:
        store.set_work_state([w.id for w in items], "failed", error=str(error))
        _enqueue_status(services, items, Status.ERROR, str(error))
    services.notify(
        "fatal_error", source=report.source, error=str(error), error_type=type(error).__name__
    )
