"""``connector sandbox serve``: run loopback emulators of the remote APIs until Ctrl-C."""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.influencers_club import InfluencersClubSandbox
from connector.sandbox.receivers import SlackReceiver, WebhookReceiver
from connector.sandbox.sheets import SheetsSandbox


@dataclass(frozen=True)
class Started:
    """A running sandbox: how to stop it and what to tell the user."""

    name: str
    url: str
    stop: Callable[[], None]
    lines: list[str]


def start_influencers_club(options: dict[str, Any]) -> Started:
    """Start the influencers.club sandbox and describe its connector.yaml settings."""

    sandbox = InfluencersClubSandbox(
        api_key=options["api_key"],
        balance=options["balance"],
        port=options["port"],
        latency=options["latency"],
        jitter=options["jitter"],
        faults=options.get("faults", "none"),
    ).start()
    lines = [
        f"api key: {sandbox.api_key}",
        "connector.yaml:",
        "  influencers_club:",
        f"    base_url: {sandbox.url}",
        f"    api_key: {sandbox.api_key}",
        f"controls: {sandbox.url}/_sandbox/stats (GET), /_sandbox/config, /_sandbox/faults, "
        "/_sandbox/balance, /_sandbox/reset (POST JSON)",
    ]
    return Started("influencers.club", sandbox.url, sandbox.stop, lines)


def start_sheets(options: dict[str, Any]) -> Started:
    """Start the Sheets + Drive sandbox and write a service-account file pointing at it."""

    sandbox = SheetsSandbox().start()
    key_file = Path(tempfile.mkdtemp(prefix="connector-sandbox-")) / "service-account.json"
    key_file.write_text(json.dumps(sandbox.service_account_info()))
    lines = [
        "connector.yaml:",
        "  google:",
        f"    base_url: {sandbox.url}",
        f"    service_account_file: {key_file}",
        f"controls: {sandbox.url}/_sandbox/spreadsheets (POST to create), /_sandbox/stats",
    ]
    return Started("Google Sheets + Drive", sandbox.url, sandbox.stop, lines)


def start_hubspot(options: dict[str, Any]) -> Started:
    """Start the HubSpot sandbox and describe its settings."""

    sandbox = HubSpotSandbox().start()
    lines = [
        "connector.yaml:",
        "  hubspot:",
        f"    base_url: {sandbox.url}",
        f"    access_token: {sandbox.access_token}",
        f"    client_secret: {sandbox.client_secret}",
        f"controls: {sandbox.url}/_sandbox/contacts, /_sandbox/lists, /_sandbox/stats",
    ]
    return Started("HubSpot", sandbox.url, sandbox.stop, lines)


def start_receivers(options: dict[str, Any]) -> Started:
    """Start the Slack-webhook and generic-webhook receivers for alerts."""

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    slack = SlackReceiver().start()
    hook = WebhookReceiver(secret=secret).start()

    def stop() -> None:
        slack.stop()
        hook.stop()

    lines = [
        "connector.yaml:",
        "  alerts:",
        "    channels:",
        f"      - {{type: slack, webhook_url: {slack.url}}}",
        f"      - {{type: webhook, url: {hook.url}, secret: {secret}}}",
    ]
    return Started("alert receivers (Slack, webhook)", slack.url, stop, lines)


STARTERS: dict[str, Callable[[dict[str, Any]], Started]] = {
    "influencers-club": start_influencers_club,
    "sheets": start_sheets,
    "hubspot": start_hubspot,
    "alerts": start_receivers,
}


@click.group("sandbox")
def sandbox_group() -> None:
    """Run local emulators of the remote APIs (for demos, benchmarks and manual testing)."""


@sandbox_group.command("serve")
@click.option(
    "--port", default=0, show_default=True, help="influencers.club port (0 picks a free one)."
)
@click.option("--api-key", default="sandbox-key", show_default=True, help="Accepted bearer key.")
@click.option("--balance", default=1000.0, show_default=True, help="Starting credits.")
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to enrich calls.")
@click.option("--jitter", default=0.0, show_default=True, help="Uniform ± seconds on latency.")
@click.option(
    "--faults",
    type=click.Choice(["none", "realistic"]),
    default="none",
    show_default=True,
    help="influencers.club faults: realistic = random gateway 502s, 429s with Retry-After in "
    "both forms, cold Full calls answering 504 once, out of credits as 403.",
)
@click.option(
    "--only",
    "names",
    multiple=True,
    type=click.Choice(sorted(STARTERS)),
    help="Start only these sandboxes (default: all).",
)
def serve_command(
    port: int,
    api_key: str,
    balance: float,
    latency: float,
    jitter: float,
    faults: str,
    names: tuple[str, ...],
) -> None:
    """Start the sandboxes, print their URLs and settings, and serve until Ctrl-C."""
    options = {
        "port": port,
        "api_key": api_key,
        "balance": balance,
        "latency": latency,
        "jitter": jitter,
        "faults": faults,
    }
    started = [STARTERS[name](options) for name in (names or sorted(STARTERS))]
    try:
        for sandbox in started:
            click.echo(f"{sandbox.name} sandbox: {sandbox.url}")
            for line in sandbox.lines:
                click.echo(f"  {line}")
        click.echo("Press Ctrl-C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        for sandbox in started:
            sandbox.stop()


COMMANDS = [sandbox_group]
