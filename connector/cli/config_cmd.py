"""``connector config check``: print the resolved settings (secrets masked) or every error."""

from __future__ import annotations

import json

import click
import yaml

from connector.cli.context import get_context, handle_errors


@click.group("config")
def config_group() -> None:
    """Inspect the settings file."""


@config_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved settings as JSON.")
@handle_errors
def check_command(as_json: bool) -> None:
    """Validate the settings; print them with secrets masked (exit 0) or the errors (exit 1)."""
    settings = get_context().settings()
    data = settings.masked()
    data["database_url"] = data.get("database_url") or f"(default) {settings.resolved_database_url}"
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
    click.echo("config ok", err=True)


COMMANDS = [config_group]
