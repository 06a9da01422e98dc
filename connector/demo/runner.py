"""The embedded demo: every sandbox, a seeded sheet and HubSpot list, a worker and the web app."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from connector.config import load_settings
from connector.demo.data import (
    ALERT_SECRET,
    HUBSPOT_EMAIL_ONLY,
    HUBSPOT_EMAILS,
    HUBSPOT_HANDLES,
    IMAGE_LIFETIME,
    PICTURE_COLUMN,
    RAW_HEADER,
    RAW_SHEET_ROWS,
    SHEET_ROWS,
    build_demo_settings,
)
from connector.demo.faults import BATCH_UPLOAD_PATH, answer_unconfirmed
from connector.demo.summary import DemoSummary, collect_summary, print_summary
from connector.sandbox.receivers import SlackReceiver, WebhookReceiver
from connector.sandbox.server import LoopbackServer
from connector.sandbox.stack import SandboxStack
from connector.store import Store
from connector.web import create_app

FINAL_PREFIXES = (
    "enriched",
    "not found",
    "no creator for this e-mail",
    "invalid handle",
    "invalid e-mail",
    "error",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _worker(config_path: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "connector", "--config", str(config_path), "worker"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # Its own session: a Ctrl-C in the terminal reaches the demo only, which then
            # stops the worker once (a second signal would make the worker leave at once).
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class DemoStopped(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived: unwind, stopping every child on the way out."""


@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """Turn the first SIGTERM/SIGINT/SIGHUP into ``DemoStopped``; ignore more while stopping.

    Without this a SIGTERM ends the demo at once and leaves the worker running, re-parented.
    """
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def stop(signum: int, _frame: Any) -> None:
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)
        raise DemoStopped(signal.Signals(signum).name)

    for sig in signals:
        signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _statuses(stack: SandboxStack, sheet_keys: list[str], contact_ids: list[str]) -> list[str]:
    """The status of every record: the sheets' rows, then the contacts."""
    found: list[str] = []
    for key in sheet_keys:
        values = stack.sheets.get_values(key, "Sheet1")
        header = [str(h).strip().lower() for h in values[0]] if values else []
        column = header.index("ic status") if "ic status" in header else None
        found += [
            str(row[column]) if column is not None and column < len(row) else ""
            for row in values[1:]
        ]
    found += [str(stack.hubspot.get_contact(cid).get("ic_status") or "") for cid in contact_ids]
    return found


def _is_final(status: str) -> bool:
    return status.startswith(FINAL_PREFIXES)


@dataclass
class DemoRun:
    """A running demo: the sandboxes, the receivers, the worker and where the dashboard is."""

    stack: SandboxStack
    slack: SlackReceiver
    hook: WebhookReceiver
    worker: subprocess.Popen[bytes]
    settings: Any
    web_settings: Any
    sheet_key: str
    contact_ids: list[str]
    web_url: str
    token: str
    work_dir: Path
    summary: DemoSummary
    config_path: Path | None = None
    raw_sheet_key: str = ""

    def statuses(self) -> list[str]:
        """The status of every seeded record (sheet rows, then contacts)."""
        keys = [self.sheet_key, *([self.raw_sheet_key] if self.raw_sheet_key else [])]
        return _statuses(self.stack, keys, self.contact_ids)

    def held_runs(self) -> list[str]:
        """Ids of runs waiting for approval."""

        store = Store.open(self.settings.resolved_database_url, migrate=False)
        try:
            return [r.run_id for r in store.fetch_held_runs() if r.status == "awaiting_approval"]
        finally:
            store.close()

    def approve(self, run_id: str) -> int:
        """Approve a held run through the JSON API, as a user would; returns the status code."""
        response = httpx.post(
            f"{self.web_url}/api/runs/{run_id}/approve",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        return response.status_code


@contextmanager
def running_demo(
    *, console: Console, data_dir: Path | None = None, faults: str = "realistic"
) -> Iterator[DemoRun]:
    """Start sandboxes, receivers, the web app and a worker process; stop them on exit.

    With ``faults="realistic"`` the influencers.club sandbox answers like the live API on a bad
    day (random gateway 502s, 429s, cold 504s) and the first batch upload meets a gateway 502.

    Web app and worker run apart as on a PaaS: each has its own data directory and they share
    only the state database (``state/connector.db``), which also holds the rehosted pictures.
    """
    work_dir = Path(data_dir or tempfile.mkdtemp(prefix="connector-demo-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    ic_config = {
        "latency": 0.05,
        "jitter": 0.05,
        "not_found_rate": 0.0,
        "batch_rows_per_second": 400,
        "batch_queued_seconds": 0.3,
        "image_lifetime": IMAGE_LIFETIME,
        "faults": faults,
    }
    with ExitStack() as stack_ctx:
        stack = stack_ctx.enter_context(SandboxStack(balance=650.0, ic_config=ic_config))
        slack = stack_ctx.enter_context(SlackReceiver())
        hook = stack_ctx.enter_context(WebhookReceiver(secret=ALERT_SECRET))
        console.print(
            f"sandboxes up: influencers.club {stack.ic.url} · sheets {stack.sheets.url}"
            f" · hubspot {stack.hubspot.url} · slack {slack.url} · webhook {hook.url}"
        )
        sheet_key = stack.seed_sheet([[h, p, ""] for h, p in SHEET_ROWS])
        raw_sheet_key = stack.seed_sheet(
            [[h, p, "", ""] for h, p in RAW_SHEET_ROWS], title="Audience", header=RAW_HEADER
        )
        list_id = stack.seed_hubspot_list(
            HUBSPOT_HANDLES + [""] * len(HUBSPOT_EMAIL_ONLY), emails=HUBSPOT_EMAILS
        )
        if faults == "realistic":
            # One in fifty calls meets a gateway 502; make it the first batch upload, so the
            # demo shows what a human does about an upload that may have been billed.
            stack.ic.inject_faults(502, html=True, path=BATCH_UPLOAD_PATH)
        port = _free_port()
        web_url = f"http://127.0.0.1:{port}"
        token = secrets.token_urlsafe(16)
        data = build_demo_settings(
            stack,
            data_dir=work_dir / "worker",
            database_url=f"sqlite:///{work_dir / 'state' / 'connector.db'}",
            sheet_key=sheet_key,
            list_id=list_id,
            slack_url=slack.url,
            webhook_url=hook.url,
            web_url=web_url,
            token=token,
            raw_sheet_key=raw_sheet_key,
        )
        config_path = work_dir / "connector.yaml"
        config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        web_config = work_dir / "web.yaml"
        web_config.write_text(
            yaml.safe_dump({**data, "data_dir": str(work_dir / "web")}, sort_keys=False)
        )
        console.print(
            f"seeded a sheet of {len(SHEET_ROWS)} rows, a Raw-tier sheet of "
            f"{len(RAW_SHEET_ROWS)} rows and a HubSpot list of {len(HUBSPOT_EMAILS)} contacts "
            f"({len(HUBSPOT_EMAIL_ONLY)} with only an e-mail); config {config_path} (worker), "
            f"{web_config} (web app: its own data directory, the same state database)"
        )

        settings = load_settings(config_path, environ={})
        web_settings = load_settings(web_config, environ={})
        app = create_app(web_settings)
        stack_ctx.enter_context(LoopbackServer(app, port=port))
        worker = stack_ctx.enter_context(_worker(config_path, work_dir / "worker.log"))
        summary = DemoSummary(
            dashboard_url=f"{web_url}/?token={token}", dashboard_token=token, faults=faults
        )
        console.print(
            f"worker pid {worker.pid} (log {work_dir / 'worker.log'}); dashboard "
            f"{summary.dashboard_url}"
        )
        yield DemoRun(
            stack=stack,
            slack=slack,
            hook=hook,
            worker=worker,
            settings=settings,
            web_settings=web_settings,
            sheet_key=sheet_key,
            contact_ids=stack.contact_ids[list_id],
            web_url=web_url,
            token=token,
            work_dir=work_dir,
            summary=summary,
            config_path=config_path,
            raw_sheet_key=raw_sheet_key,
        )


def run_demo(
    *,
    keep_running: bool = False,
    console: Console | None = None,
    data_dir: Path | None = None,
    timeout: float = 90.0,
) -> DemoSummary:
    """Run the whole product on the sandboxes and return the summary."""
    console = console or Console(stderr=True)
    started = time.monotonic()
    with stopping_on_signals(), running_demo(console=console, data_dir=data_dir) as run:
        run.summary.finished = wait_for_records(run, console, timeout=timeout, auto_approve=True)
        _wait_for_alerts(run.slack, run.hook, timeout=15)
        _check_pictures(run, console)
        collect_summary(
            run.summary,
            run.stack,
            run.slack,
            run.hook,
            database_url=run.settings.resolved_database_url,
            statuses=run.statuses(),
        )
        run.summary.wall_seconds = round(time.monotonic() - started, 1)
        print_summary(run.summary, console)
        if keep_running:
            console.print("everything keeps running; press Ctrl-C (or send SIGTERM) to stop")
            try:
                while run.worker.poll() is None:
                    time.sleep(1)
            except KeyboardInterrupt:
                console.print("stopping the worker, the web app and the sandboxes…")
        return run.summary


def wait_for_records(run: DemoRun, console: Console, *, timeout: float, auto_approve: bool) -> bool:
    """Wait until every seeded record has a final status; approve held runs when asked."""
    deadline = time.monotonic() + timeout
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task("records with a final status", total=1)
        last_line = 0.0
        while time.monotonic() < deadline:
            typed = answer_unconfirmed(
                run.stack, run.sheet_key, run.contact_ids, run.config_path, console
            )
            if typed:
                run.summary.retries_typed += typed
                time.sleep(0.5)
                continue
            statuses = run.statuses()
            done = sum(1 for s in statuses if _is_final(s))
            progress.update(task, total=len(statuses), completed=done)
            if not console.is_terminal and time.monotonic() - last_line > 3:
                console.print(f"{done}/{len(statuses)} records final")
                last_line = time.monotonic()
            if done == len(statuses):
                return True
            if run.worker.poll() is not None:
                console.print(f"[red]the worker exited with code {run.worker.returncode}[/red]")
                return False
            if auto_approve and any(s.startswith("awaiting approval") for s in statuses):
                for run_id in run.held_runs():
                    code = run.approve(run_id)
                    console.print(
                        f"run {run_id} costs more than approval_over: approved it "
                        f"through POST /api/runs/{run_id}/approve ({code})"
                    )
            time.sleep(0.5)
    return False


def _wait_for_alerts(slack: SlackReceiver, hook: WebhookReceiver, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if slack.messages() and hook.messages():
            return
        time.sleep(0.5)


def _check_pictures(run: DemoRun, console: Console) -> None:
    stack, summary = run.stack, run.summary
    values = stack.sheets.get_values(run.sheet_key, "Sheet1")
    header = [str(h).strip() for h in values[0]]
    if PICTURE_COLUMN not in header:
        return
    column = header.index(PICTURE_COLUMN)
    urls = [str(row[column]) for row in values[1:] if column < len(row) and row[column]]
    summary.pictures_rehosted = len(urls)
    last_signed = max(
        (float(r["t"]) for r in stack.ic.requests() if "enrich" in str(r.get("path", ""))),
        default=time.time(),
    )
    wait = max(0.0, last_signed + IMAGE_LIFETIME + 1 - time.time())
    console.print(f"waiting {wait:.0f} s for the sandbox's signed picture URLs to expire…")
    time.sleep(wait)
    with httpx.Client(timeout=10) as client:
        summary.pictures_serving_after_expiry = sum(
            1 for url in urls if client.get(url).status_code == 200
        )
