"""Benchmark: Sheets/Drive calls and peak RSS of the sheet source on 100, 1,000 and 10,000 rows.

The sandbox runs in this process; each size runs the source in a fresh child process (so its
peak RSS is the connector's alone) that drives the sandbox through its HTTP control endpoints.
Sheets calls are counted by the sandbox; Drive calls are reported separately. The last printed
line is one JSON object.

    .venv/bin/python bench/sheets_calls.py [--sizes 100,1000,10000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import requests
from pydantic import SecretStr

SIZES = (100, 1_000, 10_000)
NEW_ROWS = 50
HEADER = ["Handle", "Platform", "IC Status"]


class Mapping:
    """The two mapped columns of the benchmark (created by the first pass)."""

    targets = ("Followers", "Bio")


def _rows(size: int) -> list[list[Any]]:
    rows: list[list[Any]] = [HEADER]
    for i in range(size):
        status = "" if i % 3 == 0 else "enriched"
        rows.append([f"@creator_{i:05d}", "instagram", status])
    return rows


def _calls(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    keys = ("sheets_reads", "sheets_writes", "drive_calls", "token_calls")
    return {k: int(after[k]) - int(before[k]) for k in keys}


def run_size(url: str, size: int) -> dict[str, Any]:
    """One size, measured from a fresh process: first pass, then steady-state polls."""
    from connector.config import GoogleSettings, SheetSourceSettings
    from connector.ratelimit import build_storage
    from connector.sources.base import RecordUpdate, Status
    from connector.sources.sheets.google import build_google_budgets, build_gspread_client
    from connector.sources.sheets.source import SheetsSource

    http = requests.Session()

    def stats() -> dict[str, Any]:
        return dict(http.get(f"{url}/_sandbox/stats", timeout=30).json())

    email = f"bench-{size}@sandbox-project.iam.gserviceaccount.com"
    info = http.post(f"{url}/_sandbox/service-account", json={"client_email": email}, timeout=30)
    created = http.post(
        f"{url}/_sandbox/spreadsheets",
        json={"title": "Leads", "sheets": {"Leads": _rows(size)}, "rows": size + 500},
        timeout=60,
    ).json()
    sid = created["spreadsheet_id"]
    google = GoogleSettings(service_account_json=SecretStr(info.text), base_url=url)
    client = build_gspread_client(google)
    reads, writes = build_google_budgets(google, build_storage("memory://"), account=email)
    source = SheetsSource(
        SheetSourceSettings(name="bench", type="sheets", spreadsheet=sid, worksheet="Leads"),
        client=client,
        mapping=Mapping(),
        reads=reads,
        writes=writes,
    )

    def poll_and_write() -> int:
        records = source.fetch_pending()
        now = datetime.now(UTC)
        updates = [
            RecordUpdate(
                r.key,
                Status.ENRICHED,
                values={"Followers": 1000 + i, "Bio": f"Creator bio for {r.identity} " * 3},
                enriched_at=now,
            )
            for i, r in enumerate(records)
        ]
        if updates:
            source.write_back(updates)
        return len(records)

    before = stats()
    started = time.perf_counter()
    first_claimed = poll_and_write()
    first_seconds = time.perf_counter() - started
    first = _calls(before, stats())

    before = stats()
    poll_and_write()
    after_own_write = _calls(before, stats())

    before = stats()
    steady_claimed = poll_and_write()
    steady = _calls(before, stats())

    new = [[f"@fresh_{i:03d}", "tiktok"] for i in range(NEW_ROWS)]
    http.post(
        f"{url}/_sandbox/spreadsheets/{sid}/edit",
        json={"op": "append", "sheet": "Leads", "rows": new},
        timeout=30,
    )
    before = stats()
    started = time.perf_counter()
    new_claimed = poll_and_write()
    new_seconds = time.perf_counter() - started
    with_new = _calls(before, stats())
    final = stats()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "first_pass_calls": first["sheets_reads"] + first["sheets_writes"],
        "first_pass_reads": first["sheets_reads"],
        "first_pass_writes": first["sheets_writes"],
        "first_pass_drive_calls": first["drive_calls"],
        "first_pass_claimed": first_claimed,
        "first_pass_seconds": round(first_seconds, 3),
        "poll_after_own_write_sheets_calls": after_own_write["sheets_reads"]
        + after_own_write["sheets_writes"],
        "steady_sheets_calls_0_new": steady["sheets_reads"] + steady["sheets_writes"],
        "steady_drive_calls_0_new": steady["drive_calls"],
        "steady_claimed_0_new": steady_claimed,
        "steady_reads_50_new": with_new["sheets_reads"],
        "steady_writes_50_new": with_new["sheets_writes"],
        "steady_drive_calls_50_new": with_new["drive_calls"],
        "steady_claimed_50_new": new_claimed,
        "steady_seconds_50_new": round(new_seconds, 3),
        "max_write_bytes": int(final.get("max_write_bytes", 0)),
        "http_429": int(final.get("http_429", 0)),
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Start the sandbox, measure every size in a child process, print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--child-url")
    parser.add_argument("--child-size", type=int)
    args = parser.parse_args(argv)
    if args.child_url:
        print(json.dumps(run_size(args.child_url, args.child_size)))
        return

    from connector.sandbox.sheets import SheetsSandbox

    summary: dict[str, Any] = {"bench": "sheets_calls"}
    with SheetsSandbox() as sandbox:
        for size in (int(s) for s in args.sizes.split(",")):
            child = subprocess.run(
                [sys.executable, __file__, "--child-url", sandbox.url, "--child-size", str(size)],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"rows={size}: {result}", file=sys.stderr)
            summary[f"rows_{size}"] = result
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
