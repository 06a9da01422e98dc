"""A1-notation parsing, clipping and labelling the way the Sheets v4 API does it."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_COLUMNS = 18278  # ZZZ, the widest grid Sheets allows

_CELL = re.compile(r"^([A-Za-z]*)([0-9]*)$")
_SIMPLE_TITLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_CELL = re.compile(r"^[A-Za-z]{1,3}[0-9]+$|^[Rr][0-9]+[Cc][0-9]+$")


class RangeError(ValueError):
    """A range the API rejects with 400 INVALID_ARGUMENT; ``str()`` is Google's message."""


@dataclass(frozen=True)
class A1Range:
    """A parsed range: 1-based bounds, ``None`` for an open end; no title means whole sheet."""

    title: str | None
    quoted: bool
    start_row: int | None = None
    start_col: int | None = None
    end_row: int | None = None
    end_col: int | None = None
    whole_sheet: bool = True
    text: str = ""

    @property
    def single_cell(self) -> bool:
        """True for ``A2``-style ranges, which writes may extend from like an anchor."""
        return (
            not self.whole_sheet
            and self.start_row is not None
            and self.start_row == self.end_row
            and self.start_col is not None
            and self.start_col == self.end_col
        )


@dataclass(frozen=True)
class GridRange:
    """A range resolved against a grid: 1-based inclusive bounds, all known."""

    title: str
    start_row: int
    start_col: int
    end_row: int
    end_col: int

    @property
    def rows(self) -> int:
        return self.end_row - self.start_row + 1

    @property
    def cols(self) -> int:
        return self.end_col - self.start_col + 1

    def label(self) -> str:
        """Google's label: ``Sheet1!A2`` for one cell, ``'My sheet'!A1:B2`` otherwise."""
        start = f"{column_letters(self.start_col)}{self.start_row}"
        if self.start_row == self.end_row and self.start_col == self.end_col:
            return f"{format_title(self.title)}!{start}"
        end = f"{column_letters(self.end_col)}{self.end_row}"
        return f"{format_title(self.title)}!{start}:{end}"


def column_letters(index: int) -> str:
    """1 → ``A``, 27 → ``AA``, 18278 → ``ZZZ``."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def column_index(letters: str) -> int:
    """``A`` → 1, ``AA`` → 27 (case-insensitive)."""
    index = 0
    for char in letters.upper():
        index = index * 26 + (ord(char) - 64)
    return index


def format_title(title: str) -> str:
    """Quote a sheet title unless it is simple (``Sheet1``); ``'`` is doubled inside quotes."""
    if _SIMPLE_TITLE.match(title) and not _LOOKS_LIKE_CELL.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def parse_a1(text: str) -> A1Range:
    """Parse ``'Title'!A1:B2`` and friends; raise ``RangeError`` when it cannot be a range."""
    title, quoted, rest = _split_title(text)
    if rest is None:
        return A1Range(title=title, quoted=quoted, text=text)
    bounds = _parse_bounds(rest)
    if bounds is None:
        raise RangeError(f"Unable to parse range: {text}")
    return A1Range(title, quoted, *bounds, whole_sheet=False, text=text)


def parse_cell_bounds(text: str) -> A1Range | None:
    """Parse a title-less ``A1:B2``; ``None`` when the text is not A1 notation."""
    bounds = _parse_bounds(text)
    if bounds is None:
        return None
    return A1Range(None, False, *bounds, whole_sheet=False, text=text)


def _split_title(text: str) -> tuple[str | None, bool, str | None]:
    if text.startswith("'"):
        chars: list[str] = []
        i = 1
        while i < len(text):
            if text[i] == "'":
                if text[i + 1 : i + 2] == "'":
                    chars.append("'")
                    i += 2
                    continue
                break
            chars.append(text[i])
            i += 1
        else:
            raise RangeError(f"Unable to parse range: {text}")
        tail = text[i + 1 :]
        if tail == "":
            return "".join(chars), True, None
        if not tail.startswith("!"):
            raise RangeError(f"Unable to parse range: {text}")
        return "".join(chars), True, tail[1:]
    if "!" in text:
        title, _, rest = text.rpartition("!")
        return title, False, rest
    return text, False, None


def _parse_bounds(
    text: str,
) -> tuple[int | None, int | None, int | None, int | None] | None:
    start_text, sep, end_text = text.partition(":")
    start = _parse_cell(start_text)
    if start is None:
        return None
    start_col, start_row = start
    if not sep:
        if start_col is None or start_row is None:
            return None
        return start_row, start_col, start_row, start_col
    end = _parse_cell(end_text)
    if end is None:
        return None
    end_col, end_row = end
    if start_col is None and start_row is None:
        return None
    if end_col is None and end_row is None:
        return None
    # "1:1" leaves both columns open, "A:A" both rows; a missing start means the grid edge.
    if start_row is None and end_row is not None:
        return None
    if start_col is None and end_col is not None:
        return None
    start_row = start_row if start_row is not None else 1
    start_col = start_col if start_col is not None else 1
    if end_row is not None and end_row < start_row:
        start_row, end_row = end_row, start_row
    if end_col is not None and end_col < start_col:
        start_col, end_col = end_col, start_col
    return start_row, start_col, end_row, end_col


def _parse_cell(text: str) -> tuple[int | None, int | None] | None:
    match = _CELL.match(text)
    if match is None or text == "":
        return None
    letters, digits = match.groups()
    col = column_index(letters) if letters else None
    row = int(digits) if digits else None
    if row == 0 or (col is not None and col > MAX_COLUMNS):
        return None
    return col, row


def resolve(rng: A1Range, title: str, row_count: int, col_count: int) -> GridRange:
    """Clip open ends to the grid; a bounded end past the grid is Google's 400."""
    if rng.whole_sheet:
        return GridRange(title, 1, 1, max(row_count, 1), max(col_count, 1))
    assert rng.start_row is not None and rng.start_col is not None
    end_row = rng.end_row if rng.end_row is not None else row_count
    end_col = rng.end_col if rng.end_col is not None else col_count
    if max(rng.start_row, end_row) > row_count or max(rng.start_col, end_col) > col_count:
        raise exceeds_grid(rng.text, row_count, col_count)
    return GridRange(title, rng.start_row, rng.start_col, end_row, end_col)


def exceeds_grid(text: str, row_count: int, col_count: int) -> RangeError:
    """Google's wording for a range that reaches past the sheet's grid."""
    return RangeError(
        f"Range ({text}) exceeds grid limits. Max rows: {row_count}, max columns: {col_count}"
    )
