"""Benchmark: three workers on PostgreSQL + Redis sharing one influencers.club request budget.

The sandboxes (influencers.club, Sheets, HubSpot) run in this process; three real
``connector worker`` processes share one PostgreSQL state store and one Redis rate budget, with
the product's default settings (300 requests/minute, batch threshold 50, Google's 60 reads and
writes per minute) apart from the sandboxes' addresses. influencers.club answers warm Full calls
in 3 ± 1 s.

1,500 records over five sources, 20 % of them repeating a creator of another source:
- ``bulk`` (sheet, 600 Instagram rows) and ``crm`` (HubSpot list, 420 contacts, 200 of them
  creators of ``bulk``) go through the batch route;
- ``mix_1`` … ``mix_3`` (sheets of 160 rows: 40 per platform on four platforms, below the batch
  threshold per platform, 100 of them creators of ``crm``) go through single calls, which is
  what the shared budget is for.

``ratio`` is the rate of requests the sandbox received (every endpoint: they all take the same
budget) while single calls were queued, over the allowed rate; ``max_window_ratio`` is the most
requests received in any 60 s window over the allowed 300. ``double_spent`` counts paid calls
beyond the first per creator; ``lost_rows`` records without a final status.

    .venv/bin/python bench/workers.py [--workers 3] [--postgres-url URL] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from connector.sandbox.stack import SandboxStack
from connector.sandbox.workers import (
    ConnectorProcess,
    count_double_spent,
    fetch_contact_statuses,
    fetch_sheet_statuses,
    fresh_schema,
    is_final,
    write_config,
)

FULL_PATH = "/public/v1/creators/enrich/handle/full/"
IC_TIMINGS = {
    "latency": 3.0,
    "jitter": 1.0,
    "not_found_rate": 0.0,
    "batch_queued_seconds": 5.0,
    "batch_rows_per_second": 20.0,
}
MIX_PLATFORMS = ("tiktok", "youtube", "twitter", "twitch")
FINISH_TIMEOUT = 900.0
RPM = 300


def build_sources(stack: SandboxStack) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Seed the five sources; returns their settings, the sheet keys and the contact ids."""
    bulk = [f"found_wb{i:04d}" for i in range(600)]
    crm_new = [f"found_wc{i:04d}" for i in range(220)]
    crm = crm_new + [f"@{name}" for name in bulk[:200]]
    sheets: list[str] = []
    sources: list[dict[str, Any]] = []
    bulk_key = stack.seed_sheet([[name, "instagram"] for name in bulk], title="bulk")
    sheets.append(bulk_key)
    sources.append(
        {"name": "bulk", "type": "sheets", "spreadsheet": bulk_key, "platform_column": "Platform"}
    )
    list_id = stack.seed_hubspot_list(crm)
    sources.append({"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"})
    repeated = iter(crm_new[:100])
    for part in range(3):
        rows: list[list[str]] = []
        for platform in MIX_PLATFORMS:
            for i in range(40):
                rows.append([f"found_wm{part}{platform[:2]}{i:03d}", platform])
        # Some of the single-route rows name creators the CRM's batch is enriching.
        for row in rows[: 34 if part < 2 else 32]:
            row[:] = [next(repeated), "instagram"]
        key = stack.seed_sheet(rows, title=f"mix {part + 1}")
        sheets.append(key)
        sources.append(
            {
                "name": f"mix_{part + 1}",
                "type": "sheets",
                "spreadsheet": key,
                "platform_column": "Platform",
            }
        )
    return sources, sheets, stack.contact_ids[list_id]


def get_queued_ratio(log: list[dict[str, Any]], rate_per_minute: int) -> tuple[float, float]:
    """Requests per minute received while single calls were queued, over the allowed rate.

    The span runs from the first single Full call to the last one sent while others still
    waited (the final call's own latency is not budget time); returns (ratio, span seconds).
    """
    starts = sorted(r["start"] for r in log)
    singles = sorted(r["start"] for r in log if r["path"] == FULL_PATH)
    if len(singles) < 2:
        return 0.0, 0.0
    first, last = singles[0], singles[-1]
    inside = [s for s in starts if first <= s <= last]
    span = last - first
    return (len(inside) - 1) / span * 60 / rate_per_minute, span


def main(argv: list[str] | None = None) -> int:
    """Run the workers until every record is final; print the JSON summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CONNECTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server; the bench works in a new schema of it, dropped afterwards",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("CONNECTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        help="a Redis database for the shared budget (emptied first)",
    )
    parser.add_argument("--workdir", help="keep the config and the worker logs here")
    args = parser.parse_args(argv)
    redis.Redis.from_url(args.redis_url).flushdb()
    stack = SandboxStack(balance=1_000_000.0, ic_config=dict(IC_TIMINGS)).start()
    workers: list[ConnectorProcess] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-workers-") as scratch,
            fresh_schema(args.postgres_url) as database_url,
        ):
            workdir = Path(args.workdir or scratch)
            sources, sheets, contacts = build_sources(stack)
            data = stack.settings_data(
                data_dir=workdir / "data",
                sources=sources,
                database_url=database_url,
                rate_limit_storage=args.redis_url,
                media={"backend": "none"},
                pipeline={},
            )
            data["pipeline"].pop("batch_poll_seconds", None)
            config = write_config(workdir / "connector.yaml", data)
            started = time.monotonic()
            # Stopped before their schema is dropped, also when the bench fails.
            try:
                for n in range(args.workers):
                    log_path = workdir / f"worker{n}.log"
                    workers.append(ConnectorProcess(config, log_path=log_path).start())
                while True:
                    statuses = [
                        *(s for key in sheets for s in fetch_sheet_statuses(stack, key)),
                        *fetch_contact_statuses(stack, contacts),
                    ]
                    open_rows = sum(1 for s in statuses if not is_final(s))
                    if open_rows == 0 or time.monotonic() - started > FINISH_TIMEOUT:
                        break
                    print(f"{open_rows} records open", file=sys.stderr, flush=True)
                    time.sleep(5)
                wall = time.monotonic() - started
                for worker in workers:
                    worker.terminate()
            finally:
                for worker in workers:
                    worker.stop()
        stats = stack.ic.stats()
        log = stack.ic.requests()
        max_window = stack.ic.count_max_window()
    finally:
        stack.stop()

    ratio, span = get_queued_ratio(log, RPM)
    unique = 600 + 220 + 3 * 160 - 100
    result = {
        "bench": "workers",
        "workers": args.workers,
        "ratio": round(ratio, 3),
        "max_window_ratio": round(max_window / RPM, 3),
        "double_spent": count_double_spent(stats["charges"]),
        "lost_rows": open_rows,
        "records": len(statuses),
        "unique_creators": unique,
        "credits_charged": stats["credits_charged"],
        "single_calls": sum(1 for r in log if r["path"] == FULL_PATH),
        "queued_span_seconds": round(span, 1),
        "max_requests_in_60s": max_window,
        "http_429": stats["http_429"],
        "wall_seconds": round(wall, 1),
    }
    print(json.dumps(result))
    met = (
        ratio >= 0.95
        and max_window <= RPM
        and stats["http_429"] == 0
        and result["double_spent"] == 0
        and open_rows == 0
        and stats["credits_charged"] == unique
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
