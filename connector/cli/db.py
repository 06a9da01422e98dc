"""``connector db upgrade`` (for a Procfile ``release:`` phase) and ``connector db current``."""

from __future__ import annotations

import click

from connector.cli.context import get_context, handle_errors
from connector.store import Store


@click.group("db")
def db_group() -> None:
    """Manage the state database schema."""


@db_group.command("upgrade")
@handle_errors
def upgrade_command() -> None:
    """Create or upgrade the schema to the newest revision (safe to run from several hosts)."""
    store = Store.open(get_context().settings().resolved_database_url)
    try:
        current, head = store.get_schema_revision()
    finally:
        store.close()
    click.echo(f"database at revision {current} (head {head})")


@db_group.command("current")
@handle_errors
def current_command() -> None:
    """Print the schema revision of the database and the newest one shipped; exit 1 if behind."""
    store = Store.open(get_context().settings().resolved_database_url, migrate=False)
    try:
        current, head = store.get_schema_revision()
    finally:
        store.close()
    click.echo(f"current: {current or '(empty database)'}")
    click.echo(f"head:    {head}")
    if current != head:
        click.echo("the database needs `connector db upgrade`", err=True)
        raise SystemExit(1)


COMMANDS = [db_group]
