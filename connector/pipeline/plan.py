"""The dry-run plan: what a cycle would enrich, reuse and write, and what it would cost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from connector.enrich.models import BATCH_TIERS, get_price
from connector.errors import ConnectorError, InvalidHandleError
from connector.handles import PLATFORMS, parse_handle
from connector.mapping import apply_mapping
from connector.pipeline.context import PipelineServices
from connector.pipeline.delivery import get_fresh_emails
from connector.pipeline.records import Parsed
from connector.pipeline.report import CycleReport
from connector.sources.base import RecordUpdate
from connector.store.models import EMAIL, LedgerKey, is_email_key


def build_plan(
    services: PipelineServices,
    source_name: str,
    parsed: Sequence[Parsed],
    invalid: Sequence[RecordUpdate],
    report: CycleReport,
) -> None:
    """Fill ``report`` with the plan; reads only (no source writes, no paid calls).

    A record identified by e-mail counts as its creator when the e-mail ledger knows it; else
    it is a lookup (``email`` route), quoted at the lookup price plus, as an upper bound, the
    enrichment of the creator it may find.
    """
    settings = services.settings
    parsed = _resolve_emails(services, source_name, parsed)
    lookups = {p.key for p in parsed if is_email_key(p.key)}
    keys = {p.key for p in parsed if not is_email_key(p.key)}
    report.duplicates = len(parsed) - len(keys | lookups)
    fresh = services.store.lookup_fresh(
        list(keys),
        found_max_age=timedelta(days=settings.pipeline.refresh_after_days),
        not_found_max_age=timedelta(days=settings.pipeline.not_found_refresh_days),
    )
    misses = keys - set(fresh)
    report.cached = len(set(fresh))
    report.quote_lookups = len(lookups) * get_price(EMAIL)
    report.quote_followup = len(lookups) * max(
        get_price(services.get_mode(source_name, platform)) for platform in PLATFORMS
    )
    report.quote = (
        sum(get_price(k.mode) for k in misses) + report.quote_lookups + report.quote_followup
    )
    per_group = Counter((k.platform, k.mode) for k in misses)
    for (_, mode), count in per_group.items():
        report.routes[_route(settings, mode, count)] += count
    report.routes["email"] = len(lookups)
    email_route = "batch" if len(lookups) >= settings.pipeline.batch_threshold else "single"
    report.credits_saved = sum(
        get_price(p.key.mode) for p in parsed if p.key in fresh and fresh[p.key].outcome == "found"
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
        row = {"record": location, "handle": item.key.handle_key, "platform": item.key.platform}
        if item.key in seen:
            rows.append({"kind": "duplicate", **row, "detail": "served by the row above"})
            continue
        seen.add(item.key)
        if is_email_key(item.key):
            then = _describe_followup(services, source_name)
            detail = f"e-mail lookup ({email_route}), then {then}"
            rows.append({"kind": "lookup", **row, "platform": "", "detail": detail})
            continue
        if entry is None:
            route = _route(settings, item.key.mode, per_group[(item.key.platform, item.key.mode)])
            detail = f"{item.key.mode} · route {route}" + (
                " · found by e-mail" if item.email else ""
            )
            rows.append({"kind": "enrich", **row, "detail": detail})
            continue
        if entry.outcome != "found" or entry.profile is None:
            rows.append({"kind": "cached", **row, "detail": "not found (cached)"})
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
        rows.append({"kind": "cached", **row, "detail": "; ".join(diffs) or "no changes"})
    report.plan = rows
    followup = (
        f" ({report.quote_lookups:g} for {len(lookups)} e-mail lookup(s) + up to "
        f"{report.quote_followup:g} to enrich what they find: an upper bound, a lookup may miss "
        "or find a creator the ledger already holds)"
        if lookups
        else ""
    )
    report.plan.append(
        {
            "kind": "quote",
            "record": "",
            "handle": "",
            "platform": "",
            "detail": f"{report.quote:g} credits{followup}; balance "
            f"{'unknown' if balance is None else f'{balance:g}'}",
        }
    )


def _route(settings: Any, mode: str, count: int) -> str:
    """``batch`` for ``batch_threshold`` or more creators of a tier batches support."""
    return (
        "batch" if count >= settings.pipeline.batch_threshold and mode in BATCH_TIERS else "single"
    )


def _describe_followup(services: PipelineServices, source_name: str) -> str:
    modes = sorted({services.get_mode(source_name, p) for p in PLATFORMS})
    return f"{'/'.join(modes)} enrichment if it names a creator"


def _resolve_emails(
    services: PipelineServices, source_name: str, parsed: Sequence[Parsed]
) -> list[Parsed]:
    """The records whose e-mail the e-mail ledger answers, as their creators (dry run)."""
    emails = {p.key.handle_key for p in parsed if is_email_key(p.key)}
    fresh = get_fresh_emails(services, emails) if emails else {}
    resolved: list[Parsed] = []
    for item in parsed:
        lookup = fresh.get(item.key.handle_key) if is_email_key(item.key) else None
        if lookup is None:
            resolved.append(item)
            continue
        if lookup.outcome != "found":
            continue
        try:
            handle = parse_handle(lookup.username, lookup.platform)
        except InvalidHandleError:
            continue
        key = LedgerKey(
            handle.platform, handle.handle_key, services.get_mode(source_name, handle.platform)
        )
        resolved.append(replace(item, key=key, handle_value=handle.value))
    return resolved


def build_plan_summary(report: CycleReport) -> str:
    """The one-line summary under a plan: records, routes, quote and savings."""
    return (
        f"records {report.records} · invalid {report.invalid} · duplicates {report.duplicates} · "
        f"cached {report.cached} · to enrich {report.routes['single']} single + "
        f"{report.routes['batch']} batch · e-mail lookups {report.routes.get('email', 0)} · "
        f"quote {report.quote:g} credits · saved {report.credits_saved:g}"
    )
