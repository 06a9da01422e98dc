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


# Reference §2.4: Profile answers the top-level identity and contact fields, "a lighter platform
# block and cross-platform summary blocks". The lighter block's keys are not listed anywhere;
# the sandbox keeps the requested block's identity and reach keys, the same kind of keys the
# summary blocks carry (every one is a Full block key, so the vocabulary holds).
PROFILE_TOP_KEYS = (
    "email", "email_type", "first_name", "gender", "location", "speaking_language", "is_business",
    "is_creator", "has_brand_deals", "has_link_in_bio", "creator_has", "other_links",
    "links_in_bio",
)  # fmt: skip
PROFILE_BLOCK_KEYS = (
    "userid", "user_id", "id", "username", "custom_url", "full_name", "title", "displayName",
    "first_name", "follower_count", "subscriber_count", "total_followers", "engagement_percent",
    "is_verified", "profile_picture", "profileImageURL",
)  # fmt: skip


def build_profile_tier(
    platform: str,
    handle: str,
    *,
    email_required: str = "preferred",
    image_base_url: str | None = None,
    image_lifetime: float = 86400,
    now: float | None = None,
    not_found_rate: float = 0.05,
    no_email_rate: float = 0.3,
) -> dict[str, Any] | None:
    """The ``result`` of a Profile call (reference §2.4), or ``None`` when not found."""
    full = build_profile(
        platform,
        handle,
        image_base_url=image_base_url,
        image_lifetime=image_lifetime,
        now=now,
        not_found_rate=not_found_rate,
        no_email_rate=no_email_rate,
    )
    if full is None or (email_required == "must_have" and not full.get("email")):
        return None
    result: dict[str, Any] = {}
    for key, value in full.items():
        if key == platform and isinstance(value, dict):
            result[key] = {k: v for k, v in value.items() if k in PROFILE_BLOCK_KEYS}
        elif key in PROFILE_TOP_KEYS or key.endswith("_link") or isinstance(value, dict):
            result[key] = value
    return result
