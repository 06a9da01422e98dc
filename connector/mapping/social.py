"""Social profile links: recognise a creator's accounts in URLs and handles, canonical and deduped.

Pure functions behind the ``social_links`` transform (docs/mappings.md). The API names a
creator's other accounts in several forms that changed over time (``<platform>_link`` keys,
other platforms' summary blocks, ``twitch.social_media``, links in bio); links harvested from
content (``other_links``, ``twitter.platforms``) also name strangers, so they count only under
a handle the creator is already known by.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

# The API's platform order (influencers.club reference §6.3); Social Links follows it.
PLATFORM_ORDER = (
    "instagram",
    "youtube",
    "tiktok",
    "onlyfans",
    "twitter",
    "snapchat",
    "discord",
    "pinterest",
    "facebook",
    "linkedin",
    "twitch",
)
_HOSTS = {
    "instagram.com": "instagram",
    "youtube.com": "youtube",
    "tiktok.com": "tiktok",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "twitch.tv": "twitch",
    "onlyfans.com": "onlyfans",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "snapchat.com": "snapchat",
    "discord.gg": "discord",
    "discord.com": "discord",
    "pinterest.com": "pinterest",
    "linkedin.com": "linkedin",
}
_HOST_PREFIXES = ("www.", "m.", "mobile.")
# First path segments that are site pages, not profiles.
_RESERVED = {
    "instagram": {"p", "reel", "reels", "tv", "stories", "explore", "accounts", "direct"},
    "twitter": {"i", "intent", "share", "home", "search", "hashtag", "explore", "settings"}
    | {"messages"},
    "twitch": {"directory", "videos", "p", "downloads", "jobs", "settings"},
    "facebook": {"watch", "share", "sharer", "events", "groups", "photo", "photos", "story.php"}
    | {"profile.php", "reel"},
    "onlyfans": set(),
    "pinterest": set(),
}
_CANONICAL = {
    "instagram": "https://www.instagram.com/{}",
    "tiktok": "https://www.tiktok.com/@{}",
    "twitter": "https://x.com/{}",
    "twitch": "https://www.twitch.tv/{}",
    "onlyfans": "https://onlyfans.com/{}",
    "facebook": "https://www.facebook.com/{}",
    "snapchat": "https://www.snapchat.com/add/{}",
    "discord": "https://discord.gg/{}",
    "pinterest": "https://www.pinterest.com/{}",
}
_SEGMENT = re.compile(r"^@?[\w.\-~%]+$")
_HANDLE = re.compile(r"^[\w.\-]+$")
_CHANNEL_ID = re.compile(r"^UC[\w-]{22}$")
_BARE_URL = re.compile(r"^[\w-]+(\.[\w-]+)*\.[A-Za-z]{2,}/")


@dataclass(frozen=True)
class Account:
    """One profile: its platform, canonical URL and the handle it is known by."""

    platform: str
    url: str
    handle: str
    case_sensitive: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """What two spellings of the same account share (channel ids keep their case)."""
        return self.platform, self.handle if self.case_sensitive else self.handle.casefold()


def parse_profile_url(text: str) -> Account | None:
    """The account a profile URL names, or None for anything else (posts, videos, other sites)."""
    raw = text.strip()
    if raw.startswith("//"):
        raw = "https:" + raw
    elif "://" not in raw:
        if not _BARE_URL.match(raw):
            return None
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https"):
        return None
    host = (parts.hostname or "").lower()
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix):
            host = host[len(prefix) :]
            break
    platform = _HOSTS.get(host)
    if platform is None:
        return None
    path = parts.path[:-1] if parts.path.endswith("/") else parts.path
    segments = path.split("/")[1:] if path.startswith("/") else []
    if not segments or not all(_SEGMENT.match(s) for s in segments):
        return None
    return _profile(platform, host, segments)


def _profile(platform: str, host: str, segments: list[str]) -> Account | None:
    first = segments[0]
    if platform == "youtube":
        return _youtube_path(segments)
    if platform == "tiktok":
        if len(segments) == 1 and first.startswith("@") and len(first) > 1:
            return _account(platform, first[1:])
        return None
    if platform == "snapchat":
        return _account(platform, segments[1]) if len(segments) == 2 and first == "add" else None
    if platform == "discord":
        code = first if host == "discord.gg" and len(segments) == 1 else None
        if host == "discord.com" and len(segments) == 2 and first == "invite":
            code = segments[1]
        if code is None:
            return None
        return _account(platform, code, case_sensitive=True)
    if platform == "linkedin":
        if len(segments) == 2 and first in ("in", "company"):
            url = f"https://www.linkedin.com/{first}/{segments[1]}"
            return Account(platform, url, segments[1])
        return None
    if len(segments) != 1 or first.casefold() in _RESERVED[platform]:
        return None
    return _account(platform, first)


def _youtube_path(segments: list[str]) -> Account | None:
    first = segments[0]
    if len(segments) == 1 and first.startswith("@") and len(first) > 1:
        return Account("youtube", f"https://www.youtube.com/{first}", first[1:])
    if len(segments) != 2 or first not in ("channel", "c", "user"):
        return None
    url = f"https://www.youtube.com/{first}/{segments[1]}"
    if first == "channel":
        return Account("youtube", url, segments[1], case_sensitive=True)
    return Account("youtube", url, segments[1])


def _account(platform: str, handle: str, *, case_sensitive: bool = False) -> Account:
    return Account(platform, _CANONICAL[platform].format(handle), handle, case_sensitive)


def parse_handle(platform: str, text: str) -> Account | None:
    """The account a bare handle names on ``platform`` (``@`` stripped); a URL is read as one."""
    value = text.strip()
    if "/" in value:
        return parse_profile_url(value)
    value = value.removeprefix("@")
    if not value or not _HANDLE.match(value):
        return None
    if platform == "youtube":
        if _CHANNEL_ID.match(value):
            return _youtube_path(["channel", value])
        return _youtube_path([f"@{value}"])
    if platform == "linkedin":
        return Account(platform, f"https://www.linkedin.com/in/{value}", value)
    return _account(platform, value, case_sensitive=platform == "discord")


def read_candidates(value: Any) -> Iterator[Account]:
    """Every account named by a candidate: URLs, ``{platform: handle|URL|[…]}``, nested lists."""
    if isinstance(value, str):
        account = parse_profile_url(value)
        if account is not None:
            yield account
    elif isinstance(value, list):
        for item in value:
            yield from read_candidates(item)
    elif isinstance(value, Mapping):
        for platform, named in value.items():
            if platform in PLATFORM_ORDER:
                yield from _read_named(platform, named)


def _read_named(platform: str, value: Any) -> Iterator[Account]:
    if isinstance(value, str):
        account = parse_handle(platform, value)
        if account is not None:
            yield account
    elif isinstance(value, list):
        for item in value:
            yield from _read_named(platform, item)


def _known_handles(root: Mapping[str, Any], platform: str | None) -> set[str]:
    block = root.get(platform) if platform else None
    if not isinstance(block, Mapping):
        return set()
    names = (block.get("username"), block.get("custom_url"))
    return {n.strip().removeprefix("@").casefold() for n in names if isinstance(n, str)}


def select_links(
    value: Any,
    root: Mapping[str, Any],
    *,
    per_platform: int = 1,
    include_own: bool = False,
) -> list[str] | None:
    """The creator's profile URLs from ``value`` (a candidate list or accounts/mentioned).

    ``root`` is the object sources see; its ``_meta.platform`` is the requested platform.
    """
    if value is None:
        return None
    if isinstance(value, Mapping) and ("accounts" in value or "mentioned" in value):
        strong, mentioned = value.get("accounts"), value.get("mentioned")
    else:
        strong, mentioned = value, None
    meta = root.get("_meta")
    requested = meta.get("platform") if isinstance(meta, Mapping) else None
    known = _known_handles(root, requested)
    picked: dict[str, list[Account]] = {}
    seen: set[tuple[str, str]] = set()

    def keep(account: Account) -> None:
        if account.key in seen or len(picked.get(account.platform, ())) >= per_platform:
            return
        seen.add(account.key)
        picked.setdefault(account.platform, []).append(account)

    for account in read_candidates(strong):
        known.add(account.handle.casefold())
        keep(account)
    for account in read_candidates(mentioned):
        if account.handle.casefold() in known:
            keep(account)
    return [
        account.url
        for platform in PLATFORM_ORDER
        if include_own or platform != requested
        for account in picked.get(platform, ())
    ]
