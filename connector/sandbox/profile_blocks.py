"""Platform blocks and the top-level ``result`` of the synthetic creators in ``profiles``."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any

from connector.sandbox.profile_audience import build_audience
from connector.sandbox.profile_content import (
    BRANDS,
    COUNTRIES,
    LINKS,
    POSTS,
    build_flags,
    build_growth,
    build_income,
    build_posts,
    get_averages,
    get_hashtags,
    get_neighbours,
    get_niche,
    get_post_id,
)
from connector.sandbox.profiles import LAST_NAMES, Creator, get_fraction, get_stats

_IDENTITY_SET_FRACTION = {"instagram": 0.4, "tiktok": 1.0, "youtube": 1.0}


def _instagram(c: Creator) -> dict[str, Any]:
    s, r = c.stats, c.rng
    niche, subs = get_niche(c)
    friends = get_neighbours(c, 2)
    avg_likes, avg_comments = get_averages(c)
    reel_likes = round(avg_likes * r.uniform(0.8, 1.4), 1)
    reel_views = round(reel_likes * r.uniform(10, 40), 1)
    block = {
        "username": c.identity,
        "userid": s.user_id,
        "exists": True,
        "account_type": r.choice([1, 2, 3]),
        "profile_picture": c.picture(),
        "full_name": s.full_name,
        "is_private": False,
        "is_business_account": r.random() < 0.4,
        "is_verified": s.followers > 1_000_000,
        "media_count": r.randint(20, 3000),
        "follower_count": s.followers,
        "following_count": r.randint(50, 2500),
        "biography": None if r.random() < 0.1 else f"{niche} | {subs[0]} | collabs via email",
        "video_content_creator": r.random() < 0.7,
        "most_recent_post_date": c.date(10),
        "reels_percentage_last_12_posts": round(r.uniform(0, 100), 2),
        "engagement_percent": s.engagement_percent,
        "avg_likes": avg_likes,
        "avg_comments": avg_comments,
        "likes_median": round(avg_likes * 0.8, 1),
        "comments_median": round(avg_comments * 0.8, 1),
        "has_profile_pic": True,
        "profile_picture_hd": c.picture("hd"),
        "posting_frequency_recent_months": round(r.uniform(1, 30), 1),
        "creator_follower_growth": build_growth(c),
        "reels": {
            "avg_like_count": reel_likes,
            "avg_view_count": reel_views,
            "comments_count": [int(avg_comments)],
            "median_like_count": int(reel_likes * 0.9),
            "median_view_count": int(reel_views * 0.9),
        },
        "locations": [],
        "tagged": [{"username": h, "userid": get_stats(c.platform, h).user_id} for h in friends],
        "links_in_bio": [f"https://links.sandbox.invalid/{c.identity}"],
        "hashtags": get_hashtags(c),
        "hashtags_count": [{"name": h, "count": r.randint(1, 9)} for h in get_hashtags(c)],
        "niche_class": [niche],
        "niche_sub_class": subs[:2],
        "brands_found": list(BRANDS[:2]),
        "brand_affinity": [{"name": BRANDS[2], "interest": [niche]}],
        "language_code": ["en"],
        **build_flags(c),
    }
    if income := build_income(c):
        block["income"] = income
    return block


def _tiktok(c: Creator) -> dict[str, Any]:
    s, r = c.stats, c.rng
    niche, subs = get_niche(c)
    avg_likes, avg_comments = get_averages(c)
    plays = round(avg_likes * r.uniform(8, 20), 1)
    return {
        "avg_likes": avg_likes,
        "engagement_percent": s.engagement_percent,
        "profile_picture": c.picture(),
        "full_name": s.full_name,
        "user_id": s.user_id,
        "follower_count": s.followers,
        "posting_frequency_recent_months": r.randint(0, 40),
        "biography": f"{niche} every day ✨",
        "is_verified": s.followers > 1_000_000,
        "category": None,
        "username": c.identity,
        "exists": True,
        "sec_user_id": "MS4wLjABAAAA" + c.identity.encode().hex()[:40],
        "tt_seller": None,
        "is_ad": r.random() < 0.2,
        "is_commerce": r.random() < 0.2,
        "duet_setting": r.random() < 0.5,
        "is_private": False,
        "following_count": r.randint(10, 1500),
        "video_count": r.randint(10, 2000),
        "region": r.choice(COUNTRIES)[1],
        "total_likes": int(avg_likes * r.randint(50, 400)),
        "mention_status": None,
        "paid_partnership": r.random() < 0.2,
        "most_recent_post_date": c.date(10),
        "likes_median": int(avg_likes * 0.7),
        "comment_count_avg": avg_comments,
        "comments_median": int(avg_comments * 0.7),
        "duration_avg": round(r.uniform(8, 90), 2),
        "play_count_avg": plays,
        "play_count_median": int(plays * 0.6),
        "reach_score": round(plays * 2.5, 2),
        "total_shares": int(avg_comments * 300),
        "total_saves": int(avg_comments * 200),
        "shares_median": int(avg_comments * 0.6),
        "saves_median": int(avg_comments * 0.9),
        "posting_frequency": r.randint(0, 30),
        "profile_picture_hd": c.picture("hd"),
        "creator_follower_growth": build_growth(c),
        "hashtags": get_hashtags(c),
        "niche_class": [niche],
        "niche_sub_class": subs[:2],
        "saves_count_list": [r.randint(10, 5000) for _ in range(POSTS)],
        "tagged": [],
        "challenges_list": [],
        "reach_score_list": [r.randint(1000, 900_000) for _ in range(POSTS)],
        "links_in_bio": [],
        "brands_found": list(BRANDS[2:4]),
        "language_code": ["en"],
        **build_flags(c),
    }


def _twitter(c: Creator) -> dict[str, Any]:
    s, r = c.stats, c.rng
    niche, _ = get_niche(c)
    avg_likes, avg_comments = get_averages(c)
    friends = get_neighbours(c, 3)
    return {
        "userid": s.user_id,
        "username": c.identity,
        "join_date": c.date(5000),
        "biography": f"Talking {niche.lower()}.",
        "follower_count": s.followers,
        "following_count": r.randint(10, 3000),
        "media_count": r.randint(10, 5000),
        "tweets_count": r.randint(100, 80_000),
        "full_name": s.full_name,
        "is_verified": r.random() < 0.3,
        "direct_messaging": r.random() < 0.5,
        "profile_picture": c.picture(),
        "creator_favorite_count": r.randint(100, 200_000),
        "most_recent_post_date": c.date(5),
        "subscriber_button": r.random() < 0.2,
        "super_followed_by": False,
        "exists": True,
        "avg_likes": avg_likes,
        "avg_views": round(avg_likes * r.uniform(20, 40), 2),
        "avg_quotes": round(avg_comments / 5, 2),
        "avg_reply": int(avg_comments / 2),
        "avg_retweet": avg_comments,
        "engagement_percent": s.engagement_percent,
        "profile_picture_hd": c.picture("hd"),
        "tweets_type": {
            "ordinary": r.randint(0, 10),
            "retweeted": r.randint(0, 10),
            "conversation": r.randint(0, 5),
            "quoted": r.randint(0, 3),
        },
        "platforms": {"twitter": friends[:2]},
        "tweets": [f"On {niche.lower()}, part {i}" for i in (1, 2)],
        "tagged": friends[:1],
        "tagged_usernames": friends,
        "recommended_users": friends[1:],
        "retweet_users": [get_stats("twitter", h).user_id for h in friends],
        "retweets_count": [r.randint(0, 500) for _ in range(POSTS)],
        "languages_tweet": ["en"] * POSTS,
        "other_links": [f"https://www.{c.identity.replace('_', '')}.example.com"],
        "links_in_bio": [f"https://links.sandbox.invalid/{c.identity}"],
        "hashtags": get_hashtags(c)[:1],
        "hashtags_count": [{"name": get_hashtags(c)[0], "count": r.randint(1, 5)}],
        "language_code": ["en"],
        **build_flags(c),
    }


def _youtube(c: Creator) -> dict[str, Any]:
    s, r = c.stats, c.rng
    niche, subs = get_niche(c)
    avg_likes, avg_comments = get_averages(c)
    views = round(avg_likes * r.uniform(15, 40), 1)
    channel = (
        "UC" + base64.urlsafe_b64encode(hashlib.sha256(c.identity.encode()).digest()).decode()[:22]
    )
    name = c.first_name.lower() if c.identity.startswith("uc") else c.identity
    year = time.strftime("%Y", time.gmtime(c.now))
    pct = {
        f"engagement_by_{k}_{t}": round(r.uniform(0.1, 8), 2)
        for k in ("comments_and_views", "likes_and_views", "views_and_subs")
        for t in ("long", "shorts")
    }
    block = {
        "id": channel,
        "custom_url": f"@{name}",
        "title": s.full_name,
        "first_name": c.first_name,
        "description": f"{niche} videos every week.",
        "link": f"https://www.youtube.com/channel/{channel}",
        "country": r.choice(COUNTRIES)[0],
        "location": r.choice(COUNTRIES)[1],
        "speaking_language": "en",
        "published_at": c.date(4000),
        "subscriber_count": s.followers,
        "video_count": r.randint(10, 900),
        "view_count": int(views * r.randint(50, 500)),
        "engagement_percent": s.engagement_percent,
        "engagement_percent_long": round(s.engagement_percent * r.uniform(0.7, 1.2), 3),
        "engagement_percent_shorts": round(s.engagement_percent * r.uniform(0.5, 1.5), 3),
        **pct,
        "avg_views": views,
        "avg_views_long": round(views * 1.2, 1),
        "avg_views_shorts": round(views * 0.7, 1),
        "median_views_long": round(views * 0.9, 1),
        "least_views": int(views * 0.1),
        "avg_likes": avg_likes,
        "avg_comments": avg_comments,
        "total_comments_last_50": int(avg_comments * 50),
        "posting_frequency": round(r.uniform(0.5, 10), 2),
        "posting_frequency_long": round(r.uniform(0.5, 6), 2),
        "posting_frequency_shorts": round(r.uniform(0, 10), 2),
        "posting_frequency_recent_months": round(r.uniform(0.5, 12), 2),
        "posts_per_month": {year: {"1": r.randint(0, 10), "2": r.randint(0, 10)}},
        "last_long_video_upload_date": c.date(20),
        "last_short_video_upload_date": c.date(20),
        "most_recent_post_date": c.date(10),
        "shorts_percentage": round(r.uniform(0, 100), 2),
        "has_shorts": True,
        "has_community_posts": r.random() < 0.5,
        "made_for_kids": False,
        "privacy_status": "public",
        "moderate_comments": r.random() < 0.3,
        "is_monetization_enabled": r.random() < 0.7,
        "is_verified": s.followers > 100_000,
        "related_playlist_id": "UU" + channel[2:],
        "unsubscribed_trailer_id": None,
        "profile_picture": c.picture(),
        "profile_picture_hd": c.picture("hd"),
        "niche_class": None,
        "niche_sub_class": subs[:2],
        "topic_details": [f"https://en.wikipedia.org/wiki/{niche}"],
        "keywords": subs,
        "video_categories": [niche],
        "video_topics": [subs[0]],
        "video_hashtags": get_hashtags(c),
        "hashtags_count": [{"name": h, "count": 1} for h in get_hashtags(c)],
        "email_from_video_desc": [],
        "language_code": ["en"],
        **build_flags(c),
    }
    if income := build_income(c):
        block["income"] = income
    return block


def _twitch(c: Creator) -> dict[str, Any]:
    s, r = c.stats, c.rng
    return {
        "username": c.identity,
        "displayName": s.full_name.replace(" ", ""),
        "isPartner": r.random() < 0.3,
        "profileImageURL": c.picture(),
        "total_followers": s.followers,
        "user_id": s.user_id,
        "avg_views": r.randint(10, 40_000),
        "last_broadcast_game": r.choice(["Just Chatting", "Minecraft"]),
        "last_broadcast_id": get_post_id(c, 0)[-11:],
        "streamed_hours_last_30_days": round(r.uniform(0, 200), 1),
        "streams_count_last_30_days": r.randint(0, 30),
        "last_streamed": c.date(30),
        "has_merch": r.random() < 0.2,
        "promotes_affiliate_links": r.random() < 0.3,
        "has_paid_partnership": r.random() < 0.2,
        "profile_picture_hd": c.picture("hd"),
        "social_media": {
            "twitch": c.identity,
            "twitter": c.identity,
            "instagram": None,
            "youtube": None,
        },
        "panels_urls": [],
        "panels_descriptions": [],
        "panels_titles": ["About me"],
        "panels_type": ["default"],
        "panels_image": [],
        "other_links": [],
        "links_in_bio": [],
        "language_code": ["en"],
    }


def _generic(c: Creator) -> dict[str, Any]:
    s = c.stats
    return {
        "username": c.identity,
        "user_id": s.user_id,
        "exists": True,
        "full_name": s.full_name,
        "follower_count": s.followers,
        "engagement_percent": s.engagement_percent,
        "biography": f"{get_niche(c)[0]} creator",
        "profile_picture": c.picture(),
        "profile_picture_hd": c.picture("hd"),
        "is_verified": s.followers > 1_000_000,
    }


_BLOCKS: dict[str, Callable[[Creator], dict[str, Any]]] = {
    "instagram": _instagram,
    "tiktok": _tiktok,
    "twitter": _twitter,
    "youtube": _youtube,
    "twitch": _twitch,
}
_RAW_KEYS = {
    "instagram": "userid exists username has_profile_pic profile_picture profile_picture_hd "
    "biography full_name media_count follower_count following_count is_private "
    "is_business_account is_verified video_content_creator uses_link_in_bio links_in_bio",
    "tiktok": "user_id sec_user_id exists username profile_picture profile_picture_hd full_name "
    "biography follower_count following_count video_count total_likes total_shares total_saves "
    "links_in_bio tt_seller is_ad is_verified is_commerce duet_setting is_private saves_count_list",
    "twitter": "userid exists username full_name biography profile_picture profile_picture_hd "
    "join_date links_in_bio follower_count following_count media_count tweets_count "
    "creator_favorite_count is_verified direct_messaging subscriber_button super_followed_by "
    "tweets_type",
    "youtube": "id link profile_picture profile_picture_hd related_playlist_id custom_url title "
    "description published_at subscriber_count video_count view_count country has_shorts "
    "has_community_posts made_for_kids privacy_status moderate_comments unsubscribed_trailer_id "
    "total_comments_last_50 topic_details",
}


def build_platform_block(c: Creator) -> dict[str, Any]:
    """The full block of ``c.platform`` including ``post_data`` (no audience)."""
    block = _BLOCKS.get(c.platform, _generic)(c)
    block["post_data"] = build_posts(c)
    return block


def build_raw_block(c: Creator) -> dict[str, Any]:
    """The platform-native block of a Raw call: no email, scores, niches or income."""
    block = build_platform_block(c)
    keys = _RAW_KEYS.get(c.platform)
    raw = {k: block[k] for k in keys.split()} if keys else dict(block)
    if c.platform == "instagram":
        raw["category"] = get_niche(c)[0]
    raw["post_data"] = block["post_data"]
    return raw


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


def _identity_set(c: Creator, block: dict[str, Any]) -> dict[str, Any]:
    r = c.rng
    niche, subs = get_niche(c)
    others = [
        p for p in LINKS if p != c.platform and get_fraction(c.platform, c.identity, p) < 0.25
    ]
    fields: dict[str, Any] = {
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
    for platform in [c.platform, *others]:
        fields[f"{platform}_link"] = LINKS[platform].format(c.identity)
    for other in others:
        fields[other] = _summary_block(other, c)
    if c.platform in ("youtube", "instagram"):
        share = round(r.uniform(50, 90), 1)
        fields["ai_niches"] = [
            {"niche": niche, "percentage": share},
            {"niche": "Lifestyle", "percentage": round(100 - share, 1)},
        ]
        fields["ai_subniches"] = [{"subniche": subs[0].capitalize(), "percentage": 100.0}]
        fields["ai_brand_collaborations"] = [{"brand": BRANDS[0], "percentage": 100.0}]
    return fields


def build_result(
    c: Creator, *, with_email: bool, include_audience_data: bool, include_lookalikes: bool
) -> dict[str, Any]:
    """The ``result`` object of a Full call for creator ``c``."""
    block = build_platform_block(c)
    if include_audience_data and c.platform in ("instagram", "tiktok", "youtube"):
        block["audience"] = build_audience(c)
    result: dict[str, Any] = {c.platform: block}
    if get_fraction(c.platform, c.identity, "identity_set") < _IDENTITY_SET_FRACTION.get(
        c.platform, 0
    ):
        result.update(_identity_set(c, block))
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
