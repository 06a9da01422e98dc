"""The dry-run plan: what a cycle would enrich, reuse and write, and what it would cost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from connector.enrich.models import get_price
from connector.errors import ConnectorError
from connector.mapping import apply_mapping
from connector.pipeline.context import PipelineServices
from connector.pipeline.records import Parsed
from connector.pipeline.report import CycleReport
from connector.sources.base import RecordUpdate


def build_plan(
    services: PipelineServices,
    source_name: str,
    parsed: Sequence[Parsed],
    invalid: Sequence[RecordUpdate],
    report: CycleReport,
) -> None:
    """Fill ``report`` with the plan; reads only (no source writes, no paid calls)."""
    settings = services.settings
    keys = {p.key for p in parsed}
    report.duplicates = len(parsed) - len(keys)
    fresh = services.store.lookup_fresh(
        list(keys),
        found_max_age=timedelta(days=settings.pipeline.refresh_after_days),
        not_found_max_age=timedelta(days=settings.pipeline.not_found_refresh_days),
    )
    misses = keys - set(fresh)
    report.cached = len(set(fresh))
    report.quote = len(misses) * get_price(settings.pipeline.mode)
    per_platform = Counter(k.platform for k in misses)
    for count in per_platform.values():
        route = "batch" if count >= settings.pipeline.batch_threshold else "single"
        report.routes[route] += count
    report.credits_saved = sum(
        get_price(settings.pipeline.mode)
        for p in parsed
        if p.key in fresh and fresh[p.key].outcome == "found"
    )
    balance: float | None
    try:
        balance = services.enrichment.fetch_credits().available
    except ConnectorError as exc:
        balance = None
        report.error = f"balance unavailable: {exc}"
    rows: list[dict[str, Any]] = [
        {"kind": "invalid", "record": u.key, "handle": u.handle_text, "detail": u.status}
        for u in invalid
    ]
    mapping = services.get_mapping(source_name)
    identities = [p.record.identity for p in parsed if p.key in fresh]
    hashes = services.store.get_written_hashes(source_name, identities) if identities else {}
    seen: set[Any] = set()
    for item in parsed:
        entry = fresh.get(item.key)
        location = item.record.location
        if entry is None:
            kind = "duplicate" if item.key in seen else "enrich"
            seen.add(item.key)
            route = (
                "batch"
                if per_platform[item.key.platform] >= settings.pipeline.batch_threshold
                else "single"
            )
            rows.append(
                {
                    "kind": kind,
                    "record": location,
                    "handle": item.key.handle_key,
                    "platform": item.key.platform,
                    "detail": f"route {route}",
                }
            )
            continue
        if entry.outcome != "found" or entry.profile is None:
            rows.append(
                {
                    "kind": "cached",
                    "record": location,
                    "handle": item.key.handle_key,
                    "platform": item.key.platform,
                    "detail": "not found (cached)",
                }
            )
            continue
        result = apply_mapping(
            mapping,
            entry.profile,
            platform=item.key.platform,
            current=item.record.current,
            last_hashes=hashes.get(item.record.identity, {}),
        )
        diffs = [
            f"{target}: {item.record.current.get(target, '')!r} → {value!r}"
            for target, value in result.changes.items()
        ]
        rows.append(
            {
                "kind": "cached",
                "record": location,
                "handle": item.key.handle_key,
                "platform": item.key.platform,
                "detail": "; ".join(diffs) or "no changes",
            }
        )
    report.plan = rows
    report.plan.append(
        {
            "kind": "quote",
            "record": "",
            "handle": "",
            "platform": "",
            "detail": f"{report.quote:g} credits; balance "
            f"{'unknown' if balance is None else f'{balance:g}'}",
        }
    )
