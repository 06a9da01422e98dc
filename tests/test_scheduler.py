"""The worker's scheduler: one job per source plus housekeeping, set up for one process."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner

from connector.cli.context import CliContext
from connector.cli.run import worker_command
from connector.config import parse_settings
from connector.scheduler import (
    HISTORY_DAYS,
    Heartbeat,
    RunningJobs,
    build_scheduler,
    poll_source,
    tick_housekeeping,
)
from connector.services import build_services
from connector.store import RecordEvent


def settings_for(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    return {
        "data_dir": str(tmp_path),
        "influencers_club": {"api_key": "k", "base_url": "http://127.0.0.1:9"},
        "sources": [
            {
                "name": "leads",
                "type": "sheets",
                "spreadsheet": "key",
                "poll_interval": 30,
                "platform_column": "Platform",
            },
            {"name": "crm", "type": "hubspot", "list": "1", "poll_interval": "5m"},
            {"name": "off", "type": "hubspot", "list": "2", "enabled": False},
        ],
        "discovery": {
            "searches": [
                {"name": "fit", "platform": "tiktok", "every": "1d", "destination": "leads"}
            ]
        },
    }


def test_every_enabled_source_gets_its_own_coalescing_job(tmp_path: Path) -> None:
    services = build_services(parse_settings(settings_for(tmp_path), environ={}))
    try:
        scheduler = build_scheduler(services)
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        services.close()
    assert set(jobs) == {
        "poll:leads",
        "poll:crm",
        "batches",
        "outbox",
        "recover",
        "credits",
        "nudges",
        "housekeeping",
        "discover:fit",
    }
    assert jobs["poll:crm"].trigger.interval == timedelta(minutes=5)
    assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())
    assert all(job.misfire_grace_time == 60 for job in jobs.values())


def test_housekeeping_drops_old_history_and_keeps_recent(tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    services = build_services(parse_settings(settings_for(tmp_path), environ={}), clock=lambda: now)
    store = services.store
    try:
        old_store = type(store).open(
            services.settings.resolved_database_url,
            clock=lambda: now - timedelta(days=HISTORY_DAYS + 1),
        )
        old_store.save_credit_snapshot(500.0, 10.0)
        old_store.save_record_events([RecordEvent(run_id="old", source="leads", status="error")])
        old_store.close()
        store.save_credit_snapshot(400.0, 110.0)
        store.save_record_events([RecordEvent(run_id="new", source="leads", status="enriched")])
        tick_housekeeping(services)
        history = store.fetch_credit_history()
        events = store.fetch_records_in(["error", "enriched"])
    finally:
        services.close()
    assert [point.available for point in history] == [400.0]
    assert [e.run_id for e in events] == ["new"]


def test_running_jobs_are_counted_while_they_run(tmp_path: Path) -> None:
    running = RunningJobs()
    seen: list[list[str]] = []
    job = running.track("poll:leads", lambda: seen.append(running.get_ids()))
    job()
    assert seen == [["poll:leads"]]
    assert running.get_ids() == [] and running.wait_idle(0)


def test_the_heartbeat_records_the_worker_and_its_last_word(tmp_path: Path) -> None:
    services = build_services(parse_settings(settings_for(tmp_path), environ={}))
    try:
        heartbeat = Heartbeat(services, RunningJobs())
        heartbeat.beat()
        (beat,) = services.store.fetch_live_workers()
        assert (beat.worker_id, beat.state, beat.pid) == (
            services.worker_id,
            "running",
            os.getpid(),
        )
        heartbeat.stop("stopped")
        assert services.store.fetch_live_workers() == []
        assert [b.state for b in services.store.fetch_heartbeats()] == ["stopped"]
    finally:
        services.close()


def test_worker_check_reports_heartbeats_and_fails_without_a_live_worker(tmp_path: Path) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump(settings_for(tmp_path)))
    context = CliContext(config_path=str(config))
    none = CliRunner().invoke(worker_command, ["--check", "--json"], obj=context)
    assert none.exit_code == 1
    assert json.loads(none.stdout) == {"ok": False, "workers": []}
    assert "error: check failed: no worker has reported in the last minute" in none.stderr
    services = build_services(parse_settings(settings_for(tmp_path), environ={}))
    try:
        Heartbeat(services, RunningJobs()).beat()
    finally:
        services.close()
    alive = CliRunner().invoke(worker_command, ["--check"], obj=CliContext(config_path=str(config)))
    assert alive.exit_code == 0, alive.output
    assert f"{services.worker_id}  running  last beat" in alive.stdout


def test_a_paused_source_is_not_polled(tmp_path: Path) -> None:
    services = build_services(parse_settings(settings_for(tmp_path), environ={}))
    try:
        services.store.pause_source("leads")
        # The source's sheet does not exist: a poll would start a run and record a failure.
        poll_source(services, "leads")
        assert services.store.fetch_runs() == []
        assert services.store.get_source_state("leads")["last_poll_at"] is None
    finally:
        services.close()
