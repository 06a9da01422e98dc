"""``connector retry SOURCE``: set records' status to ``retry`` as a human would type it."""

from __future__ import annotations

import sys

import click

from connector.cli.context import get_context, handle_errors
from connector.services import build_services


@click.command("retry")
@click.argument("source")
@click.option(
    "--errors",
    is_flag=True,
    help="Every record whose status is 'error' (not 'not found' or 'invalid handle').",
)
@click.option(
    "--rows",
    multiple=True,
    metavar="ROWS",
    help="Sheet row numbers or ranges as the sheet shows them (7,9-12), or HubSpot contact ids; "
    "repeatable.",
)
@handle_errors
def retry_command(source: str, errors: bool, rows: tuple[str, ...]) -> None:
    """Ask for another try of records of SOURCE: write 'retry' into their status.

    Selects the records whose status is 'error' (--errors) and/or the records named (--rows),
    skipping any without a handle and any being worked on (a live claim). The worker's next poll
    picks them up. A record whose batch upload may have been billed (a gateway 502, a timeout, a
    reset connection) releases its creator's hold and is enriched again, which may bill that
    creator a second time: check the influencers.club dashboard first.
    """
    if not errors and not rows:
        raise click.UsageError("choose the records: --errors and/or --rows")
    settings = get_context().settings()
    settings.get_source(source)
    services = build_services(settings)
    try:
        result = services.get_source(source).write_retry(errors=errors, rows=rows)
    finally:
        services.close()
    for location in result.marked:
        click.echo(f"retry  {location}")
    for reason in result.skipped:
        click.echo(f"skip   {reason}", err=True)
    if not result.marked:
        click.echo(f"{source}: no record set to retry")
        sys.exit(1 if result.skipped else 0)
    click.echo(
        f"{source}: {len(result.marked)} record(s) set to retry; the worker enriches them at "
        "its next poll"
    )


COMMANDS = [retry_command]
