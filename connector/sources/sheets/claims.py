"""Status cells of sheet sources: claim tokens, their leases and the text of each status."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from connector.sources.base import Status
from connector.sources.sheets.cells import cell_text

INTERIM_STATUSES = frozenset(
    {Status.QUEUED, Status.ENRICHING, Status.AWAITING_CREDITS, Status.AWAITING_APPROVAL}
)
_CLAIM = re.compile(r"^(?P<label>.*?)\s*·c:(?P<token>[0-9a-f]{6,32})·(?P<ts>\d{1,12})\s*$")


@dataclass(frozen=True)
class Claim:
    """A claim written into a status cell: the readable label, a token and the unix time."""

    label: str
    token: str
    claimed_at: int


def format_claim(label: str, token: str, claimed_at: float) -> str:
    """The status cell text of a claim, e.g. ``queued ·c:9f2a1b7c0d·1732540000``."""
    return f"{label} ·c:{token}·{int(claimed_at)}"


def parse_claim(status: str) -> Claim | None:
    """The claim in a status cell, or None when the cell holds no claim."""
    match = _CLAIM.match(status.strip())
    if not match:
        return None
    return Claim(match.group("label").strip(), match.group("token"), int(match.group("ts")))


def is_pending(handle: Any, status: Any, *, now: float, lease: float) -> bool:
    """A row needs work: a handle and an empty status, ``retry``, or a claim past its lease."""
    if not cell_text(handle).strip():
        return False
    text = cell_text(status).strip()
    if not text or text.casefold() == "retry":
        return True
    claim = parse_claim(text)
    return claim is not None and claim.claimed_at + lease <= now


def format_status(status: str, key: str, error: str, now: float) -> str:
    """Status cell text: interim statuses keep the claim token, final ones are plain words."""
    if status in INTERIM_STATUSES:
        return format_claim(status, key, now)
    if status == Status.INVALID and error:
        return f"{Status.INVALID}: {error}"
    return status
