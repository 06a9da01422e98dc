"""``connector mappings check|preview|schema``: validate, preview and describe mapping files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.cli.context import BadInputError, NotFoundError, get_context, handle_errors
from connector.config import PLATFORMS
from connector.enrich.client import build_enrichment_client
from connector.errors import MappingError
from connector.mapping import (
    Mapping,
    PreviewRow,
    guess_platform,
    load_mapping,
    normalise_profile,
    preview_mapping,
)
from connector.mapping.schema import build_mapping_schema
from connector.mapping.tiers import analyse_tiers

_VALUE_WIDTH = 70


@click.group("mappings")
def mappings_group() -> None:
    """Validate and preview field mapping files (see docs/mappings.md)."""


@mappings_group.command("check")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--strict",
    is_flag=True,
    help="Treat payload keys no documented payload has as errors, not warnings.",
)
@handle_errors
def check_command(files: tuple[str, ...], strict: bool) -> None:
    """Validate mapping FILES (default: mappings/*.yaml); exit 1 listing every problem.

    A payload key that no real response or reference key list shows (a typo such as
    {platform}.folower_count) is a warning, or an error with --strict. Each file's "tier"
    line names the cheapest enrichment tier whose documented response carries every field it
    reads (the one a source's `mode: auto` uses).
    """
    paths = list(files) or sorted(str(p) for p in Path("mappings").glob("*.yaml"))
    if not paths:
        raise NotFoundError("no mapping files given and none found in ./mappings")
    failed = False
    for path in paths:
        try:
            mapping = load_mapping(path, strict=strict)
        except MappingError as exc:
            failed = True
            for problem in exc.problems:
                click.echo(problem, err=True)
            continue
        for warning in mapping.warnings:
            click.echo(warning, err=True)
        warned = (
            f", {len(mapping.warnings)} warning(s): errors with --strict"
            if mapping.warnings
            else ""
        )
        click.echo(f"{path}: ok ({mapping.kind}, {len(mapping.fields)} fields{warned})")
        click.echo(f"  tier: {analyse_tiers(mapping).describe()}")
    if failed:
        raise SystemExit(1)


@mappings_group.command("schema")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the schema to this file instead of standard output.",
)
@handle_errors
def schema_command(output: str | None) -> None:
    """Print the JSON Schema of mapping files (editors validate YAML with it as you type)."""
    text = json.dumps(build_mapping_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    Path(output).write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}", err=True)


@mappings_group.command("preview")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--sample",
    type=click.Path(exists=True, dir_okay=False),
    help="A saved Full response, batch JSON results or bare profile.",
)
@click.option(
    "--row",
    type=int,
    default=0,
    show_default=True,
    help="Which record of a batch JSON results file to show.",
)
@click.option(
    "--platform",
    type=click.Choice(PLATFORMS),
    help="The requested platform (guessed from --sample when omitted).",
)
@click.option("--handle", help="Fetch this creator through the configured API (1 credit).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@handle_errors
def preview_command(
    file: str, sample: str | None, row: int, platform: str | None, handle: str | None, as_json: bool
) -> None:
    """Show target ← value for one creator through mapping FILE; nothing is written."""
    mapping = load_mapping(file)
    if sample:
        profile = read_sample(sample, row)
        platform = platform or guess_platform(profile)
        if platform is None:
            raise click.UsageError("cannot tell the platform of this sample: add --platform")
        handle = handle or _username(profile, platform)
    elif platform and handle:
        profile = fetch_profile(handle, platform)
    else:
        raise click.UsageError("give --sample FILE, or --platform P and --handle H")
    now = datetime.now(UTC)
    rows = preview_mapping(
        mapping, profile, platform, meta={"enriched_at": now, "now": now, "handle": handle}
    )
    if as_json:
        click.echo(json.dumps([_row_dict(r) for r in rows], indent=2, ensure_ascii=False))
        return
    render_preview(mapping, rows, platform=platform, handle=handle)


def read_sample(path: str, row: int = 0) -> dict[str, Any]:
    """The creator profile in a saved response file (``result``, batch rows or bare)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read the sample as JSON: {exc}") from exc
    if isinstance(data, dict):
        for key in ("results", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
    if isinstance(data, list):
        if not 0 <= row < len(data):
            raise BadInputError(f"{path}: --row {row} is out of range (0..{len(data) - 1})")
        data = data[row]
    profile = normalise_profile(data)
    if not profile:
        raise BadInputError(f"{path}: no creator profile found (expected a JSON object)")
    return profile


def fetch_profile(handle: str, platform: str) -> dict[str, Any]:
    """One Full enrichment through the configured API (the sandbox in the demo config)."""

    settings = get_context().settings()
    click.echo(
        f"fetching {platform} creator {handle!r} from {settings.influencers_club.base_url}"
        " (1 credit unless it is a miss)",
        err=True,
    )
    client = build_enrichment_client(settings)
    try:
        return dict(client.enrich_full(handle, platform).profile)
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            close()


def _username(profile: dict[str, Any], platform: str) -> str | None:
    block = profile.get(platform)
    name = block.get("username") if isinstance(block, dict) else None
    return str(name) if name else None


def _row_dict(row: PreviewRow) -> dict[str, Any]:
    return {
        "target": row.target,
        "value": row.value,
        "source": row.source,
        "chain": row.chain,
        "note": row.note,
    }


def _shown(value: Any) -> Text:
    if value is None:
        return Text("—", style="dim")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > _VALUE_WIDTH:
        text = text[: _VALUE_WIDTH - 1] + "…"
    return Text(text)


def _chain(row: PreviewRow) -> Text:
    """The source that gave the value (all of them, dimmed, when none did) and the transforms."""
    sources, _, transforms = row.chain.partition(" → ")
    text = Text(row.source) if row.source else Text(sources, style="dim")
    if transforms:
        text.append(" → " + transforms)
    return text


# Narrower than this, the five columns would break words: one block per field instead.
_TABLE_WIDTH = 120


def render_preview(
    mapping: Mapping,
    rows: list[PreviewRow],
    *,
    platform: str,
    handle: str | None,
    console: Console | None = None,
) -> None:
    """Print the preview: target ← value, with the chain and any note (a table when wide)."""
    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=160)
    who = f"{platform} @{handle}" if handle else platform
    title = f"{mapping.path} ({mapping.kind}) ← {who}"
    if console.width < _TABLE_WIDTH:
        console.print(Text(title, style="bold"))
        for row in rows:
            line = Text(row.target, style="bold")
            line.append(" ← ").append_text(_shown(row.value))
            console.print(line)
            console.print(Text("    from ").append_text(_chain(row)))
            if row.note:
                style = "red" if row.note.startswith("error") else ""
                console.print(Text("    " + row.note, style=style))
    else:
        table = Table(title=title, title_justify="left")
        table.add_column("target", style="bold", no_wrap=True)
        table.add_column("", no_wrap=True)
        table.add_column("value", overflow="fold")
        table.add_column("from (source → transforms)", overflow="fold")
        table.add_column("note", overflow="fold")
        for row in rows:
            style = "red" if row.note.startswith("error") else ""
            table.add_row(
                Text(row.target), "←", _shown(row.value), _chain(row), Text(row.note, style=style)
            )
        console.print(table)
    console.print("preview only: nothing was written", style="dim")


COMMANDS = [mappings_group]
