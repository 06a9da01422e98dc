"""``connector credits``: balance, usage, burn rate, projected run-out and the cost of work."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from connector.alerts.credits import fetch_credit_report
from connector.cli.context import get_context, handle_errors
from connector.services import build_services

if TYPE_CHECKING:
    from connector.alerts.credits import CreditReport


@click.command("credits")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def credits_command(as_json: bool) -> None:
    """Show the balance, usage, 7-day burn rate, run-out date and the cost of queued/held work.

    Reading the balance is free; each call also stores it in the history the forecast uses.
    """

    services = build_services(get_context().settings())
    try:
        report = fetch_credit_report(services)
    finally:
        services.close()
    click.echo(format_credits(build_credits_report(report), as_json=as_json))


def build_credits_report(report: CreditReport) -> dict[str, Any]:
    """The facts ``connector credits`` prints, as a JSON-ready dict (no history points)."""
    data = report.as_dict()
    return {
        "available": data["balance"],
        "used": data["used"],
        "burn_rate_per_day": data["burn_rate_per_day"],
        "runout_date": data["runout_date"],
        "days_left": data["days_left"],
        "queued_cost": data["queued_cost"],
        "queued_creators": data["queued_creators"],
        "held_cost": data["held_cost"],
        "held_creators": data["held_creators"],
        "queued_emails": data["queued_emails"],
        "queued_lookup_cost": data["queued_lookup_cost"],
        "queued_followup_cost": data["queued_followup_cost"],
        "held_emails": data["held_emails"],
        "held_lookup_cost": data["held_lookup_cost"],
        "held_followup_cost": data["held_followup_cost"],
        "held_runs": data["held_runs"],
        "history_points": len(data["history"]),
    }


def format_credits(report: dict[str, Any], *, as_json: bool = False) -> str:
    """Render a credits report as aligned ``label: value`` lines or as JSON."""
    if as_json:
        return json.dumps(report, indent=2, default=str)
    lines = {key: _number(value) for key, value in report.items() if not isinstance(value, list)}
    if "burn_rate_per_day" in report:
        lines = _humanise(report)
    width = max(len(key) for key in lines)
    out = [f"{key + ':':<{width + 1}} {value}" for key, value in lines.items()]
    for run in report.get("held_runs") or []:
        out.append(
            f"  held run {run['run_id']} ({run['source']}, {run['status']}): {run['reason']}"
        )
    return "\n".join(out)


def _humanise(report: dict[str, Any]) -> dict[str, str]:
    burn = report["burn_rate_per_day"]
    if report["runout_date"]:
        runout = f"{report['runout_date'][:10]} (in {report['days_left']:.1f} days)"
    elif burn is None:
        runout = "not enough history yet (needs credits.min_history of balance checks)"
    else:
        runout = "never at the current burn rate"
    return {
        "available": _number(report["available"]),
        "used": _number(report["used"]),
        "burn rate": "not enough history yet" if burn is None else f"{burn:,.2f} credits/day (7 d)",
        "run-out": runout,
        "queued": f"{_number(report['queued_cost'])} credits "
        f"({report['queued_creators']} creators waiting{_emails(report, 'queued')})",
        "held": f"{_number(report['held_cost'])} credits "
        f"({report['held_creators']} creators held{_emails(report, 'held')})",
    }


def _emails(report: dict[str, Any], which: str) -> str:
    """``; 3 e-mails: 0.15 to look up + up to 3 to enrich what they find`` (or nothing)."""
    count = report.get(f"{which}_emails") or 0
    if not count:
        return ""
    lookups = _number(report[f"{which}_lookup_cost"])
    followup = _number(report[f"{which}_followup_cost"])
    return (
        f"; {count} e-mails: {lookups} to look up + up to {followup} to enrich the creators "
        "found, an upper bound: a lookup may miss or find a creator already paid for"
    )


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "—" if value is None else str(value)


COMMANDS = [credits_command]
