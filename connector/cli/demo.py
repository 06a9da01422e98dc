"""``connector demo``: the whole product on local sandboxes, no credentials needed."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from connector.cli.context import get_context, handle_errors
from connector.demo.runner import run_demo
from connector.demo.summary import summary_json


@click.command("demo")
@click.option("--keep-running", is_flag=True, help="Leave everything up to explore.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON line last.")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Keep the demo's files here.")
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for records.")
@handle_errors
def demo_command(keep_running: bool, as_json: bool, data_dir: Path | None, timeout: float) -> None:
    """Start every sandbox, seed a sheet and a HubSpot list, run the worker and web app."""

    get_context().setup_logging()
    summary = run_demo(
        keep_running=keep_running, console=Console(stderr=True), data_dir=data_dir, timeout=timeout
    )
    if as_json:
        click.echo(summary_json(summary))
    if not summary.finished:
        click.echo(
            "error: the demo did not finish: some records never got a final status "
            "(see the worker log in the demo's data directory)",
            err=True,
        )
        sys.exit(1)
    if not summary.reconciled:
        click.echo(
            f"error: the credits do not reconcile: the connector spent "
            f"{summary.credits_spent:g}, the sandbox billed {summary.sandbox_credits_charged:g} "
            f"({summary.creators_charged_twice} creator(s) or e-mail(s) charged twice)",
            err=True,
        )
        sys.exit(1)


COMMANDS = [demo_command]
