"""Checks and encodings of what the client sends, applied before any credit is spent."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from connector.errors import InvalidHandleError, RequestRejectedError

ENRICH_PLATFORMS = (
    "instagram",
    "youtube",
    "tiktok",
    "onlyfans",
    "twitter",
    "snapchat",
    "discord",
    "pinterest",
    "facebook",
    "linkedin",
    "twitch",
)
# The official client routes LinkedIn to raw/profile only; full reports for it are unreliable.
FULL_PLATFORMS = tuple(p for p in ENRICH_PLATFORMS if p != "linkedin")
DISCOVERY_PLATFORMS = ("instagram", "youtube", "tiktok", "twitch", "twitter", "onlyfans")
BATCH_PLATFORMS = DISCOVERY_PLATFORMS
SORT_FIELDS = ("relevancy", "engagement_rate", "number_of_followers", "growth_rate")
EMAIL_REQUIRED = ("preferred", "must_have")
MAX_HANDLE_CHARS = 200
MAX_EMAIL_CHARS = 254
MAX_BATCH_ROWS = 10_000
MAX_BATCH_BYTES = 10 * 1024 * 1024


_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_handle(handle: str) -> str:
    """The stripped handle; ``InvalidHandleError`` if empty, too long or with control chars."""
    if not isinstance(handle, str):
        raise InvalidHandleError(f"handle must be text, got {type(handle).__name__}")
    value = handle.strip()
    if not value:
        raise InvalidHandleError("handle is empty")
    if len(value) > MAX_HANDLE_CHARS:
        raise InvalidHandleError(f"handle is longer than {MAX_HANDLE_CHARS} characters")
    if _CONTROL.search(value):
        raise InvalidHandleError("handle contains control characters")
    return value


def check_platform(platform: str, allowed: Sequence[str], what: str) -> str:
    """The lower-cased platform if ``what`` supports it, else ``RequestRejectedError``."""
    value = platform.strip().lower() if isinstance(platform, str) else ""
    if value not in allowed:
        raise RequestRejectedError(
            f"platform {platform!r} is not supported by {what} (supported: {', '.join(allowed)})"
        )
    return value


def check_email_required(value: str) -> str:
    """``preferred`` or ``must_have``, else ``RequestRejectedError``."""
    if value not in EMAIL_REQUIRED:
        raise RequestRejectedError(f"email_required must be preferred or must_have, not {value!r}")
    return value


def check_segment(value: str, what: str) -> str:
    """``value`` if it is safe as a URL path segment (``[A-Za-z0-9_-]+``)."""
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise RequestRejectedError(f"{what} {value!r} may only contain letters, digits, _ and -")
    return value


def check_discovery(
    platform: str,
    *,
    filters: Mapping[str, Any],
    sort_by: str,
    sort_order: str,
    page: int,
    limit: int,
) -> None:
    """Reject paging and sort combinations the API refuses (or silently ignores)."""
    if not 1 <= limit <= 50:
        raise RequestRejectedError(f"discovery limit must be 1..50, got {limit}")
    if page < 0:
        raise RequestRejectedError(f"discovery page must be >= 0, got {page}")
    if not isinstance(filters, Mapping):
        raise RequestRejectedError("discovery filters must be a mapping")
    if sort_by not in SORT_FIELDS:
        raise RequestRejectedError(f"sort_by {sort_by!r} is not one of {', '.join(SORT_FIELDS)}")
    if sort_order not in ("asc", "desc"):
        raise RequestRejectedError(f"sort_order must be asc or desc, not {sort_order!r}")
    if sort_by == "relevancy" and sort_order != "desc":
        raise RequestRejectedError("sort_by relevancy only supports sort_order desc")
    if sort_by == "growth_rate" and platform not in ("instagram", "tiktok", "youtube"):
        raise RequestRejectedError("sort_by growth_rate is only for instagram, tiktok, youtube")
    if sort_by == "number_of_followers" and platform == "onlyfans":
        raise RequestRejectedError("sort_by number_of_followers is not available on onlyfans")


def check_email_text(email: str) -> str:
    """The stripped address; ``RequestRejectedError`` unless it looks like ``name@domain``."""
    value = email.strip() if isinstance(email, str) else ""
    local, at, domain = value.partition("@")
    if (
        not (local and at and "." in domain)
        or len(value) > MAX_EMAIL_CHARS
        or _CONTROL.search(value)
        or any(ch.isspace() for ch in value)
    ):
        raise RequestRejectedError(f"{email!r} is not an e-mail address")
    return value


def build_batch_csv(values: Sequence[str], column: str = "handle") -> bytes:
    """The one-column CSV (``handle`` or ``email``) of a batch upload.

    Refuses an empty file, more than 10,000 rows or more than 10 MB.
    """
    if not values:
        raise RequestRejectedError(f"a batch needs at least one {column}")
    if len(values) > MAX_BATCH_ROWS:
        raise RequestRejectedError(
            f"a batch holds at most {MAX_BATCH_ROWS} rows, got {len(values)} (split it)"
        )
    check = check_email_text if column == "email" else check_handle
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([column])
    writer.writerows([check(v)] for v in values)
    content = buffer.getvalue().encode("utf-8")
    if len(content) > MAX_BATCH_BYTES:
        raise RequestRejectedError(f"the batch file is {len(content)} bytes (limit 10 MB)")
    return content
