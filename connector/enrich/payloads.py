"""Request payloads, answer readers and discovery paging for the influencers.club verbs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from connector.config import InfluencersClubSettings
from connector.enrich.inputs import (
    BATCH_PLATFORMS,
    DISCOVERY_PLATFORMS,
    build_batch_csv,
    check_discovery,
    check_email_required,
    check_platform,
)
from connector.enrich.models import DiscoveryPage, EnrichResult, parse_float, parse_int
from connector.errors import ProfileNotFoundError, RequestRejectedError

# Batch ``enrichment_mode`` values the client sends: handles in two tiers, e-mails in basic.
BATCH_MODES = ("raw", "full", "basic")


def build_profile_body(
    settings: InfluencersClubSettings, handle: str, platform: str, *, email_required: str | None
) -> dict[str, Any]:
    """The JSON body of a Profile-tier enrichment (reference §2.4)."""
    return {
        "handle": handle,
        "platform": platform,
        "email_required": check_email_required(email_required or settings.email_required),
    }


def build_enrich_body(
    settings: InfluencersClubSettings,
    handle: str,
    platform: str,
    *,
    email_required: str | None,
    include_lookalikes: bool | None,
    include_audience_data: bool | None,
) -> dict[str, Any]:
    """The JSON body of a full enrichment, unset options taken from ``settings``."""
    return {
        "handle": handle,
        "platform": platform,
        "email_required": check_email_required(email_required or settings.email_required),
        "include_lookalikes": _pick(include_lookalikes, settings.include_lookalikes),
        "include_audience_data": _pick(include_audience_data, settings.include_audience_data),
    }


def build_batch_upload(
    settings: InfluencersClubSettings,
    values: Sequence[str],
    platform: str | None,
    *,
    mode: str,
    email_required: str | None,
    include_audience_data: bool | None,
    include_lookalikes: bool | None,
    metadata: Mapping[str, Any] | None,
) -> tuple[dict[str, str], bytes]:
    """The form fields and CSV file of a batch upload, checked before anything is sent.

    ``raw`` and ``full`` take a ``handle`` column and a platform; ``basic`` (find creators by
    e-mail) an ``email`` column and no platform. The API has no profile mode for batches.
    """
    if mode not in BATCH_MODES:
        raise RequestRejectedError(
            f"batch mode {mode!r} is not supported (use {', '.join(BATCH_MODES)})"
        )
    if mode == "basic":
        form = {"enrichment_mode": mode}
        if metadata is not None:
            form["metadata"] = json.dumps(dict(metadata), default=str)
        return form, build_batch_csv(values, column="email")
    platform = check_platform(platform or "", BATCH_PLATFORMS, "batch enrichment")
    content = build_batch_csv(values)
    form = {
        "enrichment_mode": mode,
        "platform": platform,
        "email_required": check_email_required(email_required or settings.email_required),
    }
    if mode == "full":
        form["include_audience_data"] = _form_bool(
            _pick(include_audience_data, settings.include_audience_data)
        )
        form["include_lookalikes"] = _form_bool(
            _pick(include_lookalikes, settings.include_lookalikes)
        )
    if metadata is not None:
        form["metadata"] = json.dumps(dict(metadata), default=str)
    return form, content


def build_discovery_body(
    platform: str,
    *,
    filters: Mapping[str, Any],
    sort_by: str,
    sort_order: str,
    page: int,
    limit: int,
) -> dict[str, Any]:
    """The JSON body of one discovery page, checked before anything is sent."""
    platform = check_platform(platform, DISCOVERY_PLATFORMS, "discovery")
    check_discovery(
        platform,
        filters=filters,
        sort_by=sort_by,
        sort_order=sort_order,
        page=page,
        limit=limit,
    )
    return {
        "platform": platform,
        "paging": {"limit": limit, "page": page},
        "sort": {"sort_by": sort_by, "sort_order": sort_order},
        "filters": dict(filters),
    }


def iter_discovery_pages(
    fetch_page: Callable[[int, int], DiscoveryPage], *, cap: int, page_size: int, first_page: int
) -> Iterator[DiscoveryPage]:
    """Pages of ``fetch_page(page, limit)`` until a short page, ``total`` or ``cap`` creators."""
    limit = max(1, min(page_size, cap))
    seen = 0
    page = first_page
    while seen < cap:
        result = fetch_page(page, limit)
        accounts = result.accounts[: cap - seen]
        seen += len(accounts)
        if accounts:
            yield DiscoveryPage(
                total=result.total,
                accounts=accounts,
                credits_cost=result.credits_cost,
                credits_left=result.credits_left,
            )
        if len(result.accounts) < limit or seen >= result.total:
            return
        page += 1


def parse_enrich_result(
    data: Any, *, handle: str, platform: str, default_cost: float
) -> EnrichResult:
    """An enrichment answer as an ``EnrichResult``; an empty result means the profile is unknown."""
    if not isinstance(data, dict):
        raise RequestRejectedError("influencers.club answered an enrichment without an object")
    profile = data.get("result")
    if not profile:
        raise ProfileNotFoundError(f"no creator data returned for {platform}:{handle}")
    if not isinstance(profile, dict):
        raise RequestRejectedError("influencers.club answered an enrichment without a result")
    left = data.get("trial_searches_left")
    return EnrichResult(
        profile=profile,
        credits_cost=parse_float(data.get("credits_cost"), default_cost) or 0.0,
        platform=platform,
        handle=handle,
        trial_searches_left=None if left is None else parse_int(left),
    )


def parse_answer(parser: Callable[[Any], Any], data: Any, what: str) -> Any:
    """``parser(data)``, its ``ValueError`` reported as a rejected ``what`` answer."""
    try:
        return parser(data)
    except ValueError as exc:
        raise RequestRejectedError(
            f"influencers.club sent an unexpected {what} answer: {exc}"
        ) from exc


def _pick(value: bool | None, default: bool) -> bool:
    return default if value is None else bool(value)


def _form_bool(value: bool) -> str:
    return "true" if value else "false"
