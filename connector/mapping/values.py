"""Pure readers that turn loosely typed profile values into numbers, text, dates and booleans."""

from __future__ import annotations

import email.utils
import math
import re
from datetime import UTC, date, datetime
from typing import Any

_TRUE = {"true", "yes", "y", "1", "on", "t"}
_FALSE = {"false", "no", "n", "0", "off", "f", ""}
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


class TransformFailure(Exception):
    """A row-level problem: the field gets no value and the message is reported for the row."""


def describe(value: Any, limit: int = 40) -> str:
    """A short ``repr`` of a value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_number(value: Any, target: str) -> int | float:
    """Read a number, numeric text, ``1,234`` or ``3.4%`` as a finite int or float."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
    elif isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        if _THOUSANDS.match(text):
            text = text.replace(",", "")
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise TransformFailure(f"could not convert {describe(value)} to {target}")


def parse_text(value: Any, name: str) -> str:
    """Read text, a boolean or a number as text; lists and tables are refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    kind = "a list" if isinstance(value, list) else type(value).__name__
    raise TransformFailure(f"{name} expects text, got {kind} {describe(value)} (add join first)")


def parse_datetime(value: Any) -> datetime:
    """Read ISO 8601, ``YYYY-MM-DD``, Twitter/RFC 2822 dates or epoch (s or ms) as aware UTC."""
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            parsed = datetime(value.year, value.month, value.day)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = value / 1000 if abs(value) > 1e11 else value
            parsed = datetime.fromtimestamp(seconds, UTC)
        elif isinstance(value, str) and value.strip():
            parsed = _parse_date_text(value.strip())
        else:
            raise ValueError(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError, TypeError) as exc:
        raise TransformFailure(f"could not read {describe(value)} as a date") from exc


def _parse_date_text(text: str) -> datetime:
    if text.isdigit():
        number = int(text)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return email.utils.parsedate_to_datetime(text)


def parse_bool(value: Any) -> bool:
    """Read ``true/yes/1/on`` and ``false/no/0/off`` (any case) and numbers as a boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise TransformFailure(f"could not read {describe(value)} as true/false")
