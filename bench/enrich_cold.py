"""Benchmark: concurrent Full enrichment when a share of creators is cold (~55 s, then a 504)."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from connector.config import parse_settings
from connector.enrich import EnrichResult, build_enrichment_client, enrich_many
from connector.sandbox.influencers_club import InfluencersClubSandbox

FULL_PATH = "/public/v1/creators/enrich/handle/full/"


def get_limit_seconds(creators: int, rate_per_minute: int, cold_round_trip: float) -> float:
    """(N - 1) / rate + one cold round trip: the fastest the budget and the API allow."""
    return (creators - 1) / (rate_per_minute / 60) + cold_round_trip


def main(argv: list[str] | None = None) -> int:
    """Full-enrich ``--creators`` creators with the product's defaults against a sandbox that
    answers warm creators in ``--warm`` ± ``--jitter`` s and keeps ``--cold-share`` of them cold:
    their first call answers a gateway 504 after ``--cold`` s (unbilled, reference §2.2/§4) and
    the repeat answers warm.

    Prints progress on stderr and, last, one JSON line: ``ratio`` = ``limit_seconds`` /
    ``wall_seconds``, where ``limit_seconds`` = (N - 1) / rate + one cold round trip (the 504
    and its warm repeat).
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creators", type=int, default=600)
    parser.add_argument("--rpm", type=int, default=300)
    parser.add_argument("--cold-share", type=float, default=0.3)
    parser.add_argument("--cold", type=float, default=55.0)
    parser.add_argument("--warm", type=float, default=3.0)
    parser.add_argument("--jitter", type=float, default=1.0)
    args = parser.parse_args(argv)

    sandbox = InfluencersClubSandbox(balance=1_000_000.0)
    sandbox.configure(
        latency=args.warm,
        jitter=args.jitter,
        rate_limit_per_minute=args.rpm,
        cold_rate=args.cold_share,
        cold_delay=args.cold,
        not_found_rate=0.0,
    )
    with sandbox:
        config = {"influencers_club": {"api_key": sandbox.api_key, "base_url": sandbox.url}}
        if args.rpm != 300:
            config["influencers_club"]["requests_per_minute"] = args.rpm
        settings = parse_settings(config, environ={})
        handles = [(f"found_cold_{i:04d}", "instagram") for i in range(args.creators)]
        ok = failed = 0
        with build_enrichment_client(settings) as client:
            started = time.monotonic()
            for _item, outcome in enrich_many(client, handles):
                if isinstance(outcome, EnrichResult):
                    ok += 1
                else:
                    failed += 1
                    print(f"error: {outcome}", file=sys.stderr)
                done = ok + failed
                if done % 100 == 0:
                    elapsed = time.monotonic() - started
                    print(f"{done} done in {elapsed:.0f}s", file=sys.stderr)
            wall = time.monotonic() - started
            flight = client.gate.get_stats()
        log = sandbox.requests()
        stats = sandbox.stats()
        max_window = sandbox.count_max_window()

    full = [r for r in log if r["path"] == FULL_PATH]
    limit = get_limit_seconds(args.creators, args.rpm, args.cold + args.warm)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(full)} requests ({sum(r['status'] == 504 for r in full)} cold 504s), "
        f"peak {flight.peak_on_wire} in flight, {wall:.1f}s for a limit of {limit:.1f}s",
        file=sys.stderr,
    )
    print(
        json.dumps(
            {
                "bench": "enrich_cold",
                "ratio": round(limit / wall, 3),
                "limit_seconds": round(limit, 2),
                "wall_seconds": round(wall, 2),
                "http_429": stats.get("http_429", 0),
                "failed": failed,
                "ok": ok,
                "requests": len(full),
                "gateway_504": sum(r["status"] == 504 for r in full),
                "max_requests_in_60s": max_window,
                "allowed_per_minute": args.rpm,
                "peak_in_flight": flight.peak_on_wire,
                "max_concurrency": settings.influencers_club.max_concurrency,
                "credits_charged": stats["credits_charged"],
                "peak_rss_mb": round(peak_rss_mb, 1),
            }
        )
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
