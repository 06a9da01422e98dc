"""``connector media gc``: delete rehosted pictures no record references any more."""

from __future__ import annotations

from datetime import timedelta

import click

from connector.cli.context import get_context, handle_errors
from connector.config import parse_duration
from connector.media.fetch import format_size
from connector.services import build_services


@click.group("media")
def media_group() -> None:
    """Rehosted profile pictures."""


@media_group.command("gc")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option(
    "--older-than",
    metavar="DURATION",
    help="Only pictures first stored longer ago than this (default media.retention_days).",
)
@handle_errors
def gc_command(dry_run: bool, older_than: str | None) -> None:
    """Delete pictures no record references any more, once older than the retention."""
    settings = get_context().settings()
    if settings.media_backend == "none":
        click.echo("media storage is off (media.backend: none): nothing to collect")
        return
    age = _parse_age(older_than) if older_than else timedelta(days=settings.media.retention_days)
    services = build_services(settings)
    media = services.media
    assert media is not None  # media.backend is not "none"
    try:
        if dry_run:
            garbage = media.fetch_garbage(older_than=age)
            for item in garbage:
                click.echo(f"{item.content_hash}.{item.ext}  {format_size(item.size)}")
            click.echo(f"would delete {len(garbage)} unreferenced picture(s) (dry run)")
            return
        deleted = media.collect_garbage(older_than=age)
        click.echo(f"deleted {deleted} unreferenced picture(s)")
    finally:
        services.close()


def _parse_age(text: str) -> timedelta:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from exc
    if not isinstance(seconds, float) or seconds < 0:
        raise click.BadParameter(f"not a duration: {text!r}", param_hint="--older-than")
    return timedelta(seconds=seconds)


COMMANDS = [media_group]
