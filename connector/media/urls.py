"""Media file names and URLs: strict parsing, safe base URLs, and the ``=IMAGE()`` formula."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

_NAME = re.compile(r"^([0-9a-f]{64})\.(jpg|png|webp|gif)$")
_UNSAFE_URL = re.compile(r"[\s\"'\\<>`{}|^\x00-\x1f\x7f]")


def parse_media_name(name: str) -> tuple[str, str]:
    """``<64 lower-case hex>.<jpg|png|webp|gif>`` → (hash, ext); ``ValueError`` otherwise."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(f"not a media file name: {name!r}")
    return match.group(1), match.group(2)


def check_public_base_url(url: str) -> str:
    """An absolute http(s) base URL with nothing a formula or HTML attribute could trip on."""
    text = url.strip().rstrip("/")
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
        or _UNSAFE_URL.search(text)
    ):
        raise ValueError(
            f"media public URL {url!r} must be a plain http(s) URL such as "
            "https://connector.example.com/media (no query, quotes or spaces)"
        )
    return text


class UnsafeFormulaError(ValueError):
    """A value is not one of the connector's own media URLs, so no formula is built from it."""


def build_image_formula(url: str, *, allowed_prefix: str) -> str:
    """``=IMAGE("<url>")`` for a URL under ``allowed_prefix`` naming a stored picture.

    Only ``<allowed_prefix><64 hex>.<jpg|png|webp|gif>`` passes: nothing else can reach a cell
    as a formula. ``allowed_prefix`` is the media base URL with a trailing slash.
    """
    if not allowed_prefix.endswith("/"):
        raise UnsafeFormulaError("the allowed prefix must end with '/'")
    try:
        check_public_base_url(allowed_prefix)
    except ValueError as exc:
        raise UnsafeFormulaError(str(exc)) from None
    if not isinstance(url, str) or not url.startswith(allowed_prefix):
        raise UnsafeFormulaError("not a URL of the connector's media storage")
    try:
        parse_media_name(url[len(allowed_prefix) :])
    except ValueError:
        raise UnsafeFormulaError("not a stored picture's URL") from None
    return f'=IMAGE("{url}")'


def get_image_formula_columns(mapping: Any) -> dict[str, str]:
    """Field target → formula column, for sheet fields with ``image_formula: <column>``."""
    columns: dict[str, str] = {}
    for spec in getattr(mapping, "fields", ()):
        column = getattr(spec, "image_formula", None)
        if isinstance(column, str) and column.strip():
            columns[spec.target] = column.strip()
    return columns


def build_image_formulas(
    values: Mapping[str, Any], columns: Mapping[str, str], *, allowed_prefix: str | None
) -> dict[str, str]:
    """The formula cells for one row's written ``values``: formula column → text.

    A written picture URL gives ``=IMAGE("…")``; any other written value (a fallback, an empty
    cell) clears the formula column, so it never shows a picture its URL column no longer holds.
    Columns whose URL field was not written are left out.
    """
    cells: dict[str, str] = {}
    for target, column in columns.items():
        if target not in values:
            continue
        value = values[target]
        formula = ""
        if allowed_prefix is not None and isinstance(value, str):
            with contextlib.suppress(UnsafeFormulaError):
                formula = build_image_formula(value, allowed_prefix=allowed_prefix)
        cells[column] = formula
    return cells
