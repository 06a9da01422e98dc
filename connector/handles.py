"""Pure parsing of the handle text people paste: platform detection, normalisation, rejection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from connector.errors import InvalidHandleError

PLATFORMS = ("instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans")

_PLATFORM_ALIASES = {
    "instagram": "instagram",
    "ig": "instagram",
    "insta": "instagram",
    "youtube": "youtube",
    "yt": "youtube",
    "you tube": "youtube",
    "tiktok": "tiktok",
    "tik tok": "tiktok",
    "tt": "tiktok",
    "twitter": "twitter",
    "x": "twitter",
    "x.com": "twitter",
    "x (twitter)": "twitter",
    "twitch": "twitch",
    "onlyfans": "onlyfans",
    "of": "onlyfans",
}

PLACEHOLDERS = frozenset(
    {
        "",
        "-",
        "--",
        "---",
        "_",
        "?",
        "??",
        "n/a",
        "na",
        "n.a.",
        "none",
        "null",
        "nil",
        "tbd",
        "tba",
        "unknown",
        "no",
        "nope",
        "x",
        "xx",
        "xxx",
        "#n/a",
        "undefined",
        "@",
    }
)

# What each platform allows in a username; the API limit is 200 characters overall.
_NAME = {
    "instagram": re.compile(r"^[A-Za-z0-9._]{1,30}$"),
    "tiktok": re.compile(r"^[A-Za-z0-9._]{2,24}$"),
    "twitter": re.compile(r"^[A-Za-z0-9_]{1,15}$"),
    "twitch": re.compile(r"^[A-Za-z0-9_]{3,25}$"),
    "youtube": re.compile(r"^[A-Za-z0-9._-]{1,100}$"),
    "onlyfans": re.compile(r"^[A-Za-z0-9._-]{1,50}$"),
}
_ALLOWED_CHARS = {
    platform: re.compile(pattern.pattern.split("{")[0].lstrip("^") + "$")
    for platform, pattern in _NAME.items()
}
_YOUTUBE_CHANNEL = re.compile(r"^UC[A-Za-z0-9_-]{22}$")

_HOSTS = {
    "instagram.com": "instagram",
    "instagr.am": "instagram",
    "tiktok.com": "tiktok",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "twitch.tv": "twitch",
    "onlyfans.com": "onlyfans",
}
_RESERVED_FIRST_SEGMENTS = {
    "instagram": {"p", "reel", "reels", "tv", "stories", "explore", "accounts", "direct"},
    "twitter": {"i", "home", "intent", "search", "share", "hashtag", "explore", "settings"},
    "tiktok": {"video", "tag", "discover", "music", "t"},
    "twitch": {"videos", "directory", "p", "settings"},
}


@dataclass(frozen=True)
class Handle:
    """A normalised handle: ``value`` is sent to the API, ``key`` identifies the creator."""

    platform: str
    value: str

    @property
    def handle_key(self) -> str:
        """The handle as the ledger and de-duplication compare it (channel ids keep their case).

        Handles are case-insensitive on every platform, so they are case-folded; a YouTube
        channel id (``UC`` + 22 characters) is case-sensitive and kept as given.
        """
        if self.platform == "youtube" and is_channel_id(self.value):
            return self.value
        return self.value.removeprefix("@").casefold()

    @property
    def key(self) -> str:
        """``platform:handle_key`` — one creator on one platform."""
        return f"{self.platform}:{self.handle_key}"


_PROFILE_URLS = {
    "instagram": "https://www.instagram.com/{}",
    "tiktok": "https://www.tiktok.com/@{}",
    "twitter": "https://x.com/{}",
    "twitch": "https://www.twitch.tv/{}",
    "onlyfans": "https://onlyfans.com/{}",
}


def format_profile_url(platform: str, value: str) -> str:
    """The profile URL of a handle (``parse_handle`` reads it back as the same creator)."""
    name = value.strip()
    if platform == "youtube":
        if is_channel_id(name):
            return f"https://www.youtube.com/channel/{name}"
        if name.startswith("@"):
            return f"https://www.youtube.com/{name}"
        return f"https://www.youtube.com/c/{name}"
    return _PROFILE_URLS[platform].format(name.lstrip("@"))


def is_channel_id(text: str) -> bool:
    """Whether ``text`` is a YouTube channel id (``UC`` + 22 characters; case-sensitive)."""
    return _YOUTUBE_CHANNEL.match(text) is not None


def parse_platform(text: str | None) -> str | None:
    """Turn ``Instagram``, ``IG``, ``X`` … into the API's platform name; ``None`` when blank."""
    if text is None or not str(text).strip():
        return None
    cleaned = " ".join(str(text).strip().lower().split())
    platform = _PLATFORM_ALIASES.get(cleaned)
    if platform is None:
        raise InvalidHandleError(
            f"unknown platform {str(text).strip()!r}",
            hint=f"use one of: {', '.join(PLATFORMS)}",
        )
    return platform


def detect_platform(text: str) -> str | None:
    """The platform a profile URL points at, or ``None`` when ``text`` is not such a URL."""
    parsed = _split_url(text.strip())
    return _HOSTS.get(parsed[0]) if parsed else None


def parse_handle(text: object, platform: str | None = None) -> Handle:
    """Normalise pasted text (``@name``, profile URL, channel id) into a ``Handle``.

    ``platform`` is the platform from a column/property or the source's fixed platform.
    Raises ``InvalidHandleError`` with a reason a human can act on.
    """
    raw = "" if text is None else str(text)
    cleaned = raw.strip().strip("\u200b\ufeff").strip()
    if cleaned.casefold() in PLACEHOLDERS:
        raise InvalidHandleError("empty or placeholder value", hint="paste a handle or URL")
    if len(cleaned) > 200:
        raise InvalidHandleError(f"too long ({len(cleaned)} characters; at most 200)")
    expected = parse_platform(platform) if platform else None

    url = _split_url(cleaned)
    if url is not None:
        return _parse_url(url, expected, cleaned)
    if any(sep in cleaned for sep in (",", ";", "\n")):
        raise InvalidHandleError("several handles in one cell", hint="put one handle per row")
    if any(ch.isspace() for ch in cleaned):
        raise InvalidHandleError("contains spaces", hint="a handle has no spaces")
    if expected is None:
        raise InvalidHandleError(
            "no platform", hint="set the platform column, a fixed platform, or paste a profile URL"
        )
    name = cleaned[1:] if cleaned.startswith("@") else cleaned
    if expected == "youtube" and cleaned.startswith("@"):
        # YouTube resolves the @-form of a handle; a bare word may be a legacy username.
        return Handle(expected, "@" + _check_name(expected, name))
    return Handle(expected, _check_name(expected, name))


def _split_url(text: str) -> tuple[str, list[str]] | None:
    candidate = text
    if "://" not in candidate:
        if not re.match(r"^(?:www\.|m\.|mobile\.)?[a-z0-9.-]+\.[a-z]{2,}/", candidate, re.I):
            return None
        candidate = "https://" + candidate
    parts = urlsplit(candidate)
    host = (parts.hostname or "").lower()
    for prefix in ("www.", "m.", "mobile.", "vm.", "vt."):
        if host.startswith(prefix):
            host = host[len(prefix) :]
    if host not in _HOSTS:
        if "://" in text:
            raise InvalidHandleError(
                f"not a supported profile URL ({host or 'no host'})",
                hint=f"use a profile link on {', '.join(PLATFORMS)}",
            )
        return None
    segments = [unquote(s) for s in parts.path.split("/") if s]
    return host, segments


def _parse_url(url: tuple[str, list[str]], expected: str | None, original: str) -> Handle:
    host, segments = url
    platform = _HOSTS[host]
    if expected and expected != platform:
        raise InvalidHandleError(
            f"the URL is a {platform} profile but the platform says {expected}",
            hint="fix the platform or the link",
        )
    if "vm.tiktok.com" in original.lower() or "vt.tiktok.com" in original.lower():
        raise InvalidHandleError(
            "TikTok short link", hint="paste the profile URL (tiktok.com/@name)"
        )
    if not segments:
        raise InvalidHandleError(f"the {platform} URL has no profile name")
    first = segments[0]
    if platform == "youtube":
        return Handle(platform, _parse_youtube(host, segments))
    if first.lower() in _RESERVED_FIRST_SEGMENTS.get(platform, set()):
        raise InvalidHandleError(
            f"a {platform} post or page link, not a profile", hint="paste the profile URL"
        )
    if platform == "tiktok":
        if not first.startswith("@"):
            raise InvalidHandleError("not a TikTok profile URL", hint="use tiktok.com/@name")
        first = first[1:]
    return Handle(platform, _check_name(platform, first.lstrip("@")))


def _parse_youtube(host: str, segments: list[str]) -> str:
    first = segments[0]
    if host == "youtu.be" or first in ("watch", "shorts", "embed", "playlist", "results"):
        raise InvalidHandleError(
            "a YouTube video link, not a channel", hint="paste the channel URL (youtube.com/@name)"
        )
    if first.startswith("@"):
        return "@" + _check_name("youtube", first[1:])
    if first in ("channel", "c", "user") and len(segments) > 1:
        if first == "channel":
            if not _YOUTUBE_CHANNEL.match(segments[1]):
                raise InvalidHandleError(f"not a YouTube channel id: {segments[1]!r}")
            return segments[1]
        return _check_name("youtube", segments[1])
    return _check_name("youtube", first)


def _check_name(platform: str, name: str) -> str:
    if not name:
        raise InvalidHandleError("empty handle")
    if any(ch.isspace() for ch in name):
        raise InvalidHandleError("contains spaces", hint="a handle has no spaces")
    if platform == "youtube" and _YOUTUBE_CHANNEL.match(name):
        return name
    if not _NAME[platform].match(name):
        allowed = _ALLOWED_CHARS[platform]
        bad = sorted({ch for ch in name if not allowed.match(ch)})
        detail = f"illegal characters {''.join(bad)!r}" if bad else "wrong length or characters"
        raise InvalidHandleError(f"not a valid {platform} handle: {detail}")
    return name
