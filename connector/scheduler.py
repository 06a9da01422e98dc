"""The worker's APScheduler jobs: source polls, batch poller, outbox, credits, nudges, searches."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.blocking import BlockingScheduler

from connector.alerts.engine import check_credits
from connector.discovery.searches import run_saved_search
from connector.pipeline.batches import poll_batches
from connector.pipeline.cycle import release_held, run_cycle
from connector.pipeline.delivery import deliver_ready, flush_outbox
from connector.pipeline.recovery import resume_stalled

if TYPE_CHECKING:
    from connector.services import Services

log = logging.getLogger(__name__)

NUDGE_EVERY = 2.0
MISFIRE_GRACE = 60
HOUSEKEEPING_EVERY = 3600.0
# Runs, credit snapshots and alert deliveries older than this are deleted (the burn rate reads
# 7 days, the dashboard 30); finished work items go sooner.
HISTORY_DAYS = 90
WORK_DAYS = 30
BATCH_TICK = 5.0


def poll_source(services: Services, name: str) -> None:
    """One cycle of one source (the job behind ``poll:<name>``)."""
    run_cycle(services, name)


def tick_batches(services: Services) -> None:
    """Poll due batches and serve work whose creators became available."""
    poll_batches(services)
    deliver_ready(services)
    flush_outbox(services)


def tick_recover(services: Services) -> None:
    """Close batch intents of dead workers and resume work nobody is working on any more."""
    resume_stalled(services)
    flush_outbox(services)


def tick_outbox(services: Services) -> None:
    """Retry due write-backs."""
    flush_outbox(services)


def tick_credits(services: Services) -> None:
    """Read the balance, evaluate the alert rules and release held work it now covers."""

    check_credits(services)
    release_held(services)


def tick_housekeeping(services: Services) -> None:
    """Drop history nobody reads any more, so the store does not grow without bound."""
    now = services.clock()
    pruned = services.store.prune_history(now - timedelta(days=HISTORY_DAYS))
    pruned["work_items"] = services.store.delete_work(older_than=now - timedelta(days=WORK_DAYS))
    log.info("housekeeping", extra=pruned)


def take_nudges(services: Services, scheduler: BlockingScheduler) -> None:
    """Bring forward the poll of every source a webhook or the API asked for."""
    for name in services.store.take_poll_requests():
        job = scheduler.get_job(f"poll:{name}")
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))


def run_search(services: Services, name: str) -> None:
    """Run one saved discovery search (the job behind ``discover:<name>``)."""

    run_saved_search(services, name)


def build_scheduler(services: Services) -> BlockingScheduler:
    """A ``BlockingScheduler`` with one job per source, plus the housekeeping jobs."""
    settings = services.settings
    scheduler = BlockingScheduler(timezone=UTC)
    now = datetime.now(UTC)

    def add(func: Any, job_id: str, seconds: float, *args: Any) -> None:
        scheduler.add_job(
            func,
            "interval",
            seconds=seconds,
            args=[services, *args],
            id=job_id,
            name=job_id,
            next_run_time=now,
            replace_existing=True,
            # A late tick runs once, never twice in a row, and never alongside itself.
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE,
        )

    for name in services.source_names:
        add(poll_source, f"poll:{name}", settings.get_source(name).poll_interval, name)
    add(tick_batches, "batches", min(BATCH_TICK, settings.pipeline.batch_poll_seconds))
    add(tick_outbox, "outbox", settings.pipeline.outbox_flush_every)
    add(tick_recover, "recover", max(1.0, settings.pipeline.reservation_lease / 2))
    add(tick_credits, "credits", settings.credits.check_every)
    add(take_nudges, "nudges", NUDGE_EVERY, scheduler)
    add(tick_housekeeping, "housekeeping", HOUSEKEEPING_EVERY)
    for search in settings.discovery.searches:
        if search.every:
            add(run_search, f"discover:{search.name}", search.every, search.name)
    scheduler.add_listener(_on_job_event(services), EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def _on_job_event(services: Services) -> Any:
    def listener(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job missed", extra={"job": event.job_id})
            return
        log.error("job failed", extra={"job": event.job_id, "error": repr(event.exception)})
        services.notify("job_failed", job=event.job_id, error=repr(event.exception))

    return listener


def run_worker(services: Services) -> None:
    """Run the scheduler until SIGTERM/SIGINT; the running step finishes before exit."""
    scheduler = build_scheduler(services)
    stopper: list[threading.Thread] = []

    def stop(signum: int, _frame: Any) -> None:
        log.info("stopping worker", extra={"signal": signal.Signals(signum).name})
        if not stopper:
            thread = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True})
            stopper.append(thread)
            thread.start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "worker started",
        extra={"worker": services.worker_id, "sources": ",".join(services.source_names)},
    )
    scheduler.start()
    for thread in stopper:
        thread.join()
    log.info("worker stopped", extra={"worker": services.worker_id})
