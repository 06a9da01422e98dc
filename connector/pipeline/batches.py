"""Batch enrichment lifecycle: submit one CSV per platform, poll, collect, resume on credits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from connector.enrich.models import EmailMatch, get_price, parse_email_match
from connector.enrich.retry import describe_failure, is_ambiguous
from connector.errors import ConnectorError, FatalError, RetryableError
from connector.pipeline.cadence import plan_next_poll
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import deliver_ready, flush_outbox, mark_records, write_status
from connector.pipeline.events import BATCH, save_lookup_events
from connector.pipeline.holds import BATCH_HOLDER, UNCONFIRMED_HOLD
from connector.pipeline.report import CycleReport
from connector.sources.base import Status
from connector.store.models import EMAIL, Batch, BatchItem, LedgerKey

log = logging.getLogger(__name__)

BATCH_MAX_ROWS = 10_000


def build_unconfirmed_message(error: RetryableError) -> str:
    """The status text of a record whose batch upload may have been billed.

    It names what happened (``gateway 502``, ``timeout``, ``connection reset``) and the one
    thing that enriches the record again.
    """
    return (
        f"the batch upload failed ({describe_failure(error)}) and may have been created and "
        "billed; check the influencers.club dashboard, then type retry to enrich again"
    )


def submit_batches(
    services: PipelineServices,
    platform: str,
    items: Sequence[tuple[LedgerKey, str]],
    *,
    run_id: str | None,
    owner: str | None = None,
    mode: str | None = None,
) -> list[Batch]:
    """Create batches of at most 10,000 unique handles; the intent is stored before the call.

    ``owner`` holds the reservations of ``items``; they are released once the API's batch id
    is stored (the open batch blocks the handles from then on). Until then they prove the
    intent's creator is alive, so a crash mid-call leaves an intent others can close.
    ``mode`` is the tier of every item (default ``pipeline.mode``); with ``platform`` and
    ``mode`` both ``email`` the items are e-mail addresses, uploaded as a ``basic`` batch.
    """
    store, settings = services.store, services.settings
    mode = mode or settings.pipeline.mode
    owner = owner or services.worker_id
    unique = list({key: value for key, value in items}.items())
    submitted: list[Batch] = []
    for start in range(0, len(unique), BATCH_MAX_ROWS):
        chunk = unique[start : start + BATCH_MAX_ROWS]
        batch = store.save_batch(
            platform,
            mode,
            [BatchItem(platform, key.handle_key, value) for key, value in chunk],
            run_id=run_id,
        )
        keys = [key for key, _ in chunk]
        store.set_work_batch(keys, batch.ref)
        # From here a crash may leave a batch the API created and bills: recovery must not
        # upload these handles again on its own.
        store.mark_calls_started(keys, owner)
        values = [value for _, value in chunk]
        metadata = {"connector_batch": batch.ref, "run_id": run_id}
        try:
            if mode == EMAIL:
                info = services.enrichment.create_email_batch(values, metadata=metadata)
            else:
                info = services.enrichment.create_batch(
                    values, platform, mode=mode, metadata=metadata
                )
        except ConnectorError as exc:
            _fail_create(services, batch, keys, owner, exc)
            if isinstance(exc, FatalError):
                raise
            continue
        poll_every = timedelta(seconds=settings.pipeline.batch_poll_seconds)
        store.attach_batch_id(batch.ref, info.batch_id, next_poll_at=services.clock() + poll_every)
        # Only now: the open batch blocks these keys, and the id proves the batch exists.
        store.release(keys, owner)
        log.info(
            "batch submitted",
            extra={
                "batch": info.batch_id,
                "platform": platform,
                "rows": len(chunk),
                "run_id": run_id,
            },
        )
        submitted.append(batch)
    return submitted


def _fail_create(
    services: PipelineServices,
    batch: Batch,
    keys: list[LedgerKey],
    owner: str,
    error: ConnectorError,
) -> None:
    """Close a batch whose create call failed, without ever uploading its handles again blindly.

    A ``FatalError`` (bad key, no credits) is left to the caller, which holds or fails the
    records; it was refused, so nothing was created.
    """
    store = services.store
    if isinstance(error, RetryableError) and is_ambiguous(error):
        message = build_unconfirmed_message(error)
        store.update_batch(batch.ref, status="failed", error=f"{message} ({error})")
        holder = f"{BATCH_HOLDER}{batch.ref}"
        store.hand_over_reservations(keys, owner, holder, UNCONFIRMED_HOLD)
        log.error(
            "batch upload unconfirmed",
            extra={"batch_ref": batch.ref, "rows": len(keys), "error": str(error)},
        )
        _fail_items(services, batch, message, retry=False)
        return
    store.update_batch(batch.ref, status="failed", error=f"create failed: {error}")
    store.release(keys, owner)
    if not isinstance(error, FatalError):
        _fail_items(
            services,
            batch,
            f"batch could not be created: {error}",
            retry=isinstance(error, RetryableError),
        )
    else:
        store.close_batch(batch.ref)


def poll_batches(services: PipelineServices, report: CycleReport | None = None) -> int:
    """Poll every due batch once; collect finished ones; resume paused ones when affordable.

    A finished batch's rows are written back before this returns (its outbox is flushed), and
    every batch still running gets its next poll from its progress (``pipeline.cadence``).
    """
    store, settings = services.store, services.settings
    report = report or CycleReport(source="*")
    floor = settings.pipeline.batch_poll_seconds
    poll_every = timedelta(seconds=floor)
    due = store.claim_due_batches(lease=poll_every)
    for batch in due:
        if services.stopping.is_set():
            # Unpolled batches are due again at once for whichever worker polls next.
            store.update_batch(batch.ref, next_poll_at=services.clock())
            continue
        if batch.batch_id is None:
            continue
        try:
            status = services.enrichment.fetch_batch_status(batch.batch_id)
        except ConnectorError as exc:
            log.warning("batch status failed", extra={"batch": batch.batch_id, "error": str(exc)})
            store.update_batch(batch.ref, next_poll_at=services.clock() + poll_every)
            continue
        store.update_batch(
            batch.ref,
            status=status.status,
            processed=status.processed_rows,
            success=status.success_count,
            failed=status.failed_count,
            credits_used=status.credits_used,
            last_polled_at=services.clock(),
            next_poll_at=plan_next_poll(status, services.clock(), floor),
        )
        if status.status == "finished":
            paid = _collect(services, batch, report)
            deliver_ready(services, paid=paid, paid_run=batch.run_id, route=BATCH, report=report)
            # Written now, not at the outbox job's next turn: the rows waited for this poll.
            flush_outbox(services)
        elif status.status == "failed":
            _fail_items(services, batch, status.status_message or "the batch failed", retry=False)
        elif status.status == "paused_insufficient_credits":
            _handle_paused(services, batch, status.total_rows - status.processed_rows)
    return len(due)


def _collect(services: PipelineServices, batch: Batch, report: CycleReport) -> set[LedgerKey]:
    store = services.store
    assert batch.batch_id is not None
    try:
        rows = services.enrichment.fetch_batch_results(batch.batch_id)
    except ConnectorError as exc:
        log.warning("batch results failed", extra={"batch": batch.batch_id, "error": str(exc)})
        return set()
    batch_items = store.fetch_batch_items(batch.ref)
    by_key = {i.handle_key: i for i in batch_items}
    find_item = _build_matcher(batch_items)
    results: list[tuple[LedgerKey, str, dict | None, float]] = []
    seen: set[str] = set()
    price = get_price(batch.mode)
    for row in rows:
        item = find_item(str(row.input_value))
        if item is None or item.handle_key in seen:
            continue
        seen.add(item.handle_key)
        key = LedgerKey(item.platform, item.handle_key, batch.mode)
        if row.status == "success" and row.profile:
            results.append((key, "found", row.profile, price))
        elif row.status == "not_found":
            results.append((key, "not_found", None, 0.0))
    found = sum(1 for _, outcome, _, _ in results if outcome == "found")
    report.credits_spent += found * price
    # The batch's run is credited in the same transaction as the ledger rows.
    if batch.mode == EMAIL:
        _save_email_rows(services, batch, results, report)
    else:
        report.enriched += found
        report.not_found += len(results) - found
        store.save_results(results, run_id=batch.run_id)
    store.mark_batch_collected(batch.ref)
    missing = [k for k in by_key if k not in seen]
    if missing:
        leftover = [LedgerKey(batch.platform, k, batch.mode) for k in missing]
        _fail_keys(services, leftover, "no result in the batch output", retry=True)
    log.info(
        "batch collected",
        extra={"batch": batch.batch_id, "rows": len(rows), "missing": len(missing)},
    )
    if batch.mode == EMAIL:
        # Their records go on to the creators found: ``recovery.serve_ready`` moves them.
        return set()
    return {key for key, outcome, _, _ in results if outcome == "found"}


def _save_email_rows(
    services: PipelineServices,
    batch: Batch,
    results: Sequence[tuple[LedgerKey, str, dict | None, float]],
    report: CycleReport,
) -> None:
    """Store a basic batch's rows in the e-mail ledger (each row is one e-mail's answer)."""
    answers: list[tuple[str, str, str | None, str | None, dict | None, float]] = []
    for key, outcome, row, cost in results:
        match: EmailMatch | None = None
        if outcome == "found":
            try:
                match = parse_email_match(
                    {"result": row, "credits_cost": cost}, email=key.handle_key, default_cost=cost
                )
            except ValueError:
                match = None
        if match is None:
            answers.append((key.handle_key, outcome, None, None, row, cost))
            report.email_not_found += outcome != "found"
            continue
        report.email_matched += 1
        answers.append(
            (key.handle_key, "found", match.platform, match.username or match.url, row, cost)
        )
    services.store.save_email_results(answers, run_id=batch.run_id)
    paid = {key: cost for key, outcome, _, cost in results if outcome == "found"}
    save_lookup_events(services, paid, batch.run_id)


def _build_matcher(items: Sequence[BatchItem]) -> Callable[[str], BatchItem | None]:
    """Find the item a result row's ``input_value`` names: exactly, else case-insensitively.

    YouTube channel ids are case-sensitive, so two items may differ only in case; a
    case-insensitive match (the API may echo a handle lower-cased) is used only when it names
    one item.
    """
    exact: dict[str, BatchItem] = {}
    folded: dict[str, dict[str, BatchItem]] = {}
    for item in items:
        for text in (item.handle_value.strip(), item.handle_key):
            exact.setdefault(text, item)
            folded.setdefault(text.lstrip("@").casefold(), {})[item.handle_key] = item

    def find(value: str) -> BatchItem | None:
        text = value.strip()
        item = exact.get(text) or exact.get(text.lstrip("@"))
        if item is not None:
            return item
        candidates = folded.get(text.lstrip("@").casefold(), {})
        return next(iter(candidates.values())) if len(candidates) == 1 else None

    return find


def _handle_paused(services: PipelineServices, batch: Batch, remaining: int) -> None:
    assert batch.batch_id is not None
    items = services.store.fetch_work(batch_ref=batch.ref, state="waiting")
    mark_records(services, items, Status.AWAITING_CREDITS)
    price = get_price(batch.mode)
    try:
        balance = services.enrichment.fetch_credits()
    except ConnectorError as exc:
        log.warning("credit check failed", extra={"error": str(exc)})
        return
    services.notify(
        "batch_paused",
        batch_id=batch.batch_id,
        remaining=remaining,
        needed=remaining * price,
        balance=balance.available,
    )
    if balance.available >= remaining * price:
        try:
            services.enrichment.resume_batch(batch.batch_id)
        except ConnectorError as exc:
            # The batch stays paused; the next poll checks the balance and tries again.
            log.warning("batch resume failed", extra={"batch": batch.batch_id, "error": str(exc)})
            return
        mark_records(services, items, Status.ENRICHING)
        log.info("batch resumed", extra={"batch": batch.batch_id, "remaining": remaining})


def _fail_items(services: PipelineServices, batch: Batch, reason: str, *, retry: bool) -> None:
    keys = [
        LedgerKey(i.platform, i.handle_key, batch.mode)
        for i in services.store.fetch_batch_items(batch.ref)
    ]
    # Closed, not relabelled: history and the dashboard keep showing the batch as failed.
    services.store.close_batch(batch.ref)
    _fail_keys(services, keys, reason, retry=retry)


def _fail_keys(
    services: PipelineServices, keys: Sequence[LedgerKey], reason: str, *, retry: bool
) -> None:
    items = services.store.fetch_work_for_keys(keys, states=("waiting",))
    services.store.set_work_state([w.id for w in items], "failed", error=reason)
    status = Status.RETRY if retry else Status.ERROR
    write_status(services, items, status, reason, route=BATCH)
