"""A1 references and cell text for sheet sources: column letters, ranges and read values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def column_letter(index: int) -> str:
    """A1 letters of a 1-based column index (1 → A, 27 → AA, 703 → AAA)."""
    if index < 1:
        raise ValueError(f"column index must be >= 1, got {index}")
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """1-based column index of A1 letters (A → 1, AA → 27)."""
    if not letters or not letters.isalpha() or not letters.isascii():
        raise ValueError(f"not column letters: {letters!r}")
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index


def quote_title(title: str) -> str:
    """The worksheet title as an A1 sheet reference, always quoted (``'Bob''s'``)."""
    return "'" + title.replace("'", "''") + "'"


def row_range(title: str, row: int) -> str:
    """A whole row, e.g. ``'Leads'!1:1``."""
    return f"{quote_title(title)}!{row}:{row}"


def column_range(title: str, column: int, first_row: int) -> str:
    """An open-ended column from ``first_row`` down, e.g. ``'Leads'!B2:B``."""
    letter = column_letter(column)
    return f"{quote_title(title)}!{letter}{first_row}:{letter}"


def cell_range(title: str, row: int, column: int, width: int = 1) -> str:
    """One cell, or ``width`` adjacent cells in a row."""
    start = f"{column_letter(column)}{row}"
    if width == 1:
        return f"{quote_title(title)}!{start}"
    return f"{quote_title(title)}!{start}:{column_letter(column + width - 1)}{row}"


def normalise_header(value: Any) -> str:
    """Header text as matched: trimmed and case-insensitive."""
    return cell_text(value).strip().casefold()


def cell_text(value: Any) -> str:
    """A read cell value as text (numbers and booleans as a human would type them)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def get_identity(handle_text: str) -> str:
    """The stable identity of a row: its trimmed, lower-cased handle text."""
    return handle_text.strip().lower()


def column_values(value_range: Mapping[str, Any]) -> list[Any]:
    """The cells of a one-column ``ValueRange`` read by rows; empty rows become ``""``."""
    return [row[0] if row else "" for row in value_range.get("values", [])]
