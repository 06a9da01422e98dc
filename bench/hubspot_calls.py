"""Benchmark: HubSpot API calls per pass for a 10,000-contact list, counted by the sandbox.

Seeds the sandbox with N contacts in one list, then runs the HubSpot source through the real
hubspot-api-client: a first pass (property bootstrap, membership walk, batch reads, batch
write-back), a steady-state poll with no new members, and one with 50 new members. The last
printed line is one JSON object with the calls of each pass and ``calls_per_contact``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from connector.config import HubSpotSettings, HubSpotSourceSettings
from connector.mapping import Mapping, load_mapping
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sources.base import RecordUpdate, Status
from connector.sources.hubspot.client import build_hubspot_client
from connector.sources.hubspot.source import HubSpotSource
from connector.store import Store

MAPPING = Path(__file__).resolve().parent.parent / "mappings" / "hubspot_contacts.yaml"


def build_values(mapping: Mapping) -> dict[str, Any]:
    """One plausible value per mapped property, shaped by its HubSpot type."""
    samples: dict[str, Any] = {
        "number": 12345,
        "bool": True,
        "date": date(2026, 5, 1),
        "datetime": datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
        "string": "sample",
    }
    values = {}
    for spec in mapping.fields:
        if spec.type == "enumeration":
            values[spec.target] = spec.options[0].value
        else:
            values[spec.target] = samples.get(spec.type or "string", "sample")
    return values


def run_pass(
    sandbox: HubSpotSandbox, source: HubSpotSource, values: dict[str, Any], *, bootstrap: bool
) -> tuple[int, int, dict[str, int]]:
    """One poll plus the write-back of everything it returned: (calls, pending, by endpoint)."""
    sandbox.reset_stats()
    if bootstrap:
        source.bootstrap_properties()
    pending = source.fetch_pending()
    if pending:
        result = source.write_back(
            [RecordUpdate(key=p.key, status=Status.ENRICHED, values=values) for p in pending]
        )
        if result.failed or result.missing or len(result.written) != len(pending):
            raise SystemExit(f"write-back incomplete: {result}")
    stats = sandbox.stats()
    return int(stats["requests"]), len(pending), dict(stats["by_endpoint"])


def main(argv: list[str] | None = None) -> int:
    """Seed, run the three passes, print progress and the final JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=50)
    args = parser.parse_args(argv)

    mapping = load_mapping(MAPPING)
    values = build_values(mapping)
    with tempfile.TemporaryDirectory() as tmp, HubSpotSandbox(limit=1_000_000) as sandbox:
        sandbox.create_property("instagram_handle", label="Instagram Handle")
        started = time.monotonic()
        ids = sandbox.create_contacts(
            [{"instagram_handle": f"@creator{i}"} for i in range(args.contacts)]
        )
        list_id = sandbox.create_list("Creators", member_ids=ids)
        print(
            f"seeded {len(ids)} contacts in list {list_id} in {time.monotonic() - started:.1f}s",
            flush=True,
        )

        hubspot = HubSpotSettings.model_validate(
            {
                "access_token": sandbox.access_token,
                "base_url": sandbox.url,
                "requests_per_interval": 1_000_000,
            }
        )
        source = HubSpotSource(
            HubSpotSourceSettings(
                name="bench",
                type="hubspot",
                list="Creators",
                handle_property="instagram_handle",
                platform="instagram",
            ),
            client=build_hubspot_client(hubspot),
            mapping=mapping,
            store=Store.open(f"sqlite:///{tmp}/bench.db"),
            hubspot=hubspot,
        )

        started = time.monotonic()
        first, first_pending, first_by = run_pass(sandbox, source, values, bootstrap=True)
        print(
            f"first pass: {first} calls, {first_pending} pending, {first_by} "
            f"in {time.monotonic() - started:.1f}s",
            flush=True,
        )
        steady_0, pending_0, by_0 = run_pass(sandbox, source, values, bootstrap=False)
        print(f"steady, 0 new: {steady_0} calls, {pending_0} pending, {by_0}", flush=True)

        new_ids = sandbox.create_contacts(
            [{"instagram_handle": f"@newcomer{i}"} for i in range(args.new)]
        )
        sandbox.add_members(list_id, new_ids)
        steady_n, pending_n, by_n = run_pass(sandbox, source, values, bootstrap=False)
        print(
            f"steady, {args.new} new: {steady_n} calls, {pending_n} pending, {by_n}",
            flush=True,
        )

    result = {
        "bench": "hubspot_calls",
        "contacts": args.contacts,
        "first_pass_calls": first,
        "first_pass_bootstrap_calls": sum(
            n for k, n in first_by.items() if k.startswith("properties.")
        ),
        "calls_per_contact": round(first / args.contacts, 5),
        "steady_calls_0_new": steady_0,
        f"steady_calls_{args.new}_new": steady_n,
        "first_pass_pending": first_pending,
        "steady_pending_new": pending_n,
        "target_calls_per_contact": 0.03,
        "ok": first / args.contacts <= 0.03 and pending_n == args.new and pending_0 == 0,
    }
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
