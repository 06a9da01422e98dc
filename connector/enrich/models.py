"""Frozen value objects returned by the influencers.club client."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from connector.errors import ConnectorError

BATCH_TERMINAL_STATUSES = frozenset({"finished", "failed"})
# Credits per answer that returns data, by mode (reference §3): a creator in each enrichment
# tier, and an Enrich by E-mail hit. Batch rows cost the same as single calls; misses are free.
PRICES = {"full": 1.0, "raw": 0.03, "profile": 0.2, "email": 0.05}
# The enrichment tiers a source may ask for, cheapest first (``email`` finds, it does not enrich).
TIERS = ("raw", "profile", "full")
# What the batch API's ``enrichment_mode`` accepts for handles (reference §2.10): no profile.
BATCH_TIERS = ("raw", "full")


def get_price(mode: str) -> float:
    """Credits one creator (or one e-mail hit) costs in ``mode`` (unknown modes: as Full)."""
    return PRICES.get(mode, PRICES["full"])


@dataclass(frozen=True)
class EnrichResult:
    """One enriched creator: the API's ``result`` object and what the call cost."""

    profile: dict[str, Any]
    credits_cost: float
    platform: str
    handle: str
    trial_searches_left: int | None = None


@dataclass(frozen=True)
class EmailMatch:
    """The creator an Enrich by E-mail answer names (its strongest platform, reference §2.5).

    Two generations of names are read (``fullname``/``picture``/``followers`` and
    ``full_name``/``profile_picture``/``follower_count``); any key may be missing.
    """

    email: str
    platform: str | None
    username: str | None
    url: str | None = None
    user_id: str | None = None
    full_name: str | None = None
    picture: str | None = None
    followers: int | None = None
    credits_cost: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CreditBalance:
    """The account's credit balance (``credits_available``) and usage (``credits_used``)."""

    available: float
    used: float


@dataclass(frozen=True)
class BatchInfo:
    """The answer to creating a batch job."""

    batch_id: str
    status: str
    created_at: str | None = None
    platform: str | None = None
    enrichment_mode: str | None = None
    rows: int | None = None
    message: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class BatchStatus:
    """Progress of a batch job; ``credits_used`` arrives as a string and is parsed to a float."""

    batch_id: str
    status: str
    total_rows: int = 0
    processed_rows: int = 0
    success_count: int = 0
    failed_count: int = 0
    credits_used: float = 0.0
    started_at: str | None = None
    estimated_completion: str | None = None
    status_message: str | None = None
    metadata: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the job is ``finished`` or ``failed``."""
        return self.status in BATCH_TERMINAL_STATUSES

    @property
    def is_paused(self) -> bool:
        """True when the job waits for a top-up (``paused_insufficient_credits``)."""
        return self.status == "paused_insufficient_credits"


@dataclass(frozen=True)
class BatchRow:
    """One row of batch results: the input handle, its status and the profile (if any)."""

    input_value: str
    status: str
    profile: dict[str, Any] | None


@dataclass(frozen=True)
class DiscoveryPage:
    """One page of discovery results."""

    total: int
    accounts: list[dict[str, Any]] = field(default_factory=list)
    credits_cost: float = 0.0
    credits_left: float | None = None


def parse_float(value: Any, default: float | None = None) -> float | None:
    """A float from a JSON number or numeric string (the API sends both), else ``default``."""
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return default
    return default


def parse_int(value: Any, default: int = 0) -> int:
    """An int from a JSON number or numeric string, else ``default``."""
    number = parse_float(value)
    return default if number is None else int(number)


def parse_credit_balance(data: Any) -> CreditBalance:
    """Parse ``{"credits_available", "credits_used"}``; ``ValueError`` if the balance is missing."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, got {type(data).__name__}")
    available = parse_float(data.get("credits_available"))
    used = parse_float(data.get("credits_used"), 0.0)
    if available is None or used is None:
        raise ValueError(f"no numeric credits_available in {sorted(data)}")
    return CreditBalance(available=available, used=used)


def parse_batch_info(data: Any) -> BatchInfo:
    """Parse the create-batch answer; raise ``ValueError`` without a ``batch_id``."""
    if not isinstance(data, dict) or not data.get("batch_id"):
        raise ValueError("the answer has no batch_id")
    rows = data.get("og_input_number")
    return BatchInfo(
        batch_id=str(data["batch_id"]),
        status=str(data.get("status") or "queued"),
        created_at=_opt_str(data.get("created_at")),
        platform=_opt_str(data.get("platform")),
        enrichment_mode=_opt_str(data.get("enrichment_mode")),
        rows=None if rows is None else parse_int(rows),
        message=_opt_str(data.get("message")),
        metadata=data.get("metadata") if isinstance(data.get("metadata"), dict) else None,
    )


def parse_batch_status(data: Any, batch_id: str) -> BatchStatus:
    """Parse a batch status answer; ``credits_used`` may be a string."""
    if not isinstance(data, dict) or not data.get("status"):
        raise ValueError("the answer has no status")
    return BatchStatus(
        batch_id=str(data.get("batch_id") or batch_id),
        status=str(data["status"]),
        total_rows=parse_int(data.get("total_rows")),
        processed_rows=parse_int(data.get("processed_rows")),
        success_count=parse_int(data.get("success_count")),
        failed_count=parse_int(data.get("failed_count")),
        credits_used=parse_float(data.get("credits_used"), 0.0) or 0.0,
        started_at=_opt_str(data.get("started_at")),
        estimated_completion=_opt_str(data.get("estimated_completion")),
        status_message=_opt_str(data.get("status_message")),
        metadata=data.get("metadata") if isinstance(data.get("metadata"), dict) else None,
    )


def parse_batch_rows(data: Any) -> list[BatchRow]:
    """Parse JSON batch results: a list of rows, or a dict wrapping it in ``results``/``data``."""
    if isinstance(data, dict):
        for key in ("results", "data"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise ValueError("batch results are not a list of rows")
    rows = []
    for item in data:
        if not isinstance(item, dict):
            continue
        profile = item.get("enrichment_data")
        if isinstance(profile, str):
            try:
                profile = json.loads(profile)
            except ValueError:
                profile = None
        rows.append(
            BatchRow(
                input_value=str(item.get("input_value") or item.get("handle") or ""),
                status=str(item.get("status") or ""),
                profile=profile if isinstance(profile, dict) and profile else None,
            )
        )
    return rows


def parse_discovery_page(data: Any) -> DiscoveryPage:
    """Parse a discovery answer; ``credits_left`` may be a number or a string."""
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, got {type(data).__name__}")
    accounts = data.get("accounts") or []
    if not isinstance(accounts, list):
        raise ValueError("accounts is not a list")
    return DiscoveryPage(
        total=parse_int(data.get("total"), len(accounts)),
        accounts=[a for a in accounts if isinstance(a, dict)],
        credits_cost=parse_float(data.get("credits_cost"), 0.0) or 0.0,
        credits_left=parse_float(data.get("credits_left")),
    )


def parse_email_match(data: Any, *, email: str, default_cost: float) -> EmailMatch | None:
    """An Enrich by E-mail answer as an ``EmailMatch``; ``None`` when it names no creator.

    Tolerant: unknown keys are ignored, every key may be missing, ``result`` may be a list (the
    first creator counts) and both generations of key names are read.
    """
    if not isinstance(data, dict):
        raise ValueError(f"expected an object, got {type(data).__name__}")
    result = data.get("result")
    if isinstance(result, list):
        result = next((r for r in result if isinstance(r, dict) and r), None)
    if not result:
        return None
    if not isinstance(result, dict):
        raise ValueError(f"result is a {type(result).__name__}, not an object")
    followers = _first(result, "followers", "follower_count", "followers_count")
    platform = _first(result, "platform")
    return EmailMatch(
        email=email,
        platform=str(platform).strip().lower() if platform else None,
        username=_opt_str(_first(result, "username", "handle")),
        url=_opt_str(_first(result, "url", "profile_url")),
        user_id=_opt_str(_first(result, "userId", "user_id", "userid")),
        full_name=_opt_str(_first(result, "fullname", "full_name")),
        picture=_opt_str(_first(result, "picture", "profile_picture")),
        followers=None if followers is None else parse_int(followers),
        credits_cost=parse_float(data.get("credits_cost"), default_cost) or 0.0,
        result=dict(result),
    )


def _first(data: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` holding something other than null or blank text."""
    for key in keys:
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value.strip() if isinstance(value, str) else value
    return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


class CallCancelledError(ConnectorError):
    """The caller's cancel event was set before the request was sent; nothing was charged."""
