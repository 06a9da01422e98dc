"""The single route: one paid call per creator (or e-mail), each answer stored before use."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from connector.enrich.concurrent import enrich_many
from connector.enrich.models import CallCancelledError, EmailMatch
from connector.errors import (
    ConnectorError,
    FatalError,
    ProfileNotFoundError,
    RetryableError,
)
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import deliver_key, hand_back, write_status
from connector.pipeline.events import (
    EMAIL_LOOKUP,
    SINGLE,
    build_item_event,
    save_events,
    save_lookup_events,
)
from connector.pipeline.report import CycleReport
from connector.retry import RetryPolicy, call_with_retries
from connector.sources.base import Status
from connector.store.models import LedgerKey, RecordEvent, is_email_key

log = logging.getLogger(__name__)

# Saving a paid answer is retried for about 30 s: enough to ride out a database failover or a
# dropped connection without holding the worker for long.
SAVE_RETRY = RetryPolicy(attempts=7, wait_initial=0.5, wait_max=15.0, wait_jitter=0.5, timeout=30.0)


class UnsavedResultError(FatalError):
    """A paid answer could not be saved to the ledger: the credit is spent, the answer is lost.

    Never a ``RetryableError``: retrying would pay again. The cycle stops, the creator stays
    reserved and the profile is logged so an operator can recover it.
    """

    def __init__(self, message: str, *, keys: Sequence[LedgerKey], credits_cost: float) -> None:
        super().__init__(message, hint="check the database; the profile is in the worker log")
        self.keys = list(keys)
        self.credits_cost = credits_cost


class _LedgerFirst:
    """The enrichment client, but every answer is in the ledger before anyone sees it.

    A paid answer is committed by the thread that received it: waiting for the consumer loop
    (busy mapping and queueing earlier results) would widen the window in which a crash loses
    an answer that was already billed. ``enrich_many`` calls ``enrich_full``; each key's own
    call is sent: its tier (``full``, ``raw``, ``profile``) or, for an e-mail key, Enrich by
    E-mail, whose answers go to the e-mail ledger.
    """

    def __init__(
        self,
        services: PipelineServices,
        keys: dict[tuple[str, str], LedgerKey],
        *,
        owner: str,
    ) -> None:
        self._client = services.enrichment
        self._store = services.store
        self._keys = keys
        self._owner = owner
        # Past half a lease the reservation may lapse (the keeper needs the database too), so
        # another worker could pay meanwhile: retrying longer would not keep the promise.
        lease = services.settings.pipeline.reservation_lease
        self._policy = replace(SAVE_RETRY, timeout=min(SAVE_RETRY.timeout or lease, lease / 2))
        self.max_concurrency: int = self._client.max_concurrency
        self.gate = self._client.gate

    def enrich_full(self, handle: str, platform: str, **options: Any) -> Any:
        key = self._keys[(handle, platform)]

        def on_send() -> None:
            self._store.mark_calls_started([key], self._owner)

        cancel = options.get("cancel")
        try:
            if is_email_key(key):
                result: Any = self._client.enrich_email(handle, cancel=cancel, on_send=on_send)
            elif key.mode == "raw":
                result = self._client.enrich_raw(handle, platform, cancel=cancel, on_send=on_send)
            elif key.mode == "profile":
                result = self._client.enrich_profile(
                    handle, platform, cancel=cancel, on_send=on_send
                )
            else:
                result = self._client.enrich_full(handle, platform, on_send=on_send, **options)
        except ProfileNotFoundError:
            # A miss is free: if it cannot be saved the store's error is retried later at no cost.
            self._save(key, "not_found", None, 0.0)
            raise
        profile = result.result if isinstance(result, EmailMatch) else result.profile
        try:
            self._save(key, "found", result, result.credits_cost)
        except ConnectorError as exc:
            log.critical(
                "paid answer not saved: the credit is spent and the profile is only in this log",
                extra={
                    "platform": key.platform,
                    "handle": key.handle_key,
                    "credits": result.credits_cost,
                    "error": str(exc),
                    "profile": json.dumps(profile, default=str),
                },
            )
            raise UnsavedResultError(
                f"the answer for {key.platform}:{key.handle_key} was paid for but could not be "
                f"saved: {exc}",
                keys=[key],
                credits_cost=result.credits_cost,
            ) from exc
        return result

    def _save(self, key: LedgerKey, outcome: str, answer: Any, cost: float) -> None:
        call_with_retries(
            lambda: self._write(key, outcome, answer, cost),
            policy=self._policy,
            what=f"ledger save of {key.platform}:{key.handle_key}",
        )

    def _write(self, key: LedgerKey, outcome: str, answer: Any, cost: float) -> None:
        if not is_email_key(key):
            self._store.save_result(key, outcome, answer.profile if answer else None, cost)
            return
        match = answer if isinstance(answer, EmailMatch) else None
        # ``username`` keeps what names the creator: the username, else the profile URL.
        self._store.save_email_results(
            [
                (
                    key.handle_key,
                    outcome,
                    match.platform if match else None,
                    match.username or match.url if match else None,
                    match.result if match else None,
                    cost,
                )
            ]
        )


def enrich_singles(
    services: PipelineServices,
    items: Sequence[tuple[LedgerKey, str]],
    report: CycleReport,
    owner: str,
) -> None:
    """Call the API once per creator (in parallel); serve each record as its answer lands.

    ``owner`` holds the reservations of ``items``; they end with the saved answer, or are
    released when no answer came (an unsaved paid answer keeps its reservation). A
    ``FatalError`` is raised after every answered call was handled; the caller holds or fails
    the work no answer reached. E-mail keys are looked up and their answers stored; the caller
    moves their records on to the creators found (``pipeline/emails.py``).
    """
    store = services.store
    by_item = {(value, key.platform): key for key, value in items}
    done: set[LedgerKey] = set()
    fatal: FatalError | None = None
    unsaved: list[UnsavedResultError] = []
    outcomes = enrich_many(
        _LedgerFirst(services, by_item, owner=owner),  # type: ignore[arg-type]
        list(by_item),
        max_concurrency=services.settings.influencers_club.max_concurrency,
        cancel=services.stopping,
    )
    for (value, platform), outcome in outcomes:
        key = by_item[(value, platform)]
        done.add(key)
        if isinstance(outcome, CallCancelledError):
            # Never sent (the worker is stopping): another worker may take it at once.
            store.release([key], owner)
            hand_back(services, store.fetch_work_for_keys([key], states=("waiting",)))
        elif isinstance(outcome, UnsavedResultError):
            report.credits_spent += outcome.credits_cost
            report.errors += 1
            unsaved.append(outcome)
            _record_unsaved(services, key, outcome, report)
        elif isinstance(outcome, FatalError):
            fatal = fatal or outcome
            store.release([key], owner)
        elif isinstance(outcome, ProfileNotFoundError):
            if is_email_key(key):
                report.email_not_found += 1
            else:
                report.not_found += 1
                deliver_key(services, key, report, paid=True)
        elif isinstance(outcome, ConnectorError):
            _record_failure(services, key, outcome, report, owner)
        else:
            report.credits_spent += outcome.credits_cost
            if is_email_key(key):
                report.email_matched += 1
                save_lookup_events(services, {key: outcome.credits_cost}, report.run_id)
            else:
                report.enriched += 1
                deliver_key(services, key, report, paid=True)
    leftover = [k for k, _ in items if k not in done]
    if leftover:
        store.release(leftover, owner)
    if unsaved:
        # Losing a paid answer outranks any other stop: its keys must stay reserved.
        raise UnsavedResultError(
            "; ".join(str(e.message) for e in unsaved),
            keys=[k for e in unsaved for k in e.keys],
            credits_cost=sum(e.credits_cost for e in unsaved),
        )
    if fatal is not None:
        raise fatal


def _record_unsaved(
    services: PipelineServices, key: LedgerKey, error: UnsavedResultError, report: CycleReport
) -> None:
    """The paid credit of an answer that was lost goes on the record that asked for it."""
    items = services.store.fetch_work_for_keys([key], states=("waiting",))
    event = (
        build_item_event(items[0], run_id=report.run_id, status=Status.ERROR)
        if items
        else RecordEvent(run_id=report.run_id, source=report.source, status=Status.ERROR)
    )
    save_events(
        services,
        [
            replace(
                event,
                handle=event.handle or key.handle_key,
                platform=None if is_email_key(key) else key.platform,
                route=EMAIL_LOOKUP if is_email_key(key) else SINGLE,
                credits=error.credits_cost,
                error=str(error.message),
            )
        ],
    )


def _record_failure(
    services: PipelineServices,
    key: LedgerKey,
    error: ConnectorError,
    report: CycleReport,
    owner: str,
) -> None:
    store = services.store
    store.release([key], owner)
    report.errors += 1
    items = store.fetch_work_for_keys([key], states=("waiting",))
    if isinstance(error, RetryableError):
        status, text = Status.RETRY, f"temporary failure, will retry: {error}"
    else:
        status, text = Status.ERROR, str(error)
    store.set_work_state([w.id for w in items], "failed", error=text)
    write_status(services, items, status, text, route=SINGLE)
