"""The worker's APScheduler jobs: source polls, batch poller, outbox, credits, nudges, searches."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.blocking import BlockingScheduler

from connector.alerts.engine import check_credits
from connector.discovery.searches import run_saved_search
from connector.errors import ConnectorError
from connector.pipeline.batches import poll_batches
from connector.pipeline.cycle import release_held, run_cycle
from connector.pipeline.delivery import flush_outbox
from connector.pipeline.recovery import resume_stalled, serve_ready
from connector.store.workers import HEARTBEAT_EVERY

if TYPE_CHECKING:
    from connector.services import Services
    from connector.store.models import WorkerState
    from connector.store.wake import WakeListener

log = logging.getLogger(__name__)

# The web process wakes the worker at once (connector.store.wake); the ``nudges`` job only
# catches a lost wake-up, or a database without them.
NUDGE_FALLBACK_EVERY = 10.0
# The wake thread blocks this long at a time (it sees a stop within it); a poll requested while
# it was running is brought forward within BUSY_RECHECK of its end.
WAKE_WAIT = 1.0
BUSY_RECHECK = 0.05
WAKE_RETRY = 5.0
MISFIRE_GRACE = 60
HOUSEKEEPING_EVERY = 3600.0
# Runs, their record events, credit snapshots and alert deliveries older than this are deleted
# (the burn rate reads 7 days, the dashboard 30); finished work items go sooner.
HISTORY_DAYS = 90
WORK_DAYS = 30
BATCH_TICK = 5.0
# Seconds between SIGTERM and exit at most: Docker kills after 10 s, Heroku and Render after 30.
STOP_TIMEOUT = 8.0
HEARTBEAT_DAYS = 7


def poll_source(services: Services, name: str) -> None:
    """One cycle of one source (the job behind ``poll:<name>``), unless the source is paused."""
    if services.store.is_source_paused(name):
        log.debug("source paused: poll skipped", extra={"source": name})
        return
    run_cycle(services, name)


def tick_batches(services: Services, scheduler: BlockingScheduler) -> None:
    """Poll due batches and serve work whose creators became available.

    The job's next run is then brought forward to the next batch poll due before it, so a poll
    planned for just after a batch's expected finish is not late by up to a tick.
    """
    poll_batches(services)
    serve_ready(services)
    flush_outbox(services)
    if services.stopping.is_set():
        return
    due = services.store.get_next_batch_poll()
    job = scheduler.get_job("batches")
    if (
        due is not None
        and job is not None
        and job.next_run_time is not None
        and due < job.next_run_time
    ):
        job.modify(next_run_time=max(due, datetime.now(UTC)))


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
    pruned["heartbeats"] = services.store.prune_heartbeats(now - timedelta(days=HEARTBEAT_DAYS))
    pruned["record_events"] = services.store.prune_record_events(now - timedelta(days=HISTORY_DAYS))
    log.info("housekeeping", extra=pruned)


def take_nudges(services: Services, nudges: Nudges) -> None:
    """Bring forward the poll of every source a webhook or the API asked for (the fallback)."""
    nudges.take()


class Nudges:
    """Brings a source's poll forward as soon as a webhook, a nudge or the API asks for it.

    A wake-up from the web process (``connector.store.wake``) makes the wake thread read the
    poll requests at once; the ``nudges`` job reads them every ``NUDGE_FALLBACK_EVERY`` seconds
    too, so a lost wake-up only delays a poll. A poll requested while the same poll runs (it may
    have read the source before the new record arrived) runs again as soon as it ends.
    """

    def __init__(self, services: Services, running: RunningJobs | None = None) -> None:
        self.services = services
        self.running = running
        self.scheduler: BlockingScheduler | None = None
        self._due: set[str] = set()
        self._forwarded: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="wake", daemon=True)

    def take(self) -> None:
        """Consume the store's poll requests and bring their polls forward."""
        if self.services.stopping.is_set():
            return  # left in the store for the next worker
        names = self.services.store.take_poll_requests()
        with self._lock:
            self._due |= names
        self.apply()

    def apply(self) -> None:
        """Bring forward every due poll that is not running now; the others stay due."""
        busy = set(self.running.get_ids()) if self.running is not None else set()
        with self._lock:
            ready = sorted(n for n in self._due if f"poll:{n}" not in busy)
            self._due -= set(ready)
            self._forwarded |= set(ready)
        # Outside the lock: the scheduler calls ``on_event`` while holding its own.
        for name in ready:
            job = self.scheduler.get_job(f"poll:{name}") if self.scheduler else None
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC))

    def on_event(self, event: JobSubmissionEvent) -> None:
        """A poll brought forward in the instant its last run was ending: make it due again."""
        name = event.job_id.removeprefix("poll:")
        if name == event.job_id:
            return
        with self._lock:
            if name in self._forwarded:
                self._forwarded.discard(name)
                if event.code == EVENT_JOB_MAX_INSTANCES:
                    self._due.add(name)

    def start(self) -> None:
        """Listen for wake-ups in a daemon thread."""
        self._thread.start()

    def stop(self, timeout: float = 0.0) -> None:
        """Stop listening; wait up to ``timeout`` seconds for the thread to close its socket."""
        self._stop.set()
        if self._thread.is_alive() and timeout > 0:
            self._thread.join(timeout)

    def _listen(self) -> None:
        listener: WakeListener | None = None
        opened = False
        while not self._stop.is_set():
            if not opened:
                listener, opened = self._open(), True
            with self._lock:
                wait = BUSY_RECHECK if self._due else WAKE_WAIT
            try:
                woken = listener.wait(wait) if listener else self._stop.wait(wait)
                if woken and listener is not None:
                    self.take()
                else:
                    self.apply()
            except ConnectorError as exc:
                log.warning(
                    "wake-ups interrupted: polls requested meanwhile wait for the fallback look",
                    extra={"error": str(exc), "fallback_seconds": NUDGE_FALLBACK_EVERY},
                )
                if listener is not None:
                    listener.close()
                    listener, opened = None, False
                self._stop.wait(WAKE_RETRY)
        if listener is not None:
            listener.close()

    def _open(self) -> WakeListener | None:
        try:
            listener = self.services.store.wake.listen()
        except ConnectorError as exc:
            log.warning(
                "no wake-ups: requested polls start within the fallback look",
                extra={"error": str(exc), "fallback_seconds": NUDGE_FALLBACK_EVERY},
            )
            return None
        if listener is not None:
            log.info("listening for wake-ups", extra={"via": type(listener).__name__})
        return listener


def run_search(services: Services, name: str) -> None:
    """Run one saved discovery search (the job behind ``discover:<name>``)."""

    run_saved_search(services, name)


def build_scheduler(
    services: Services, running: RunningJobs | None = None, nudges: Nudges | None = None
) -> BlockingScheduler:
    """A ``BlockingScheduler`` with one job per source, plus the housekeeping jobs.

    ``running`` learns which jobs run at any moment (for a stop, and the heartbeat); ``nudges``
    brings polls forward when they are requested (its wake thread is started by the caller).
    """
    settings = services.settings
    scheduler = BlockingScheduler(timezone=UTC)
    now = datetime.now(UTC)

    def add(func: Any, job_id: str, seconds: float, *args: Any) -> None:
        scheduler.add_job(
            running.track(job_id, func) if running is not None else func,
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
    add(tick_batches, "batches", min(BATCH_TICK, settings.pipeline.batch_poll_seconds), scheduler)
    add(tick_outbox, "outbox", settings.pipeline.outbox_flush_every)
    add(tick_recover, "recover", max(1.0, settings.pipeline.reservation_lease / 2))
    add(tick_credits, "credits", settings.credits.check_every)
    nudges = nudges or Nudges(services, running)
    nudges.scheduler = scheduler
    add(take_nudges, "nudges", NUDGE_FALLBACK_EVERY, nudges)
    add(tick_housekeeping, "housekeeping", HOUSEKEEPING_EVERY)
    for search in settings.discovery.searches:
        if search.every:
            add(run_search, f"discover:{search.name}", search.every, search.name)
    scheduler.add_listener(_on_job_event(services), EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.add_listener(nudges.on_event, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES)
    return scheduler


def _on_job_event(services: Services) -> Any:
    def listener(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_MISSED:
            log.warning("job missed", extra={"job": event.job_id})
            return
        log.error("job failed", extra={"job": event.job_id, "error": repr(event.exception)})
        services.notify("job_failed", job=event.job_id, error=repr(event.exception))

    return listener


class RunningJobs:
    """The ids of the jobs running right now: each job marks itself in and out."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._changed = threading.Condition()

    def track(self, job_id: str, func: Callable[..., None]) -> Callable[..., None]:
        """``func`` counted as running under ``job_id`` while it runs."""

        @functools.wraps(func)
        def tracked(*args: Any) -> None:
            with self._changed:
                self._ids[job_id] = self._ids.get(job_id, 0) + 1
            try:
                func(*args)
            finally:
                with self._changed:
                    self._ids[job_id] -= 1
                    if not self._ids[job_id]:
                        del self._ids[job_id]
                    self._changed.notify_all()

        return tracked

    def get_ids(self) -> list[str]:
        """The running jobs' ids."""
        with self._changed:
            return sorted(self._ids)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs; False when some still do after ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._ids, timeout=max(timeout, 0.0))


class Heartbeat:
    """This worker's heartbeat in the store, written from its own thread (jobs cannot delay it)."""

    def __init__(self, services: Services, running: RunningJobs) -> None:
        self.services = services
        self.running = running
        self.started_at = services.clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def beat(self, state: WorkerState = "running") -> None:
        """Record that this worker is alive (or stopping, or stopped) and what it runs."""
        try:
            self.services.store.save_heartbeat(
                self.services.worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                started_at=self.started_at,
                state=state,
                running=self.running.get_ids(),
            )
        except ConnectorError as exc:
            log.warning("heartbeat not saved", extra={"error": str(exc)})

    def start(self) -> None:
        """Beat now and then every ``HEARTBEAT_EVERY``."""
        self.beat()
        self._thread.start()

    def stop(self, state: WorkerState) -> None:
        """Stop beating, leaving ``state`` as the last word."""
        self._stop.set()
        self.beat(state)

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY.total_seconds()):
            self.beat("stopping" if self.services.stopping.is_set() else "running")


def run_worker(services: Services, *, stop_timeout: float = STOP_TIMEOUT) -> None:
    """Run the scheduler until SIGTERM/SIGINT, then stop within ``stop_timeout`` seconds.

    On the signal no job starts any more and running steps end early: no new paid call is sent,
    calls in flight finish and their answers are saved, and work no call was sent for is handed
    back to the next worker. A step still running after ``stop_timeout`` is abandoned as a crash
    would leave it (its leases expire; a paid call in flight asks for ``retry``). A second
    signal stops at once.
    """
    running = RunningJobs()
    nudges = Nudges(services, running)
    scheduler = build_scheduler(services, running, nudges)
    heartbeat = Heartbeat(services, running)
    deadline: list[float] = []

    def stop(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if deadline:
            log.warning("second signal: stopping now", extra={"signal": name})
            _exit_now(1)
        deadline.append(time.monotonic() + stop_timeout)
        services.stopping.set()
        log.info("stopping worker", extra={"signal": name, "running": ",".join(running.get_ids())})
        # Not from the handler itself: the interrupted main thread may hold the scheduler's lock.
        threading.Thread(target=_shutdown, args=(scheduler,), name="stopper").start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "worker started",
        extra={"worker": services.worker_id, "sources": ",".join(services.source_names)},
    )
    heartbeat.start()
    nudges.start()
    scheduler.start()
    nudges.stop()
    if not deadline:
        deadline.append(time.monotonic() + stop_timeout)
    heartbeat.beat("stopping")
    if not running.wait_idle(deadline[0] - time.monotonic()):
        left = running.get_ids()
        heartbeat.stop("stopped")
        log.warning(
            "worker stopped with steps unfinished: their leases expire and another worker "
            "resumes them",
            extra={"worker": services.worker_id, "running": ",".join(left)},
        )
        _exit_now(0)
    heartbeat.stop("stopped")
    nudges.stop(timeout=min(WAKE_WAIT, max(deadline[0] - time.monotonic(), 0.0)))
    log.info("worker stopped", extra={"worker": services.worker_id})


def _shutdown(scheduler: BlockingScheduler) -> None:
    with contextlib.suppress(SchedulerNotRunningError):
        scheduler.shutdown(wait=False)


def _exit_now(code: int) -> None:
    """Leave without waiting for job threads (the interpreter would join them)."""
    logging.shutdown()
    os._exit(code)
