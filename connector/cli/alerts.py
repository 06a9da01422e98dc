"""``connector alerts test``: send a labelled test message to every configured channel."""

from __future__ import annotations

import click

from connector.alerts.engine import send_test_alert
from connector.cli.context import get_context, handle_errors
from connector.errors import ConfigError
from connector.services import build_services


@click.group("alerts")
def alerts_group() -> None:
    """Credit and failure alerts (Slack, signed webhooks)."""


@alerts_group.command("test")
@handle_errors
def test_command() -> None:
    """Send a clearly labelled test message to every channel and report each result."""

    settings = get_context().settings()
    if not settings.alerts.channels:
        raise ConfigError(
            [
                "no alert channels configured (add `alerts.channels:` with "
                "`{type: slack, webhook_url: ...}` or `{type: webhook, url: ..., secret: ...}`)"
            ]
        )
    services = build_services(settings)
    try:
        results = send_test_alert(services)
    finally:
        services.close()
    failed = 0
    for channel, result in results:
        if result.ok:
            click.echo(f"{channel.name}: ok ({result.attempts} attempt(s))")
        else:
            failed += 1
            click.echo(f"{channel.name}: FAILED: {result.detail}")
    if failed:
        click.echo(f"error: {failed} of {len(results)} channel(s) failed", err=True)
        raise SystemExit(1)


COMMANDS = [alerts_group]
