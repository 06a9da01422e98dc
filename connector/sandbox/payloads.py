"""The ``result`` objects the influencers.club sandbox answers with, per creator and tier."""

from __future__ import annotations

from typing import Any

from connector.sandbox.profile_blocks import build_raw_block
from connector.sandbox.profile_result import build_result
from connector.sandbox.profiles import build_creator, has_email, is_not_found


def build_profile(
    platform: str,
    handle: str,
    *,
    include_audience_data: bool = False,
    include_lookalikes: bool = False,
    image_base_url: str | None = None,
    image_lifetime: float = 86400,
    now: float | None = None,
    not_found_rate: float = 0.05,
    no_email_rate: float = 0.3,
) -> dict[str, Any] | None:
    """The ``result`` object of a Full call for ``handle``, or ``None`` when not found."""
    if is_not_found(platform, handle, not_found_rate):
        return None
    creator = build_creator(
        platform, handle, image_base_url=image_base_url, image_lifetime=image_lifetime, now=now
    )
    return build_result(
        creator,
        with_email=has_email(platform, handle, no_email_rate),
        include_audience_data=include_audience_data,
        include_lookalikes=include_lookalikes,
    )


def build_raw_profile(
    platform: str,
    handle: str,
    *,
    image_base_url: str | None = None,
    image_lifetime: float = 86400,
    now: float | None = None,
    not_found_rate: float = 0.05,
) -> dict[str, Any] | None:
    """The ``result`` object of a Raw call: the platform-native block only, or ``None``."""
    if is_not_found(platform, handle, not_found_rate):
        return None
    creator = build_creator(
        platform, handle, image_base_url=image_base_url, image_lifetime=image_lifetime, now=now
    )
    return {platform: build_raw_block(creator)}
