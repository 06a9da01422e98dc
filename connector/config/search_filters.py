"""Client-side checks of saved-search filters and sort: the API ignores what it does not know."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from connector.config.sections import HubSpotSourceSettings, SheetSourceSettings

MAX_EXCLUDED_HANDLES = 10_000
AI_SEARCH_LENGTH = (3, 150)

# Which follower-range key each platform reads; any other platform's key would be dropped silently.
FOLLOWER_KEYS: dict[str, str | None] = {
    "instagram": "number_of_followers",
    "tiktok": "number_of_followers",
    "twitter": "number_of_followers",
    "youtube": "number_of_subscribers",
    "twitch": "followers",
    "onlyfans": None,
}
AUDIENCE_PLATFORMS = ("instagram",)
GROWTH_SORT_PLATFORMS = ("instagram", "tiktok", "youtube")
CREDIBILITY = ("bad", "low", "normal", "good", "high", "best")

RANGE_KEYS = frozenset(
    {
        "engagement_percent",
        "income",
        "average_likes",
        "average_comments",
        "average_views",
        "average_video_downloads",
        "average_views_on_long_videos",
        "median_views_long",
        "average_views_on_shorts",
        "average_views_for_reels",
        "average_stream_views",
        "average_stream_duration",
        "avg_views_last_30_days",
        "maximum_views_count",
        "number_of_videos",
        "video_count",
        "number_of_posts",
        "number_of_photos",
        "number_of_likes",
        "number_of_tweets",
        "tweets_count",
        "shorts_percentage",
        "reels_percent",
        "long_video_duration",
        "streamed_hours_last_30_days",
        "streams_count_last_30_days",
        "subscription_price",
    }
)
GROWTH_KEYS = frozenset({"follower_growth", "subscriber_growth"})
STRING_KEYS = frozenset({"type", "gender"})
NUMBER_KEYS = frozenset({"posting_frequency"})
STRING_LIST_KEYS = frozenset(
    {
        "location",
        "profile_language",
        "keywords_in_bio",
        "exclude_keywords_in_bio",
        "keywords_in_captions",
        "keywords_not_in_captions",
        "keywords_in_description",
        "keywords_not_in_description",
        "keywords_in_video_description",
        "keywords_not_in_video_description",
        "keywords_in_video_titles",
        "keywords_not_in_video_titles",
        "keywords_in_tweets",
        "keywords_not_in_tweets",
        "video_description",
        "not_video_description",
        "tweets",
        "hashtags",
        "not_hashtags",
        "topics",
        "games_played",
        "brands",
        "link_in_bio",
        "not_link_in_bio",
        "links_from_description",
        "links_from_video_description",
    }
)
BOOL_KEYS = frozenset(
    {
        "is_verified",
        "exclude_private_profile",
        "has_link_in_bio",
        "has_shorts",
        "has_podcast",
        "has_videos",
        "has_live_videos",
        "has_live_streams",
        "has_community_posts",
        "has_free_account",
        "has_courses",
        "has_membership",
        "has_merch",
        "has_tik_tok_shop",
        "has_done_brand_deals",
        "promotes_affiliate_links",
        "does_live_streaming",
        "streams_live",
        "is_monetizing",
        "is_twitch_partner",
        "exclude_role_based_emails",
        "exclude_default_list",
        "exclude_all_lists",
    }
)
SPECIAL_KEYS = frozenset(
    {"ai_search", "creator_has", "audience", "exclude_handles", "exclude_list"}
)
CREATOR_HAS_SERVICES = (
    "amazonaffiliates",
    "anchor",
    "applemusic",
    "bandcamp",
    "behance",
    "buymeacoffee",
    "cameo",
    "canva",
    "clubhouse",
    "community",
    "discord",
    "dribbble",
    "etsy",
    "facebook",
    "fiverr",
    "github",
    "gofundme",
    "goodreads",
    "instagram",
    "kakao",
    "kickstarter",
    "kofi",
    "linkedin",
    "linktree",
    "medium",
    "onlyfans",
    "patreon",
    "phone",
    "pinterest",
    "podcast",
    "redbubble",
    "shopify",
    "shopltk",
    "snapchat",
    "soundcloud",
    "spotify",
    "spring",
    "streamlabs",
    "substack",
    "telegram",
    "tiktok",
    "tumblr",
    "twitch",
    "twitter",
    "udemy",
    "viber",
    "vimeo",
    "vk",
    "weebly",
    "whatsApp",
    "wix",
    "youtube",
)
CREATOR_HAS_KEYS = frozenset(f"has_{service}" for service in CREATOR_HAS_SERVICES)
AUDIENCE_SHAPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "location": ("list", ("name", "type", "min_pct")),
    "gender": ("object", ("type", "min_pct")),
    "language": ("list", ("language_abbr", "min_pct")),
    "age": ("list", ("range", "min_pct")),
    "interests": ("list", ("name", "min_pct")),
}


def get_known_filters(platform: str) -> list[str]:
    """Every filter key the API reads for ``platform``, sorted."""
    follower = FOLLOWER_KEYS.get(platform)
    keys = set(RANGE_KEYS | GROWTH_KEYS | STRING_KEYS | NUMBER_KEYS | STRING_LIST_KEYS)
    keys |= BOOL_KEYS | SPECIAL_KEYS
    if follower:
        keys.add(follower)
    if platform not in AUDIENCE_PLATFORMS:
        keys.discard("audience")
    return sorted(keys)


def check_sort(platform: str, sort_by: str, sort_order: str, *, path: str = "") -> list[str]:
    """Problems with a sort the API refuses or silently changes (empty when it is fine)."""
    where = f"{path}: " if path else ""
    problems = []
    if sort_by == "relevancy" and sort_order != "desc":
        problems.append(f"{where}sort_by relevancy only supports sort_order desc")
    if sort_by == "growth_rate" and platform not in GROWTH_SORT_PLATFORMS:
        problems.append(
            f"{where}sort_by growth_rate is only available on "
            f"{', '.join(GROWTH_SORT_PLATFORMS)}, not {platform}"
        )
    if sort_by == "number_of_followers" and platform == "onlyfans":
        problems.append(f"{where}sort_by number_of_followers is not available on onlyfans")
    return problems


def check_filters(platform: str, filters: Any, *, path: str = "filters") -> list[str]:
    """Every problem with ``filters`` for ``platform``, each prefixed with its YAML path."""
    if filters is None:
        return []
    if not isinstance(filters, Mapping):
        return [f"{path}: must be a mapping of filter keys to values"]
    problems: list[str] = []
    known = get_known_filters(platform)
    for key, value in filters.items():
        where = f"{path}.{key}"
        if not isinstance(key, str) or key not in known:
            problems.append(_unknown_key(platform, str(key), where, known))
            continue
        problems.extend(_check_value(platform, key, value, where))
    return problems


def _unknown_key(platform: str, key: str, where: str, known: list[str]) -> str:
    follower = FOLLOWER_KEYS.get(platform)
    if key in FOLLOWER_KEYS.values() or key == "audience":
        if key == "audience":
            why = f"audience filters only apply to {', '.join(AUDIENCE_PLATFORMS)}"
        elif follower:
            why = f"on {platform} the follower range is {follower!r}"
        else:
            why = f"{platform} has no follower-count filter"
        return f"{where}: not read on {platform} ({why}); the API would ignore it and still charge"
    close = difflib.get_close_matches(key, known, n=3)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return (
        f"{where}: unknown filter (the API would ignore it and still charge); {hint}"
        f"known filters: {', '.join(known)}"
    )


def _check_value(platform: str, key: str, value: Any, where: str) -> list[str]:
    if key in RANGE_KEYS or key == FOLLOWER_KEYS.get(platform):
        return _check_range(value, where)
    checks: dict[str, Callable[[Any, str], list[str]]] = {
        "ai_search": _check_ai_search,
        "creator_has": _check_creator_has,
        "audience": _check_audience,
        "exclude_handles": _check_excluded,
        "exclude_list": _check_list_ids,
    }
    if key in checks:
        return checks[key](value, where)
    if key in GROWTH_KEYS:
        return _check_object(
            value,
            where,
            {"growth_percentage": _is_number, "time_range_months": _is_int},
            "{growth_percentage: number, time_range_months: integer}",
        )
    if key in BOOL_KEYS:
        return [] if isinstance(value, bool) else [f"{where}: must be true or false"]
    if key in NUMBER_KEYS:
        return [] if _is_number(value) else [f"{where}: must be a number"]
    if key in STRING_KEYS:
        return [] if _is_text(value) else [f"{where}: must be a non-empty string"]
    return _check_strings(value, where)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_range(value: Any, where: str) -> list[str]:
    shape = "{min: number, max: number} (either may be left out)"
    problems = _check_object(value, where, {"min": _is_number, "max": _is_number}, shape)
    if problems:
        return problems
    low, high = value.get("min"), value.get("max")
    if low is None and high is None:
        return [f"{where}: give min, max or both"]
    if low is not None and high is not None and low > high:
        return [f"{where}: min ({low:g}) is greater than max ({high:g})"]
    return []


def _check_object(
    value: Any, where: str, fields: Mapping[str, Callable[[Any], bool]], shape: str
) -> list[str]:
    if not isinstance(value, Mapping):
        return [f"{where}: must be a mapping {shape}"]
    problems = []
    for name, item in value.items():
        check = fields.get(str(name))
        if check is None:
            problems.append(f"{where}.{name}: unknown key (known: {', '.join(fields)})")
        elif item is not None and not check(item):
            problems.append(f"{where}.{name}: wrong type; expected {shape}")
    return problems


def _check_strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        return [f"{where}: must be a non-empty list of strings"]
    bad = [i for i, item in enumerate(value) if not _is_text(item)]
    return [f"{where}[{i}]: must be a non-empty string" for i in bad]


def _check_ai_search(value: Any, where: str) -> list[str]:
    low, high = AI_SEARCH_LENGTH
    if not isinstance(value, str) or not low <= len(value.strip()) <= high:
        return [f"{where}: must be text of {low} to {high} characters"]
    return []


def _check_creator_has(value: Any, where: str) -> list[str]:
    if not isinstance(value, Mapping) or not value:
        return [f"{where}: must be a mapping like {{has_youtube: true}}"]
    problems = []
    for name, flag in value.items():
        if name not in CREATOR_HAS_KEYS:
            close = difflib.get_close_matches(str(name), sorted(CREATOR_HAS_KEYS), n=2)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            problems.append(
                f"{where}.{name}: unknown service; {hint}"
                f"known: {', '.join(sorted(CREATOR_HAS_KEYS))}"
            )
        elif not isinstance(flag, bool):
            problems.append(f"{where}.{name}: must be true or false")
    return problems


def _check_audience(value: Any, where: str) -> list[str]:
    if not isinstance(value, Mapping) or not value:
        return [f"{where}: must be a mapping of audience filters"]
    known = [*AUDIENCE_SHAPES, "brands", "brand_categories", "credibility"]
    problems: list[str] = []
    for name, item in value.items():
        at = f"{where}.{name}"
        if name in ("brands", "brand_categories"):
            problems.extend(_check_strings(item, at))
        elif name == "credibility":
            if item not in CREDIBILITY:
                problems.append(f"{at}: must be one of {', '.join(CREDIBILITY)}")
        elif name in AUDIENCE_SHAPES:
            problems.extend(_check_audience_part(str(name), item, at))
        else:
            problems.append(f"{at}: unknown audience filter (known: {', '.join(known)})")
    return problems


def _check_audience_part(name: str, value: Any, where: str) -> list[str]:
    kind, fields = AUDIENCE_SHAPES[name]
    checks = {f: (_is_number if f == "min_pct" else _is_text) for f in fields}
    shape = "{" + ", ".join(fields) + "}"
    if kind == "object":
        return _check_object(value, where, checks, shape)
    if not isinstance(value, list) or not value:
        return [f"{where}: must be a non-empty list of {shape}"]
    problems: list[str] = []
    for i, item in enumerate(value):
        problems.extend(_check_object(item, f"{where}[{i}]", checks, shape))
    return problems


def _check_excluded(value: Any, where: str) -> list[str]:
    problems = _check_strings(value, where)
    if not problems and len(value) > MAX_EXCLUDED_HANDLES:
        problems.append(f"{where}: at most {MAX_EXCLUDED_HANDLES} handles, got {len(value)}")
    return problems


def _check_list_ids(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        return [f"{where}: must be a non-empty list of exclusion-list ids"]
    bad = [i for i, item in enumerate(value) if not (_is_int(item) or _is_text(item))]
    return [f"{where}[{i}]: must be an exclusion-list id" for i in bad]


def check_search(
    platform: str, filters: Any, sort_by: str, sort_order: str, *, path: str
) -> list[str]:
    """Every problem with one saved search's sort and filters, prefixed with its YAML path."""
    return check_sort(platform, sort_by, sort_order, path=path) + check_filters(
        platform, filters, path=f"{path}.filters"
    )


def check_search_destination(
    config: SheetSourceSettings | HubSpotSourceSettings, platform: str, *, path: str
) -> list[str]:
    """Problems that would leave delivered creators without a usable platform."""
    column = (
        config.platform_column
        if isinstance(config, SheetSourceSettings)
        else config.platform_property
    )
    if column:
        return []
    if config.platform is None:
        what = "platform_column" if isinstance(config, SheetSourceSettings) else "platform_property"
        return [
            f"{path}: destination {config.name!r} has neither {what} nor a fixed platform, so "
            f"appended {platform} handles could not be enriched (set one of them)"
        ]
    if config.platform != platform:
        return [
            f"{path}: destination {config.name!r} is fixed to {config.platform}, but the search "
            f"is on {platform}"
        ]
    return []
