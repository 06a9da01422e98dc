"""Discovery search of the influencers.club sandbox over a deterministic creator universe."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, jsonify, request

from connector.sandbox.ic_state import SandboxState, get_insufficient_body
from connector.sandbox.images import build_image_url
from connector.sandbox.profiles import (
    DISCOVERY_PLATFORMS,
    CreatorStats,
    get_stats,
    get_universe,
)

FOLLOWER_KEYS = {
    "instagram": "number_of_followers",
    "tiktok": "number_of_followers",
    "twitter": "number_of_followers",
    "youtube": "number_of_subscribers",
    "twitch": "followers",
}
SORT_BY = ("relevancy", "engagement_rate", "number_of_followers", "growth_rate")
MAX_LIMIT = 50
DEFAULT_LIMIT = 5
RESULT_CAP = 10_000
MAX_EXCLUDED = 10_000
PRICE_PER_CREATOR = 0.01

_SORT_KEYS: dict[str, Callable[[tuple[int, CreatorStats]], float]] = {
    "relevancy": lambda item: item[1].relevance,
    "engagement_rate": lambda item: item[1].engagement_percent,
    "number_of_followers": lambda item: item[1].followers,
    "growth_rate": lambda item: item[1].growth_percent,
}


@functools.lru_cache(maxsize=8)
def get_universe_stats(platform: str) -> tuple[tuple[int, CreatorStats], ...]:
    """``(index, stats)`` for every discovery creator of ``platform`` (same numbers as enrich)."""
    return tuple(
        (i, get_stats(platform, handle)) for i, handle in enumerate(get_universe(platform))
    )


class DiscoveryRequestError(Exception):
    """The request body is invalid; ``error`` is the DRF-style ``error`` value."""

    def __init__(self, error: Any) -> None:
        super().__init__(str(error))
        self.error = error


def _number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _range(filters: dict[str, Any], key: str) -> tuple[float, float]:
    value = filters.get(key)
    if value is None:
        return float("-inf"), float("inf")
    if not isinstance(value, dict) or not all(_number(value.get(k)) for k in ("min", "max")):
        raise DiscoveryRequestError({"filters": {key: ["A valid number is required."]}})
    low, high = value.get("min"), value.get("max")
    return (float("-inf") if low is None else low), (float("inf") if high is None else high)


def _int(section: dict[str, Any], key: str, default: int, low: int, high: int | None) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DiscoveryRequestError({"paging": {key: ["A valid integer is required."]}})
    if value < low:
        raise DiscoveryRequestError(
            {"paging": {key: [f"Ensure this value is greater than or equal to {low}."]}}
        )
    if high is not None and value > high:
        raise DiscoveryRequestError(
            {"paging": {key: [f"Ensure this value is less than or equal to {high}."]}}
        )
    return value


def parse_query(body: Any) -> dict[str, Any]:
    """Validate a discovery body; unknown filter keys are ignored like the real API does."""
    if not isinstance(body, dict):
        raise DiscoveryRequestError({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    platform = body.get("platform")
    if platform not in DISCOVERY_PLATFORMS:
        message = (
            "This field is required." if not platform else f'"{platform}" is not a valid choice.'
        )
        raise DiscoveryRequestError({"platform": [message]})
    paging = body.get("paging") or {}
    sort = body.get("sort") or {}
    filters = body.get("filters") or {}
    if not all(isinstance(part, dict) for part in (paging, sort, filters)):
        raise DiscoveryRequestError({"non_field_errors": ["paging, sort and filters are objects."]})
    sort_by, order = sort.get("sort_by", "relevancy"), sort.get("sort_order", "desc")
    if sort_by not in SORT_BY:
        raise DiscoveryRequestError({"sort": {"sort_by": [f'"{sort_by}" is not a valid choice.']}})
    if order not in ("asc", "desc"):
        raise DiscoveryRequestError({"sort": {"sort_order": [f'"{order}" is not a valid choice.']}})
    excluded = filters.get("exclude_handles") or []
    if not isinstance(excluded, list) or not all(isinstance(h, str) for h in excluded):
        raise DiscoveryRequestError({"filters": {"exclude_handles": ["Expected a list of items."]}})
    if len(excluded) > MAX_EXCLUDED:
        message = f"Ensure this field has no more than {MAX_EXCLUDED} elements."
        raise DiscoveryRequestError({"filters": {"exclude_handles": [message]}})
    follower_key = FOLLOWER_KEYS.get(platform)
    return {
        "platform": platform,
        "limit": _int(paging, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        "page": _int(paging, "page", 0, 0, None),
        "sort_by": sort_by,
        "descending": order == "desc",
        "followers": _range(filters, follower_key) if follower_key else _range({}, ""),
        "engagement": _range(filters, "engagement_percent"),
        "excluded": {h.strip().lstrip("@").casefold() for h in excluded},
    }


def search(query: dict[str, Any]) -> tuple[int, list[tuple[int, CreatorStats]]]:
    """Return ``(total, page)`` for a parsed query; ``total`` is capped at 10,000."""
    low_f, high_f = query["followers"]
    low_e, high_e = query["engagement"]
    excluded = query["excluded"]
    matches = [
        item
        for item in get_universe_stats(query["platform"])
        if low_f <= item[1].followers <= high_f
        and low_e <= item[1].engagement_percent <= high_e
        and item[1].identity not in excluded
    ]
    matches.sort(key=_SORT_KEYS[query["sort_by"]], reverse=query["descending"])
    total = min(len(matches), RESULT_CAP)
    start = query["page"] * query["limit"]
    end = min(start + query["limit"], total)
    return total, matches[start:end] if start < total else []


def create_blueprint(state: SandboxState) -> Blueprint:
    """``POST /public/v1/discovery/``: 0.01 credits per creator returned."""
    bp = Blueprint("ic_discovery", __name__)

    @bp.post("/public/v1/discovery/")
    def discovery() -> Any:
        try:
            query = parse_query(request.get_json(silent=True))
        except DiscoveryRequestError as exc:
            return jsonify({"error": exc.error}), 400
        time.sleep(state.get_latency())
        total, page = search(query)
        platform = query["platform"]
        cost = round(PRICE_PER_CREATOR * len(page), 2)
        keys = [f"{platform}:{stats.identity}" for _, stats in page]
        if cost and not state.charge_discovery(cost, keys):
            status = state.config["insufficient_credits_status"]
            return jsonify(get_insufficient_body(status)), status
        g.credits = cost
        base = request.host_url.rstrip("/")
        lifetime = state.config["image_lifetime"]
        accounts = [
            {
                "user_id": f"uc_{27_000_000 + index}",
                "profile": {
                    "full_name": stats.full_name,
                    "username": stats.identity,
                    "picture": build_image_url(
                        base,
                        platform,
                        stats.identity,
                        "sd",
                        lifetime=lifetime,
                        secret=state.image_secret,
                    ),
                    "followers": stats.followers,
                    "engagement_percent": stats.engagement_percent,
                },
            }
            for index, stats in page
        ]
        with state.lock:
            balance = state.balance
        return jsonify(
            {
                "total": total,
                "limit": query["limit"],
                "accounts": accounts,
                "credits_left": balance,
                "credits_cost": cost,
                "trial_searches_left": 0,
            }
        )

    return bp
