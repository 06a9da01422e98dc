"""What the demo ends with: its figures, gathered from the sandboxes and the store, and shown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from rich.console import Console
from rich.table import Table

from connector.demo.faults import count_faults
from connector.discovery.searches import RUN_PREFIX as DISCOVERY_RUN_PREFIX
from connector.sandbox.receivers import SlackReceiver, WebhookReceiver
from connector.sandbox.stack import SandboxStack
from connector.store import Store


@dataclass
class DemoSummary:
    """The figures the demo ends with (also printed as one JSON line with ``--json``).

    ``credits_spent`` and the other credit figures are the connector's own, read from its
    store (runs, ledger, e-mail ledger); ``sandbox_credits_charged`` is the sandbox's total of
    everything it billed (Full, Raw, e-mail lookups, discovery). ``reconciled``: the two are
    equal and no creator or e-mail was charged twice. ``not_found`` counts handles and e-mails
    no creator answers, ``invalid`` unusable handles and e-mails.
    """

    rows_enriched: int = 0
    not_found: int = 0
    invalid: int = 0
    errors: int = 0
    credits_spent: float = 0.0
    unique_found: int = 0
    credits_saved: float = 0.0
    discovered: int = 0
    discovery_credits: float = 0.0
    email_lookups: int = 0
    email_matched: int = 0
    email_credits: float = 0.0
    raw_enriched: int = 0
    raw_credits: float = 0.0
    alerts_sent: int = 0
    faults: str = "none"
    faults_seen: dict[str, int] = field(default_factory=dict)
    retries_typed: int = 0
    sandbox_credits_charged: float = 0.0
    creators_charged_twice: int = 0
    reconciled: bool = False
    api_calls: dict[str, int] = field(default_factory=dict)
    pictures_rehosted: int = 0
    pictures_serving_after_expiry: int = 0
    dashboard_url: str = ""
    dashboard_token: str = ""
    wall_seconds: float = 0.0
    finished: bool = False


def collect_summary(
    summary: DemoSummary,
    stack: SandboxStack,
    slack: SlackReceiver,
    hook: WebhookReceiver,
    *,
    database_url: str,
    statuses: Sequence[str],
) -> None:
    """Fill ``summary`` from the records' statuses, the sandboxes' counters and the store."""
    summary.rows_enriched = sum(1 for s in statuses if s.startswith("enriched"))
    summary.not_found = sum(
        1 for s in statuses if s.startswith(("not found", "no creator for this e-mail"))
    )
    summary.invalid = sum(1 for s in statuses if s.startswith(("invalid handle", "invalid e-mail")))
    summary.errors = sum(1 for s in statuses if s.startswith("error"))
    ic = stack.ic.stats()
    summary.discovered = sum(int(n) for n in ic.get("discovery_charges", {}).values())
    charges: dict[str, int] = ic.get("charges", {})
    summary.unique_found = len({key.rpartition("|")[2] for key in charges})
    summary.creators_charged_twice = sum(1 for n in charges.values() if n > 1) + sum(
        1 for n in ic.get("email_charges", {}).values() if n > 1
    )
    summary.faults_seen = count_faults(stack.ic.requests())

    store = Store.open(database_url, migrate=False)
    try:
        runs = store.fetch_runs(10_000)
        summary.credits_saved = round(sum(r.credits_saved for r in runs), 2)
        # Everything the connector paid, as it recorded it: enrichment, lookups, discovery.
        summary.credits_spent = round(store.sum_credits_spent(), 4)
        summary.discovery_credits = round(
            sum(r.credits_spent for r in runs if r.source.startswith(DISCOVERY_RUN_PREFIX)), 4
        )
        lookups = store.count_email_lookups()
        summary.email_lookups = sum(lookups.values())
        summary.email_matched = lookups["found"]
        summary.email_credits = round(store.sum_email_credits(), 4)
        summary.raw_enriched, raw_credits = store.summarise_ledger("raw")
        summary.raw_credits = round(raw_credits, 4)
    finally:
        store.close()
    # What the connector reports must be what the API billed.
    summary.sandbox_credits_charged = round(float(ic["credits_charged"]), 4)
    summary.reconciled = (
        summary.credits_spent == summary.sandbox_credits_charged
        and not summary.creators_charged_twice
    )
    sheets = stack.sheets.stats()
    summary.api_calls = {
        "influencers_club": int(ic["requests"]),
        "google_sheets": int(sheets["sheets_reads"]) + int(sheets["sheets_writes"]),
        "google_drive": int(sheets["drive_calls"]),
        "hubspot": int(stack.hubspot.stats()["requests"]),
        "slack": len(slack.messages()),
        "webhook": len(hook.messages()),
    }
    summary.alerts_sent = len(slack.messages()) + len(hook.messages())


def print_summary(summary: DemoSummary, console: Console) -> None:
    """The closing table."""
    table = Table(title="demo summary", show_header=False)
    table.add_column("figure", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    rows = [
        ("rows enriched", summary.rows_enriched),
        ("not found", summary.not_found),
        ("invalid handles", summary.invalid),
        ("errors", summary.errors),
        ("credits spent (everything the connector paid)", f"{summary.credits_spent:g}"),
        ("unique creators found", summary.unique_found),
        ("credits saved (duplicates, cache)", f"{summary.credits_saved:g}"),
        ("creators discovered", summary.discovered),
        ("discovery credits", f"{summary.discovery_credits:g}"),
        (
            "e-mail lookups / creators found / credits",
            f"{summary.email_lookups} / {summary.email_matched} / {summary.email_credits:g}",
        ),
        ("Raw-tier creators / credits", f"{summary.raw_enriched} / {summary.raw_credits:g}"),
        ("alerts sent", summary.alerts_sent),
        (
            f"faults ({summary.faults}) seen",
            ", ".join(f"{code}: {n}" for code, n in summary.faults_seen.items()) or "none",
        ),
        ("retries typed after an ambiguous upload", summary.retries_typed),
        (
            "credits spent / billed by the API",
            f"{summary.credits_spent:g} / {summary.sandbox_credits_charged:g}"
            + (" (reconciled)" if summary.reconciled else " (MISMATCH)"),
        ),
        (
            "pictures rehosted / serving after expiry",
            f"{summary.pictures_rehosted} / {summary.pictures_serving_after_expiry}",
        ),
        *((f"API calls: {name}", count) for name, count in summary.api_calls.items()),
        ("wall seconds", f"{summary.wall_seconds:g}"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    console.print(table)
    # A URL is one word: on its own line it is never wrapped inside a table cell.
    console.print(f"dashboard: {summary.dashboard_url}", highlight=False, soft_wrap=True)


def summary_json(summary: DemoSummary) -> str:
    """The summary as one JSON line."""
    return json.dumps(asdict(summary), sort_keys=True)
