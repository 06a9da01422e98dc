"""Shared pieces of the synthetic creators: niches, posts, audience data and neighbours."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from connector.sandbox.profiles import (
    DISCOVERY_PLATFORMS,
    Creator,
    get_fraction,
    get_universe,
)

NICHES = {
    "Fitness": ["strength training", "running", "yoga"],
    "Food": ["baking", "vegan recipes", "street food"],
    "Travel": ["van life", "city guides", "hiking"],
    "Fashion": ["streetwear", "thrifting", "sneakers"],
    "Gaming": ["speedruns", "fps", "cozy games"],
    "Beauty": ["skincare", "makeup tutorials", "nails"],
    "Tech": ["gadgets", "programming", "smart home"],
    "Comedy": ["sketches", "pranks", "parody"],
}
BRANDS = (
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Wingtip",
    "Litware",
    "Adatum",
    "Proseware",
)
COUNTRIES = (
    ("US", "United States"),
    ("GB", "United Kingdom"),
    ("DE", "Germany"),
    ("BR", "Brazil"),
    ("IN", "India"),
    ("FR", "France"),
    ("ES", "Spain"),
    ("CA", "Canada"),
    ("IT", "Italy"),
)
LANGUAGES = (
    ("en", "English"),
    ("es", "Spanish"),
    ("pt", "Portuguese"),
    ("de", "German"),
    ("fr", "French"),
)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
LINKS = {
    "instagram": "https://www.instagram.com/{}",
    "tiktok": "https://www.tiktok.com/@{}",
    "twitter": "https://twitter.com/{}",
    "twitch": "https://www.twitch.tv/{}",
    "youtube": "https://www.youtube.com/@{}",
}
POSTS = 3
# A YouTube post's thumbnails: size → file, each a URL string as in the real sample.
_THUMBNAILS = (
    ("default", "default"),
    ("medium", "mqdefault"),
    ("high", "hqdefault"),
    ("standard", "sddefault"),
    ("maxres", "maxresdefault"),
)


def get_niche(c: Creator) -> tuple[str, list[str]]:
    name = sorted(NICHES)[int(get_fraction(c.platform, c.identity, "niche") * len(NICHES))]
    return name, NICHES[name]


def build_weights(c: Creator, codes: list[str]) -> list[dict[str, Any]]:
    raw = [c.rng.random() + 0.05 for _ in codes]
    total = sum(raw)
    return [
        {"code": code, "weight": round(x / total, 6)} for code, x in zip(codes, raw, strict=True)
    ]


def build_growth(c: Creator) -> dict[str, float]:
    g = c.stats.growth_percent
    return {
        f"{m}_months_ago": round(g * m / 12 + c.rng.uniform(-0.3, 0.3), 2) for m in (3, 6, 9, 12)
    }


def build_income(c: Creator) -> dict[str, Any] | None:
    if get_fraction(c.platform, c.identity, "income") < 0.3:
        return None
    low = max(50, int(c.stats.followers * c.rng.uniform(0.004, 0.012)))
    return {"min": low, "max": int(low * c.rng.uniform(1.8, 2.6)), "currency": "USD"}


def _timestamp(c: Creator, index: int) -> time.struct_time:
    return time.gmtime(c.now - 86400 * (index * 3 + 1) - c.rng.randint(0, 80_000))


def get_post_id(c: Creator, index: int) -> str:
    return str(7_000_000_000_000_000_000 + (int(c.stats.user_id) * 1000 + index) % 10**18)


def get_hashtags(c: Creator) -> list[str]:
    niche, subs = get_niche(c)
    return [niche.lower(), subs[0].replace(" ", ""), c.identity.replace(".", "").replace("_", "")]


def _engagement_counts(c: Creator) -> tuple[int, int]:
    likes = max(
        1, int(c.stats.followers * c.stats.engagement_percent / 100 * c.rng.uniform(0.7, 1.3))
    )
    return likes, max(0, int(likes * c.rng.uniform(0.01, 0.05)))


def _instagram_posts(c: Creator) -> list[dict[str, Any]]:
    posts = []
    for i in range(POSTS):
        pid = get_post_id(c, i)
        likes, comments = _engagement_counts(c)
        carousel = c.rng.random() < 0.3
        posts.append(
            {
                "post_id": pid,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S", _timestamp(c, i)),
                "caption": f"{get_niche(c)[1][i % 3].capitalize()} day #{get_hashtags(c)[0]}",
                "hashtags": [f"#{get_hashtags(c)[0]}"],
                "post_url": f"https://instagram.com/p/SBX{pid[-8:]}",
                "media": [
                    {
                        "media_id": pid,
                        "type": "image",
                        "url": f"https://cdn.sandbox.invalid/ig/{pid}.jpg",
                    }
                ],
                "is_carousel": carousel,
                "tagged_users": [],
                "engagement": {"likes": likes, "comments": comments},
                "media_type": 8 if carousel else 1,
                "product_type": "carousel_container" if carousel else "feed",
            }
        )
    return posts


def _tiktok_posts(c: Creator) -> list[dict[str, Any]]:
    posts = []
    for i in range(POSTS):
        pid = get_post_id(c, i)
        likes, comments = _engagement_counts(c)
        posts.append(
            {
                "post_id": pid,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%S", _timestamp(c, i)),
                "caption": f"Part {i + 1} #{get_hashtags(c)[0]}",
                "hashtags": [f"#{get_hashtags(c)[0]}"],
                "post_url": f"https://www.tiktok.com/@{c.identity}/video/{pid}",
                "media": {
                    "media_id": pid,
                    "type": "video",
                    "url": f"https://cdn.sandbox.invalid/tt/{pid}.mp4",
                    "video_duration": c.rng.randint(8, 90),
                },
                "mentions": [],
                "engagement": {
                    "like_count": likes,
                    "comment_count": comments,
                    "view_count": likes * 12,
                    "share_count": comments // 2,
                    "download_count": comments // 4,
                },
                "sound": {
                    "sound_name": f"original sound - {c.identity}",
                    "sound_url": f"https://cdn.sandbox.invalid/tt/{pid}.mp3",
                },
            }
        )
    return posts


def _twitter_posts(c: Creator) -> list[dict[str, Any]]:
    posts = []
    for i in range(POSTS):
        pid = get_post_id(c, i)
        likes, comments = _engagement_counts(c)
        t = _timestamp(c, i)
        created = (
            f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {time.strftime('%d %H:%M:%S +0000 %Y', t)}"
        )
        posts.append(
            {
                "tweet_id": pid,
                "created_at": created,
                "text": f"Thread on {get_niche(c)[1][i % 3]} ({i + 1}/{POSTS})",
                "lang": "en",
                "engagement": {
                    "like_count": likes,
                    "retweet_count": comments,
                    "reply_count": comments // 2,
                    "quote_count": comments // 5,
                    "view_count": likes * 30,
                },
                "media": [
                    {
                        "media_key": f"3_{pid}",
                        "type": "photo",
                        "url": f"https://cdn.sandbox.invalid/x/{pid}.jpg",
                    }
                ],
                "tweet_url": f"https://twitter.com/{c.identity}/status/{pid}",
                "hashtags": [],
                "mentions": [],
                "is_pinned": i == 0 and c.rng.random() < 0.2,
            }
        )
    return posts


def _youtube_posts(c: Creator) -> list[dict[str, Any]]:
    posts = []
    for i in range(POSTS):
        vid = f"sbx{get_post_id(c, i)[-8:]}"
        likes, comments = _engagement_counts(c)
        posts.append(
            {
                "video_id": vid,
                "title": f"{get_niche(c)[1][i % 3].title()} — episode {i + 1}",
                "description": "Subscribe for more.",
                "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", _timestamp(c, i)),
                "category_id": "22",
                "default_language": "en",
                "default_audio_language": "en",
                "engagement": {
                    "view_count": str(likes * 25),
                    "like_count": str(likes),
                    "comment_count": str(comments),
                    "favorite_count": "0",
                },
                "media": {
                    "thumbnails": {
                        size: f"https://cdn.sandbox.invalid/vi/{vid}/{name}.jpg"
                        for size, name in _THUMBNAILS
                    },
                    "duration": f"PT{c.rng.randint(3, 25)}M{c.rng.randint(0, 59)}S",
                    "definition": "hd",
                    "embed_html": "",
                },
                "post_url": f"https://www.youtube.com/watch?v={vid}",
                "topic_categories": [],
            }
        )
    return posts


def _twitch_posts(c: Creator) -> list[dict[str, Any]]:
    return [
        {
            "data": {
                "video": {
                    "id": get_post_id(c, i)[-10:],
                    "title": f"Stream #{i + 1}",
                    "viewCount": c.rng.randint(100, 50_000),
                    "lengthSeconds": c.rng.randint(3600, 20000),
                    "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", _timestamp(c, i)),
                }
            },
            "extensions": {"durationMilliseconds": c.rng.randint(20, 90)},
        }
        for i in range(POSTS)
    ]


def get_neighbours(c: Creator, count: int) -> list[str]:
    platform = c.platform if c.platform in DISCOVERY_PLATFORMS else "instagram"
    universe = get_universe(platform)
    start = int(get_fraction(c.platform, c.identity, "neighbours") * len(universe))
    return [universe[(start + 7919 * i) % len(universe)] for i in range(1, count + 1)]


def build_flags(c: Creator) -> dict[str, Any]:
    """Flags most platform blocks share."""
    r = c.rng
    return {
        "uses_link_in_bio": r.random() < 0.6,
        "has_paid_partnership": r.random() < 0.3,
        "promotes_affiliate_links": r.random() < 0.25,
        "has_merch": r.random() < 0.1,
        "streamer": r.random() < 0.05,
    }


def get_averages(c: Creator) -> tuple[float, float]:
    avg_likes = round(
        c.stats.followers * c.stats.engagement_percent / 100 * c.rng.uniform(0.95, 1.0), 2
    )
    return avg_likes, round(avg_likes * c.rng.uniform(0.01, 0.05), 2)


_POSTS: dict[str, Callable[[Creator], list[dict[str, Any]]]] = {
    "instagram": _instagram_posts,
    "tiktok": _tiktok_posts,
    "twitter": _twitter_posts,
    "youtube": _youtube_posts,
    "twitch": _twitch_posts,
}


def build_posts(c: Creator) -> list[dict[str, Any]]:
    """At most ``POSTS`` recent posts in the platform's native post shape."""
    builder = _POSTS.get(c.platform)
    return builder(c) if builder else []
