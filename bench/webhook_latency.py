"""Benchmark: a signed HubSpot webhook or a Sheets nudge for one new record to its row written.

The sandboxes (influencers.club with 1 s latency per call, Sheets, HubSpot) run in this process;
the connector runs as two real child processes, ``connector serve`` (the web app) and
``connector worker``, with the product's default settings except base URLs and credentials
(the Sheets nudge secret is set: nudges are off without one). It runs once on SQLite and once on
PostgreSQL (state store) + Redis (rate limits).

Each trial adds one new record (a sheet row, or a contact added to the watched list), then
delivers its signal to the web app (a signed Sheets nudge, or a signed ``contact.creation`` app
webhook) and times from just before that request to the moment the sandbox holds the record's
``enriched`` status. ``over_api`` subtracts the API's own latency (one Full call, 1 s).

The last printed line is one JSON object:
``{"bench": "webhook_latency", "sqlite": {"p50_over_api": …, "p95_over_api": …}, "postgres": …}``

    .venv/bin/python bench/webhook_latency.py [--trials 20] [--postgres-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from connector.sandbox.stack import SandboxStack
from connector.sandbox.workers import (
    ConnectorProcess,
    fetch_sheet_statuses,
    fresh_schema,
    write_config,
)
from connector.web.sheets_webhooks import SIGNATURE_HEADER, build_signature

API_LATENCY = 1.0
NUDGE_SECRET = "bench-nudge-secret"
RECORD_TIMEOUT = 120.0
START_TIMEOUT = 60.0
TARGET = 1.0


def find_free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_settings(
    stack: SandboxStack, sheet_key: str, list_id: str, workdir: Path, **store: str
) -> dict[str, Any]:
    """Product defaults with the sandboxes' URLs and credentials and the nudge secret."""
    data = stack.settings_data(
        data_dir=workdir / "data",
        sources=[
            {
                "name": "leads",
                "type": "sheets",
                "spreadsheet": sheet_key,
                "platform_column": "Platform",
            },
            {"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"},
        ],
        web={"sheets_nudge_secret": NUDGE_SECRET},
        **store,
    )
    # ``settings_data`` shortens the batch poll for tests; the bench keeps the default.
    data["pipeline"].pop("batch_poll_seconds", None)
    return data


def wait_for(condition: Callable[[], bool], timeout: float, every: float = 0.005) -> float | None:
    """Poll ``condition``; the monotonic time it first held, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(every)
    return None


def send_nudge(http: httpx.Client, base: str, source: str) -> int:
    """A signed Sheets nudge, as the Apps Script sends it."""
    body = json.dumps(
        {"source": source, "sheet": "Sheet1", "changeType": "EDIT", "ts": time.time()}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: build_signature(body, NUDGE_SECRET),
    }
    return http.post(f"{base}/webhooks/sheets/{source}", content=body, headers=headers).status_code


class Trials:
    """New records on a running stack, each signalled to the web app and timed to its write."""

    def __init__(self, stack: SandboxStack, sheet_key: str, list_id: str, base: str) -> None:
        self.stack = stack
        self.sheet_key = sheet_key
        self.list_id = list_id
        self.base = base
        self.http = httpx.Client(timeout=10.0)
        self.rows = 0
        self.contacts = 0

    def sheet_row(self, tag: str) -> float | None:
        """Append a row, nudge, and time until its status cell says ``enriched``."""
        self.stack.sheets.append_rows(self.sheet_key, "Sheet1", [[f"found_{tag}", "instagram"]])
        index = self.rows
        self.rows += 1
        started = time.monotonic()
        status = send_nudge(self.http, self.base, "leads")
        if status != 202:
            raise RuntimeError(f"the nudge was answered {status}")

        def written() -> bool:
            statuses = fetch_sheet_statuses(self.stack, self.sheet_key)
            return len(statuses) > index and statuses[index] == "enriched"

        done = wait_for(written, RECORD_TIMEOUT)
        return None if done is None else done - started

    def contact(self, tag: str) -> float | None:
        """Add a contact to the list, fire its signed creation webhook, time its status."""
        hubspot = self.stack.hubspot
        (contact_id,) = hubspot.create_contacts(
            [{"email": f"{tag}@example.com", "instagram_handle": f"@found_{tag}"}]
        )
        hubspot.add_members(self.list_id, [contact_id])
        events = hubspot.build_contact_events([contact_id], "contact.creation")
        started = time.monotonic()
        statuses = hubspot.fire_webhook(f"{self.base}/webhooks/hubspot", events)
        if statuses != [200]:
            raise RuntimeError(f"the webhook was answered {statuses}")
        done = wait_for(
            lambda: hubspot.get_contact(contact_id).get("ic_status") == "enriched", RECORD_TIMEOUT
        )
        return None if done is None else done - started

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()


def summarise(seconds: list[float]) -> dict[str, float]:
    """p50/p95/max of the latencies over the API's own."""
    over = sorted(s - API_LATENCY for s in seconds)
    p95 = statistics.quantiles(over, n=20, method="inclusive")[-1] if len(over) > 1 else over[0]
    return {
        "p50_over_api": round(statistics.median(over), 3),
        "p95_over_api": round(p95, 3),
        "max_over_api": round(over[-1], 3),
    }


def run_backend(name: str, trials: int, workdir: Path, rng: random.Random, **store: str) -> Any:
    """Start the stack, the web app and a worker; time ``trials`` nudges and webhooks."""
    stack = SandboxStack(
        balance=1_000_000.0, ic_config={"latency": API_LATENCY, "not_found_rate": 0.0}
    ).start()
    processes: list[ConnectorProcess] = []
    try:
        sheet_key = stack.seed_sheet([])
        list_id = stack.seed_hubspot_list([])
        data = build_settings(stack, sheet_key, list_id, workdir, **store)
        config = write_config(workdir / "connector.yaml", data)
        port = find_free_port()
        web = ConnectorProcess(
            config, ["serve", "--port", str(port)], log_path=workdir / "web.log"
        ).start()
        worker = ConnectorProcess(config, ["worker"], log_path=workdir / "worker.log").start()
        processes += [web, worker]
        if not web.wait_for_log("serving on", START_TIMEOUT):
            raise RuntimeError(f"the web app did not start:\n{web.read_log()[-3000:]}")
        # The first polls set the sources up (status columns, HubSpot properties).
        for source in ("leads", "crm"):
            if not worker.wait_for_log(f'"cycle done" source={source}', START_TIMEOUT):
                log = worker.read_log()[-3000:]
                raise RuntimeError(f"the worker did not poll {source}:\n{log}")
        time.sleep(2.0)
        runner = Trials(stack, sheet_key, list_id, f"http://127.0.0.1:{port}")
        sheets: list[float] = []
        hubspot: list[float] = []
        lost = 0
        try:
            for i in range(trials):
                for kind, action, out in (
                    ("sheets", runner.sheet_row, sheets),
                    ("hubspot", runner.contact, hubspot),
                ):
                    time.sleep(rng.uniform(0.1, 0.6))
                    took = action(f"{name[:2]}{kind[:2]}{i:03d}")
                    if took is None:
                        lost += 1
                    else:
                        out.append(took)
                    shown = "lost" if took is None else f"{took:.3f} s"
                    print(f"{name} {kind} {i + 1}/{trials}: {shown}", file=sys.stderr, flush=True)
        finally:
            runner.close()
        worker_code = worker.terminate()
        web.terminate()
        result = summarise(sheets + hubspot)
        result.update(
            {
                "sheets": summarise(sheets) if sheets else {},
                "hubspot": summarise(hubspot) if hubspot else {},
                "records": len(sheets) + len(hubspot),
                "lost": lost,
                "worker_exit_code": worker_code,
            }
        )
        return result
    finally:
        for process in processes:
            process.stop()
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    """Run SQLite, then PostgreSQL + Redis, and print the JSON summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="nudges and webhooks each")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("CONNECTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    )
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--workdir", help="keep the configs, databases and logs here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    result: dict[str, Any] = {"bench": "webhook_latency", "api_latency": API_LATENCY}
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as scratch:
        tmp = Path(args.workdir or scratch)
        result["sqlite"] = run_backend("sqlite", args.trials, tmp / "sqlite", rng)
        print(json.dumps(result["sqlite"]), file=sys.stderr, flush=True)
        with fresh_schema(args.postgres_url) as url:
            result["postgres"] = run_backend(
                "postgres",
                args.trials,
                tmp / "postgres",
                rng,
                database_url=url,
                rate_limit_storage=args.redis_url,
            )
    met = all(
        result[b]["p95_over_api"] <= TARGET and result[b]["lost"] == 0
        for b in ("sqlite", "postgres")
    )
    result["targets_met"] = met
    print(json.dumps(result))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
