"""``connector credits``: show the influencers.club credit balance."""

from __future__ import annotations

import json
from typing import Any

import click

from connector.cli.context import get_context, handle_errors
from connector.enrich.client import build_enrichment_client
from connector.enrich.models import CreditBalance


@click.command("credits")
@click.option("--json", "as_json", is_flag=True, help="Print the balance as JSON.")
@handle_errors
def credits_command(as_json: bool) -> None:
    """Show the credits available and used on the influencers.club account."""
    settings = get_context().settings()
    with build_enrichment_client(settings) as client:
        balance = client.fetch_credits()
    click.echo(format_credits(build_credits_report(balance), as_json=as_json))


def build_credits_report(balance: CreditBalance) -> dict[str, Any]:
    """The facts ``connector credits`` prints, as a JSON-ready dict."""
    return {"available": balance.available, "used": balance.used}


def format_credits(report: dict[str, Any], *, as_json: bool = False) -> str:
    """Render a credits report as aligned ``label: value`` lines or as JSON."""
    if as_json:
        return json.dumps(report, indent=2, default=str)
    width = max(len(key) for key in report)
    return "\n".join(f"{key + ':':<{width + 1}} {_number(value)}" for key, value in report.items())


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


COMMANDS = [credits_command]
