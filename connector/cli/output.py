"""What commands print: JSON alone on stdout, and tables that fit without breaking words.

Tables use a vertical layout (figures as rows, one column per source) so that 13 figures fit
80 columns; long texts (errors, plan details) wrap between words, and columns holding single
tokens (names, numbers, handles) never wrap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from connector.pipeline.plan import build_plan_summary
from connector.pipeline.report import CycleReport

RUN_FIGURES = (
    "records",
    "invalid",
    "duplicates",
    "cached",
    "enriched",
    "not_found",
    "waiting",
    "held",
    "errors",
    "written",
    "credits_spent",
    "credits_saved",
)
# Room a figure column takes besides its content: borders and padding.
_COLUMN_EDGES = 3
_NUMBER_WIDTH = 9


def echo_json(data: Any) -> None:
    """One JSON document on stdout, nothing else."""
    click.echo(json.dumps(data, default=str))


def format_figure(value: Any) -> str:
    """A number as a person reads it: ``12``, ``0.5``; anything else as text."""
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value is None else str(value)


def render_figures(
    title: str,
    figures: Sequence[str],
    columns: Sequence[tuple[str, Mapping[str, Any]]],
    console: Console,
) -> None:
    """``figures`` as rows and one column per ``(name, values)``, split to fit the console."""
    label_width = max(len(f) for f in figures) + _COLUMN_EDGES + 1
    for group in _fit_columns(columns, console.width - label_width):
        table = Table(title=title, title_justify="left")
        table.add_column("", no_wrap=True)
        for name, _values in group:
            table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
        for figure in figures:
            table.add_row(
                figure.replace("_", " "),
                *(format_figure(values.get(figure)) for _name, values in group),
            )
        console.print(table)


def _fit_columns(
    columns: Sequence[tuple[str, Mapping[str, Any]]], room: int
) -> list[list[tuple[str, Mapping[str, Any]]]]:
    groups: list[list[tuple[str, Mapping[str, Any]]]] = [[]]
    used = 0
    for column in columns:
        width = max(len(column[0]), _NUMBER_WIDTH) + _COLUMN_EDGES
        if groups[-1] and used + width > room:
            groups.append([])
            used = 0
        groups[-1].append(column)
        used += width
    return [group for group in groups if group]


def render_run_summary(reports: Sequence[CycleReport], console: Console) -> None:
    """The figures of every source's run, then each error as a wrapped paragraph."""
    render_figures("run summary", RUN_FIGURES, [(r.source, r.as_dict()) for r in reports], console)
    for report in reports:
        if report.error:
            console.print(f"[bold]{report.source}[/bold] error: {report.error}", highlight=False)


def render_plan(report: CycleReport, console: Console) -> None:
    """The dry-run plan of one source: one row per record, details wrapped between words."""
    table = Table(
        title=f"dry run: {report.source} (nothing written, nothing paid)", title_justify="left"
    )
    table.add_column("kind", no_wrap=True)
    table.add_column("record", no_wrap=True)
    table.add_column("platform", no_wrap=True)
    table.add_column("handle", no_wrap=True)
    table.add_column("detail", ratio=1, min_width=16, overflow="fold")
    for row in report.plan:
        table.add_row(
            *(str(row.get(c, "")) for c in ("kind", "record", "platform", "handle", "detail"))
        )
    console.print(table)
    console.print(build_plan_summary(report), highlight=False)
