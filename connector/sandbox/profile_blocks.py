"""The platform blocks of the synthetic creators in ``profiles`` (Full and Raw tiers).

Every key is one a real captured response or the API reference's key lists name for that
platform (``connector/mapping/vocabulary.yaml``): a platform with no documented block answers
an empty one.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import Any

from connector.sandbox.profile_content import (
    BRANDS,
    COUNTRIES,
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
from connector.sandbox.profiles import Creator, get_stats


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
        "posts_per_month": {year: {month: r.randint(0, 10) for month in _recent_months(c)}},
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
    del block["has_merch"]  # not a key of the YouTube block (sample, reference §7.1)
    if income := build_income(c):
        block["income"] = income
    return block


_MONTH_NAMES = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip


def _recent_months(c: Creator) -> list[str]:
    """This year's months so far, newest first, as the API names them (``april``)."""
    month = time.gmtime(c.now).tm_mon
    return [_MONTH_NAMES[m - 1] for m in range(month, 0, -1)]


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


def _raw_linkedin(c: Creator) -> dict[str, Any]:
    s, r = c.stats, c.rng
    first, last = s.full_name.split()
    niche, subs = get_niche(c)
    return {
        "id": s.user_id,
        "connection": r.randint(50, 500),
        "followers": s.followers,
        "username": c.identity,
        "first_name": first,
        "last_name": last,
        "is_creator": r.random() < 0.3,
        "is_premium": r.random() < 0.2,
        "profile_picture": c.picture(),
        "profile_pictures": [c.picture(), c.picture("hd")],
        "background_image": None,
        "summary": f"{niche} at heart.",
        "headline": f"{subs[0].capitalize()} creator",
        "geo": {"country": r.choice(COUNTRIES)[1]},
        "position": {"title": "Creator", "companyName": f"{first} Studio"},
        "full_positions": [],
        "skills": subs[:2],
        "projects": [],
        "supported_locales": ["en_US"],
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
    """The full block of ``c.platform`` including ``post_data`` (no audience).

    OnlyFans, Snapchat, Discord, Pinterest, Facebook and LinkedIn blocks are empty: no real
    response or reference key list shows what they hold.
    """
    builder = _BLOCKS.get(c.platform)
    if builder is None:
        return {}
    block = builder(c)
    block["post_data"] = build_posts(c)
    return block


def build_raw_block(c: Creator) -> dict[str, Any]:
    """The platform-native block of a Raw call: no email, scores, niches or income.

    Only the platforms whose Raw keys the reference lists (§2.3) have a non-empty block.
    """
    if c.platform == "linkedin":
        return _raw_linkedin(c)
    keys = _RAW_KEYS.get(c.platform)
    if keys is None:
        return {}
    block = build_platform_block(c)
    raw = {k: block[k] for k in keys.split()}
    if c.platform == "instagram":
        raw["category"] = get_niche(c)[0]
    raw["post_data"] = block["post_data"]
    return raw
