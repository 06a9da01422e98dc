"""``connector run``, ``worker`` and ``approve``: the pipeline's entry points."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from datetime import timedelta
from typing import Any

import click
from rich.console import Console

from connector.cli.context import CheckFailedError, NotFoundError, get_context, handle_errors
from connector.cli.output import echo_json, render_plan, render_run_summary
from connector.config import parse_duration
from connector.errors import ConfigError
from connector.pipeline.batches import poll_batches
from connector.pipeline.cycle import CycleReport, release_held, run_cycle
from connector.pipeline.delivery import flush_outbox
from connector.pipeline.recovery import resume_stalled, serve_ready
from connector.scheduler import STOP_TIMEOUT, run_worker
from connector.services import build_services


@click.command("run")
@click.option("--once", is_flag=True, required=True, help="Run every source once, then exit.")
@click.option("--source", "source_names", multiple=True, help="Only this source (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show the plan and cost; write and pay nothing.")
@click.option("--no-wait", is_flag=True, help="Leave running batches to the worker.")
@click.option(
    "--wait-timeout",
    default="1h",
    show_default=True,
    help="Stop waiting for batches after this long (the worker carries on with them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@handle_errors
def run_command(
    once: bool,
    source_names: tuple[str, ...],
    dry_run: bool,
    no_wait: bool,
    wait_timeout: str,
    as_json: bool,
) -> None:
    """Run sources once: fetch pending records, enrich, write back, wait for batches."""

    settings = get_context().settings()
    names = list(source_names) or [s.name for s in settings.sources if s.enabled]
    if not names:
        raise ConfigError(["no sources configured (add one under `sources:`)"])
    for name in names:
        # An unknown source is a configuration error (exit 2), as for `connector retry`.
        settings.get_source(name)
    services = build_services(settings)
    console = Console(stderr=True)
    reports: list[CycleReport] = []
    try:
        status = console.status("running sources…") if console.is_terminal else nullcontext()
        with status:
            if not dry_run:
                # Work a crashed worker left behind is finished first (it is already paid for
                # or reserved, and its records are claimed).
                reports.append(resume_stalled(services, CycleReport(source="resumed")))
            for name in names:
                click.echo(f"source {name}: fetching pending records", err=True)
                reports.append(run_cycle(services, name, dry_run=dry_run))
        if dry_run and not as_json:
            for report in reports:
                render_plan(report, Console())
        elif not no_wait:
            tail = CycleReport(source="batches")
            deadline = time.monotonic() + float(parse_duration(wait_timeout))
            while _batches_to_wait_for(services, tail, deadline):
                poll_batches(services, tail)
                serve_ready(services, report=tail)
                # An intent left by a crashed worker would otherwise keep this loop waiting.
                resume_stalled(services, tail)
                flush_outbox(services)
                open_batches = services.store.fetch_open_batches()
                if open_batches:
                    click.echo(f"waiting for {len(open_batches)} batch(es)…", err=True)
                    time.sleep(min(settings.pipeline.batch_poll_seconds, 5.0))
            flush_outbox(services)
            if tail.enriched or tail.not_found or tail.error:
                reports.append(tail)
        reports = [r for r in reports if r.source != "resumed" or r.records]
    finally:
        services.close()
    _print_summary(reports, as_json)
    if any(r.error or r.errors for r in reports):
        sys.exit(1)


def _batches_to_wait_for(services: Any, report: Any, deadline: float) -> bool:
    """True while some batch can still finish; paused ones wait for a top-up, not for us."""
    open_batches = services.store.fetch_open_batches()
    if not open_batches:
        return False
    if all(b.status == "paused_insufficient_credits" for b in open_batches):
        report.error = (
            f"{len(open_batches)} batch(es) paused for credits; the worker resumes "
            "them once the balance covers the rest"
        )
        return False
    if time.monotonic() > deadline:
        report.error = (
            f"stopped waiting for {len(open_batches)} batch(es) after --wait-timeout; "
            "the worker collects them"
        )
        return False
    return True


def _print_summary(reports: list[CycleReport], as_json: bool) -> None:
    if as_json:
        echo_json([{**r.as_dict(), "plan": r.plan} if r.dry_run else r.as_dict() for r in reports])
        return
    render_run_summary(reports, Console())


@click.command("worker")
@click.option(
    "--stop-timeout",
    default=STOP_TIMEOUT,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds after SIGTERM before unfinished steps are handed back and the worker exits.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Do not run: report the workers' heartbeats; exit 1 when none is alive.",
)
@click.option("--json", "as_json", is_flag=True, help="With --check: print the report as JSON.")
@handle_errors
def worker_command(stop_timeout: float, check: bool, as_json: bool) -> None:
    """Run the scheduler: source polls, batches, outbox, credit checks, saved searches."""

    services = build_services(get_context().settings())
    try:
        if check:
            _check_workers(services, as_json=as_json)
            return
        run_worker(services, stop_timeout=stop_timeout)
    finally:
        services.close()


def _check_workers(services: Any, *, as_json: bool) -> None:
    now = services.clock()
    beats = services.store.fetch_heartbeats(since=now - timedelta(days=1))
    live = {b.worker_id for b in services.store.fetch_live_workers()}
    rows = [
        {
            "worker": beat.worker_id,
            "state": beat.state if beat.worker_id in live or beat.state == "stopped" else "silent",
            "seconds_since_beat": round((now - beat.beat_at).total_seconds(), 1),
            "up_seconds": round((beat.beat_at - beat.started_at).total_seconds()),
            "running": beat.running,
        }
        for beat in beats
    ]
    alive = any(row["state"] == "running" for row in rows)
    if as_json:
        echo_json({"ok": alive, "workers": rows})
    else:
        for row in rows:
            jobs = ", ".join(row["running"]) or "idle"
            click.echo(
                f"{row['worker']}  {row['state']}  last beat {row['seconds_since_beat']:g} s ago"
                f"  ({jobs})"
            )
    if not alive:
        raise CheckFailedError(
            "no worker has reported in the last minute",
            hint="start `connector worker`, or read its log for why it stopped",
        )


@click.command("approve")
@click.argument("run_id")
@handle_errors
def approve_command(run_id: str) -> None:
    """Release a run held for approval; the worker picks its records up."""

    services = build_services(get_context().settings())
    try:
        if not services.store.approve_run(run_id):
            raise NotFoundError(
                f"no run {run_id!r} is waiting for approval",
                hint="`connector credits` and the dashboard list the held runs",
            )
        click.echo(f"run {run_id} approved")
        release_held(services)
    finally:
        services.close()


COMMANDS = [run_command, worker_command, approve_command]
