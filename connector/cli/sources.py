"""``connector sources``: check access, headers/properties and mappings; pause and resume."""

from __future__ import annotations

import sys

import click

from connector.cli.context import get_context, handle_errors
from connector.errors import ConnectorError
from connector.services import build_services


@click.group("sources")
def sources_group() -> None:
    """Inspect the configured sheets and HubSpot lists."""


@sources_group.command("check")
@click.option("--source", "source_names", multiple=True, help="Only this source (repeatable).")
@handle_errors
def check_command(source_names: tuple[str, ...]) -> None:
    """Verify every source can be read and written and its mapping fits; exit 1 on problems.

    The mapping is checked as strictly as ``connector mappings check --strict``: a payload key
    that no documented response has is a problem here.
    """

    settings = get_context().settings()
    names = list(source_names) or [s.name for s in settings.sources]
    if not names:
        click.echo("no sources configured")
        return
    services = build_services(settings)
    failed = False
    try:
        for name in names:
            try:
                problems = services.get_source(name).check()
                # strict: a payload key no real response has fills nothing, ever
                problems.extend(services.get_mapping(name).warnings)
            except ConnectorError as exc:
                problems = [str(exc)]
            if problems:
                failed = True
                click.echo(f"✗ {name}")
                for problem in problems:
                    click.echo(f"    - {problem}")
            else:
                click.echo(f"✓ {name}")
    finally:
        services.close()
    if failed:
        sys.exit(1)


@sources_group.command("pause")
@click.argument("source")
@handle_errors
def pause_command(source: str) -> None:
    """Stop the worker polling SOURCE until it is resumed (as the dashboard's Pause button).

    Batches already sent are still collected and written back.
    """
    _set_paused(source, paused=True)
    click.echo(f"{source}: paused; the worker does not poll it until `connector sources resume`")


@sources_group.command("resume")
@click.argument("source")
@handle_errors
def resume_command(source: str) -> None:
    """Poll SOURCE again, starting at the worker's next tick."""
    _set_paused(source, paused=False)
    click.echo(f"{source}: resumed; the worker polls it within seconds")


def _set_paused(source: str, *, paused: bool) -> None:
    settings = get_context().settings()
    settings.get_source(source)
    services = build_services(settings)
    try:
        if paused:
            services.store.pause_source(source)
        else:
            services.store.resume_source(source)
    finally:
        services.close()


COMMANDS = [sources_group]
