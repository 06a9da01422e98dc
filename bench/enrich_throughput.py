"""Benchmark: the share of the account's request budget that concurrent enrichment uses."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from connector.config import parse_settings
from connector.enrich import EnrichResult, build_enrichment_client, enrich_many
from connector.sandbox.influencers_club import InfluencersClubSandbox

FULL_PATH = "/public/v1/creators/enrich/handle/full/"


def get_rate_per_minute(starts: list[float]) -> float:
    """(N - 1) / (last start - first start) * 60, the rate at which the budget was used."""
    if len(starts) < 2 or starts[-1] <= starts[0]:
        return 0.0
    return (len(starts) - 1) / (starts[-1] - starts[0]) * 60


def get_full_starts(requests: list[dict[str, Any]]) -> list[float]:
    """Times of the full-enrichment requests in a sandbox request log.

    The log's ``t`` is taken when the answer is recorded; a ``start`` field, when the sandbox
    provides one, is the closer measure of when the budget was spent.
    """
    return sorted(r.get("start", r["t"]) for r in requests if r["path"] == FULL_PATH)


def main(argv: list[str] | None = None) -> int:
    """Run a sequential baseline, then ``--handles`` found handles through ``enrich_many``.

    Prints progress on stderr and, last, one JSON line: ``ratio`` is the achieved requests per
    minute (from the sandbox's request log) divided by the allowed rate.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handles", type=int, default=300)
    parser.add_argument("--baseline", type=int, default=10)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--latency", type=float, default=3.0)
    parser.add_argument("--jitter", type=float, default=1.0)
    args = parser.parse_args(argv)

    sandbox = InfluencersClubSandbox(balance=1_000_000.0)
    sandbox.configure(
        latency=args.latency,
        jitter=args.jitter,
        rate_limit_per_minute=args.rpm,
        cold_rate=0.0,
        not_found_rate=0.0,
    )
    with sandbox:
        settings = parse_settings(
            {
                "influencers_club": {
                    "api_key": sandbox.api_key,
                    "base_url": sandbox.url,
                    "requests_per_minute": args.rpm,
                    "max_concurrency": args.concurrency,
                }
            },
            environ={},
        )
        with build_enrichment_client(settings) as client:
            for i in range(args.baseline):
                client.enrich_full(f"found_baseline_{i}", "instagram")
            baseline_starts = get_full_starts(sandbox.requests())
            print(f"baseline: {len(baseline_starts)} sequential calls", file=sys.stderr)

            handles = [(f"found_bench_{i:04d}", "instagram") for i in range(args.handles)]
            ok = failed = 0
            started = time.monotonic()
            for _item, outcome in enrich_many(
                client, handles, max_concurrency=client.max_concurrency
            ):
                if isinstance(outcome, EnrichResult):
                    ok += 1
                else:
                    failed += 1
                    print(f"error: {outcome}", file=sys.stderr)
            wall = time.monotonic() - started
        log = sandbox.requests()
        stats = sandbox.stats()

    concurrent_starts = get_full_starts(log)[len(baseline_starts) :]
    baseline_ratio = get_rate_per_minute(baseline_starts) / args.rpm
    ratio = get_rate_per_minute(concurrent_starts) / args.rpm
    print(f"concurrent: {ok} ok, {failed} failed in {wall:.1f}s", file=sys.stderr)
    print(
        json.dumps(
            {
                "bench": "enrich_throughput",
                "ratio": round(ratio, 3),
                "baseline_ratio": round(baseline_ratio, 3),
                "http_429": stats.get("http_429", 0),
                "requests": len(concurrent_starts),
                "ok": ok,
                "failed": failed,
                "wall_seconds": round(wall, 2),
                "allowed_per_minute": args.rpm,
                "max_concurrency": settings.influencers_club.max_concurrency,
            }
        )
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
