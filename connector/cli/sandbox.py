"""``connector sandbox serve``: run loopback emulators of the remote APIs until Ctrl-C."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class Started:
    """A running sandbox: how to stop it and what to tell the user."""

    name: str
    url: str
    stop: Callable[[], None]
    lines: list[str]


def start_influencers_club(options: dict[str, Any]) -> Started:
    """Start the influencers.club sandbox and describe its connector.yaml settings."""
    from connector.sandbox.influencers_club import InfluencersClubSandbox

    sandbox = InfluencersClubSandbox(
        api_key=options["api_key"],
        balance=options["balance"],
        port=options["port"],
        latency=options["latency"],
        jitter=options["jitter"],
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


# The other emulators (Sheets, HubSpot, Slack) register their starters here.
STARTERS: dict[str, Callable[[dict[str, Any]], Started]] = {
    "influencers-club": start_influencers_club,
}


@click.group("sandbox")
def sandbox_group() -> None:
    """Run local emulators of the remote APIs (for demos, benchmarks and manual testing)."""


@sandbox_group.command("serve")
@click.option("--port", default=0, show_default=True, help="Port (0 picks a free one).")
@click.option("--api-key", default="sandbox-key", show_default=True, help="Accepted bearer key.")
@click.option("--balance", default=1000.0, show_default=True, help="Starting credits.")
@click.option("--latency", default=0.0, show_default=True, help="Seconds added to enrich calls.")
@click.option("--jitter", default=0.0, show_default=True, help="Uniform ± seconds on latency.")
@click.option(
    "--only",
    "names",
    multiple=True,
    type=click.Choice(sorted(STARTERS)),
    help="Start only these sandboxes (default: all).",
)
def serve_command(
    port: int, api_key: str, balance: float, latency: float, jitter: float, names: tuple[str, ...]
) -> None:
    """Start the sandboxes, print their URLs and settings, and serve until Ctrl-C."""
    options = {
        "port": port,
        "api_key": api_key,
        "balance": balance,
        "latency": latency,
        "jitter": jitter,
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
