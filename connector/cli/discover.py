"""``connector discover NAME``: run a saved creator search once, or show what it would send."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connector.cli.context import get_context, handle_errors
from connector.cli.output import echo_json, render_figures
from connector.discovery.searches import get_search, run_saved_search
from connector.services import build_services

if TYPE_CHECKING:
    from connector.discovery.searches import DiscoveryReport, ProgressFn

FIGURES = (
    "requests",
    "returned",
    "new",
    "duplicates",
    "appended",
    "excluded",
    "credits_spent",
    "credits_saved",
    "max_cost",
    "stopped_because",
)


@click.command("discover")
@click.argument("name")
@click.option(
    "--dry-run", is_flag=True, help="Show the request(s) and the maximum cost; pay nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@handle_errors
def discover_command(name: str, dry_run: bool, as_json: bool) -> None:
    """Run the saved search NAME once: new creators go to its destination, known ones are free.

    Creators already in the destination, found before or in the ledger are excluded from the
    request, so they are neither returned nor billed (0.01 credits per creator returned).
    """

    settings = get_context().settings()
    search = get_search(settings, name)
    services = build_services(settings)
    console = Console(stderr=True)
    try:
        with ExitStack() as stack:
            progress: ProgressFn | None = None
            if console.is_terminal and not dry_run and not as_json:
                bar = stack.enter_context(_progress_bar(console))
                task = bar.add_task(f"discover {name}", total=search.target)

                def update(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                progress = update
            report = run_saved_search(services, name, dry_run=dry_run, progress=progress)
    finally:
        services.close()
    _print_report(report, as_json=as_json)
    if report.error:
        sys.exit(1)


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("creators"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _print_report(report: DiscoveryReport, *, as_json: bool) -> None:
    data = report.as_dict()
    if as_json:
        echo_json(data)
        return
    console = Console()
    if report.dry_run and report.plan is not None:
        plan = data["plan"]
        console.print(
            f"saved search [bold]{report.search}[/bold] ({report.platform} → "
            f"{report.destination}): up to {len(plan['requests'])} request(s), "
            f"maximum cost {report.max_cost:g} credits (0.01 per creator returned)"
        )
        origins = ", ".join(f"{k} {v}" for k, v in plan["excluded_by"].items())
        console.print(f"excluding {plan['excluded']} known creator(s): {origins}")
        for body in plan["requests"]:
            console.print_json(json.dumps(body))
        return
    render_figures(f"discover {report.search}", FIGURES, [("", data)], console)
    if report.error:
        console.print(f"error: {report.error}", highlight=False)


COMMANDS = [discover_command]
