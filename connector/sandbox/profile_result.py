"""The ``result`` of a Full call: the platform block plus the top level of one payload generation.

The live API has answered in two shapes (reference §7.1): in April 2026 Instagram, X and Twitch
calls carried only ``email``/``email_type`` at the top level, TikTok and YouTube calls the whole
identity set, and only YouTube calls ``ai_*`` and other platforms' summary blocks, with no
``<platform>_link`` anywhere; in August 2026 an Instagram call carried the identity set,
``<platform>_link`` keys and summary blocks. Each creator answers in one of them, chosen by hash
(half each), so a mapping meets both.
"""

from __future__ import annotations

from typing import Any

from connector.sandbox.profile_audience import build_audience
from connector.sandbox.profile_blocks import build_platform_block
from connector.sandbox.profile_content import BRANDS, COUNTRIES, LINKS, get_neighbours, get_niche
from connector.sandbox.profiles import LAST_NAMES, Creator, get_fraction, get_stats

APRIL, AUGUST = "apr-2026", "aug-2026"
GENERATIONS = (APRIL, AUGUST)
# Only these platforms' summary blocks are documented (reference §7.1, the YouTube sample).
SUMMARY_PLATFORMS = ("instagram", "twitter", "youtube", "twitch")
_APRIL_IDENTITY = ("tiktok", "youtube")
_AUDIENCE = ("instagram", "tiktok", "youtube")


def get_generation(c: Creator) -> str:
    """The payload generation creator ``c`` answers in (deterministic per creator)."""
    return AUGUST if get_fraction(c.platform, c.identity, "generation") < 0.5 else APRIL


def _linked(c: Creator) -> list[str]:
    """The other platforms this creator has an account on (a quarter of them each)."""
    return [p for p in LINKS if p != c.platform and get_fraction(c.platform, c.identity, p) < 0.25]


def _summary_block(other: str, c: Creator) -> dict[str, Any]:
    s = get_stats(other, c.identity)
    if other == "youtube":
        return {
            "id": "UC" + s.user_id.ljust(22, "0"),
            "custom_url": f"@{c.identity}",
            "first_name": c.first_name,
            "subscriber_count": s.followers,
            "engagement_percent": s.engagement_percent,
            "is_verified": False,
            "profile_picture": c.picture("yt"),
        }
    if other == "twitch":
        return {
            "user_id": s.user_id,
            "username": c.identity,
            "first_name": c.first_name,
            "total_followers": s.followers,
            "avg_views": s.followers // 50,
            "profileImageURL": c.picture("twitch"),
        }
    return {
        "userid": s.user_id,
        "username": c.identity,
        "full_name": s.full_name,
        "follower_count": s.followers,
        "engagement_percent": s.engagement_percent,
        "is_verified": False,
        "profile_picture": c.picture(other),
    }


def _email(c: Creator) -> tuple[str, str]:
    if get_fraction(c.platform, c.identity, "role_email") < 0.35:
        slug = "".join(ch for ch in c.identity if ch.isalnum())[:20] or "creator"
        return (
            f"{c.rng.choice(['team', 'contact', 'booking'])}@{slug}.example.com",
            "role_based_email",
        )
    last = LAST_NAMES[int(c.stats.user_id) % len(LAST_NAMES)].lower()
    return f"{c.first_name.lower()}.{last}{int(c.stats.user_id) % 97}@example.net", "personal_email"


def _identity_set(c: Creator, block: dict[str, Any], others: list[str]) -> dict[str, Any]:
    r = c.rng
    return {
        "first_name": c.first_name,
        "gender": r.choice(["female", "male"]),
        "location": r.choice(COUNTRIES)[1],
        "speaking_language": "en",
        "is_business": bool(block.get("is_business_account", False)),
        "is_creator": True,
        "has_brand_deals": bool(block.get("has_paid_partnership", False)),
        "has_link_in_bio": bool(block.get("uses_link_in_bio", False)),
        "creator_has": {c.platform: True, **dict.fromkeys(others, True)},
        "links_in_bio": [f"https://links.sandbox.invalid/{c.identity}"],
        "other_links": [f"https://shop.sandbox.invalid/{c.identity}"],
    }


def _ai_fields(c: Creator) -> dict[str, Any]:
    niche, subs = get_niche(c)
    share = round(c.rng.uniform(50, 90), 1)
    return {
        "ai_niches": [
            {"niche": niche, "percentage": share},
            {"niche": "Lifestyle", "percentage": round(100 - share, 1)},
        ],
        "ai_subniches": [{"subniche": subs[0].capitalize(), "percentage": 100.0}],
        "ai_brand_collaborations": [{"brand": BRANDS[0], "percentage": 100.0}],
    }


def _april(c: Creator, block: dict[str, Any]) -> dict[str, Any]:
    """April 2026: identity on TikTok and YouTube calls; links only in bio and content."""
    if c.platform not in _APRIL_IDENTITY:
        return {}
    others = _linked(c)
    fields = _identity_set(c, block, others)
    if c.platform != "youtube":
        return fields
    # Like the YouTube sample: the other accounts show as summary blocks and in the links in
    # bio; content links name a stranger's profile and the creator's own posts.
    stranger = get_neighbours(c, 1)[0]
    fields["links_in_bio"] += [LINKS[p].format(c.identity) for p in others]
    fields["other_links"] += [
        f"https://www.instagram.com/{stranger}",
        f"https://twitter.com/{c.identity}/status/{c.stats.user_id}",
    ]
    fields.update({p: _summary_block(p, c) for p in others if p in SUMMARY_PLATFORMS})
    return {**fields, **_ai_fields(c)}


def _august(c: Creator, block: dict[str, Any]) -> dict[str, Any]:
    """August 2026: the identity set, ``<platform>_link`` keys and summary blocks everywhere."""
    others = _linked(c)
    fields = _identity_set(c, block, others)
    for platform in [c.platform, *others]:
        if platform in LINKS:
            fields[f"{platform}_link"] = LINKS[platform].format(c.identity)
    fields.update({p: _summary_block(p, c) for p in others if p in SUMMARY_PLATFORMS})
    if c.platform in ("youtube", "instagram"):
        fields.update(_ai_fields(c))
    return fields


def build_result(
    c: Creator, *, with_email: bool, include_audience_data: bool, include_lookalikes: bool
) -> dict[str, Any]:
    """The ``result`` object of a Full call for creator ``c``, in its payload generation."""
    block = build_platform_block(c)
    if include_audience_data and c.platform in _AUDIENCE:
        block["audience"] = build_audience(c)
    result: dict[str, Any] = {c.platform: block}
    top = _august(c, block) if get_generation(c) == AUGUST else _april(c, block)
    result.update(top)
    email, email_type = _email(c) if with_email else (None, None)
    result["email"] = email
    result["email_type"] = email_type
    if include_lookalikes:
        result["lookalikes"] = [
            {
                "username": h,
                "profile_url": LINKS.get(c.platform, LINKS["instagram"]).format(h),
                "engagement_percent": get_stats(c.platform, h).engagement_percent,
                "follower_count": get_stats(c.platform, h).followers,
            }
            for h in get_neighbours(c, 3)
        ]
    return result
