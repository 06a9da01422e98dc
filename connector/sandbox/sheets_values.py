"""Cell values: RAW / USER_ENTERED input parsing and FORMATTED / UNFORMATTED / FORMULA rendering."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

MAX_CELL_CHARS = 50_000
INPUT_OPTIONS = ("RAW", "USER_ENTERED")
RENDER_OPTIONS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
DIMENSIONS = ("ROWS", "COLUMNS")

_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Formula:
    """A cell entered as ``=…`` under USER_ENTERED."""

    text: str


class CellValueError(ValueError):
    """An input cell the API rejects with 400; ``str()`` is Google's message."""


def parse_input(value: Any, option: str) -> Any:
    """Turn one JSON input cell into the stored value (``None`` clears the cell)."""
    if isinstance(value, (list, dict)):
        raise CellValueError(f"Invalid values[0][0]: {type(value).__name__}_value")
    if isinstance(value, str):
        if len(value) > MAX_CELL_CHARS:
            raise CellValueError(
                "Your input contains more than the maximum of 50000 characters in a single cell."
            )
        if value == "":
            return None
        if option == "USER_ENTERED":
            return _parse_typed(value)
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _parse_typed(text: str) -> Any:
    if text.startswith("="):
        return Formula(text)
    if text.startswith("'"):
        return text[1:] or None
    stripped = text.strip()
    if stripped.upper() in ("TRUE", "FALSE"):
        return stripped.upper() == "TRUE"
    if stripped and any(ch.isdigit() for ch in stripped) and _NUMBER.match(stripped):
        number = float(stripped.replace(",", ""))
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    return text


def render(value: Any, option: str) -> Any:
    """The JSON value a read returns under ``valueRenderOption``; formulas are never evaluated."""
    if isinstance(value, Formula):
        return value.text
    if option == "FORMATTED_VALUE":
        return format_value(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def format_value(value: Any) -> str:
    """Sheets' automatic number format: ``1200.0`` → ``"1200"``, ``True`` → ``"TRUE"``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return f"{value:.15g}"
    if isinstance(value, Formula):
        return value.text
    return str(value)


def trim_grid(grid: list[list[Any]]) -> list[list[Any]]:
    """Drop trailing empties per line and trailing empty lines; inner gaps become ``""``."""
    out: list[list[Any]] = []
    for line in grid:
        end = len(line)
        while end and line[end - 1] is None:
            end -= 1
        out.append(["" if cell is None else cell for cell in line[:end]])
    while out and not out[-1]:
        out.pop()
    return out


def transpose(grid: list[list[Any]], width: int) -> list[list[Any]]:
    """Columns of a ragged row grid, padded with ``None``."""
    return [[row[c] if c < len(row) else None for row in grid] for c in range(width)]
