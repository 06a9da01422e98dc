"""Handle normalisation: every form people paste, and every reason to refuse one."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from connector.errors import InvalidHandleError
from connector.handles import Handle, detect_platform, parse_handle, parse_platform

CHANNEL = "UCX6OQ3DkcsbYNE6H8uQQuVA"


@pytest.mark.parametrize(
    ("text", "platform", "expected"),
    [
        ("cristiano", "instagram", ("instagram", "cristiano")),
        ("  @Cristiano  ", "instagram", ("instagram", "Cristiano")),
        ("\ufeffjane.example\u200b", "instagram", ("instagram", "jane.example")),
        ("https://www.instagram.com/jane.example/", None, ("instagram", "jane.example")),
        (
            "instagram.com/jane_example?utm_source=ig_web&igsh=abc",
            None,
            ("instagram", "jane_example"),
        ),
        ("http://instagram.com/Jane.Example#top", None, ("instagram", "Jane.Example")),
        ("https://m.instagram.com/jane/", "Instagram", ("instagram", "jane")),
        ("https://www.tiktok.com/@khaby.lame", None, ("tiktok", "khaby.lame")),
        ("tiktok.com/@khaby.lame?lang=en", None, ("tiktok", "khaby.lame")),
        ("https://www.tiktok.com/@khaby.lame/video/123", None, ("tiktok", "khaby.lame")),
        ("@khaby.lame", "TikTok", ("tiktok", "khaby.lame")),
        ("https://www.youtube.com/@MrBeast", None, ("youtube", "@MrBeast")),
        ("https://youtube.com/@MrBeast/videos", None, ("youtube", "@MrBeast")),
        (f"https://www.youtube.com/channel/{CHANNEL}", None, ("youtube", CHANNEL)),
        (f"https://www.youtube.com/channel/{CHANNEL}/featured?sub=1", None, ("youtube", CHANNEL)),
        ("https://www.youtube.com/c/MrBeast6000", None, ("youtube", "MrBeast6000")),
        ("https://www.youtube.com/user/PewDiePie", None, ("youtube", "PewDiePie")),
        (CHANNEL, "youtube", ("youtube", CHANNEL)),
        ("@MrBeast", "yt", ("youtube", "@MrBeast")),
        ("https://x.com/elonmusk", None, ("twitter", "elonmusk")),
        ("https://twitter.com/elonmusk/", None, ("twitter", "elonmusk")),
        ("https://mobile.twitter.com/elonmusk?s=20", None, ("twitter", "elonmusk")),
        ("@elonmusk", "X", ("twitter", "elonmusk")),
        ("https://www.twitch.tv/kaicenat", None, ("twitch", "kaicenat")),
        ("kaicenat", "twitch", ("twitch", "kaicenat")),
        ("https://onlyfans.com/someone", None, ("onlyfans", "someone")),
    ],
)
def test_parse_handle_normalises_pasted_forms(
    text: str, platform: str | None, expected: tuple[str, str]
) -> None:
    handle = parse_handle(text, platform)
    assert (handle.platform, handle.value) == expected


@pytest.mark.parametrize(
    ("text", "platform", "reason"),
    [
        ("", "instagram", "empty or placeholder"),
        ("   ", "instagram", "empty or placeholder"),
        ("n/a", "instagram", "empty or placeholder"),
        ("N/A", "instagram", "empty or placeholder"),
        ("-", "instagram", "empty or placeholder"),
        ("none", "tiktok", "empty or placeholder"),
        ("@", "tiktok", "empty or placeholder"),
        ("jane example", "instagram", "contains spaces"),
        ("jane,john", "instagram", "several handles"),
        ("jane; john", "instagram", "several handles"),
        ("jane!", "instagram", "illegal characters '!'"),
        ("jané", "instagram", "illegal characters"),
        ("a" * 31, "instagram", "not a valid instagram handle"),
        ("a" * 201, "instagram", "too long"),
        ("elon-musk", "twitter", "illegal characters"),
        ("jane", None, "no platform"),
        ("jane", "myspace", "unknown platform"),
        ("https://www.instagram.com/p/Cabc123/", None, "post or page link"),
        ("https://www.instagram.com/", None, "has no profile name"),
        ("https://www.tiktok.com/video/123", None, "post or page link"),
        ("https://vm.tiktok.com/ZMabc/", None, "short link"),
        ("https://www.youtube.com/watch?v=abc", None, "video link"),
        ("https://youtu.be/abc", None, "video link"),
        ("https://www.youtube.com/channel/notachannel", None, "not a YouTube channel id"),
        ("https://x.com/i/status/1", None, "post or page link"),
        ("https://www.facebook.com/jane", None, "not a supported profile URL"),
        ("https://www.instagram.com/jane/", "tiktok", "is a instagram profile"),
    ],
)
def test_parse_handle_rejects_with_an_actionable_reason(
    text: str, platform: str | None, reason: str
) -> None:
    with pytest.raises(InvalidHandleError) as info:
        parse_handle(text, platform)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("@Cristiano", "instagram"), ("https://instagram.com/cristiano/", None)),
        (("KHABY.LAME", "tiktok"), ("tiktok.com/@khaby.lame", None)),
        (("@MrBeast", "youtube"), ("https://youtube.com/@mrbeast", None)),
        (("ElonMusk", "x"), ("https://x.com/elonmusk", None)),
    ],
)
def test_same_creator_gets_the_same_key(
    a: tuple[str, str | None], b: tuple[str, str | None]
) -> None:
    assert parse_handle(*a).key == parse_handle(*b).key


def test_key_is_platform_and_casefolded_handle() -> None:
    assert Handle("instagram", "Jane.Example").key == "instagram:jane.example"


CHANNEL = "UCX6OQ3DkcsbYNE6H8uQQuVA"


@pytest.mark.parametrize(
    "text",
    [CHANNEL, f"https://www.youtube.com/channel/{CHANNEL}", f" youtube.com/channel/{CHANNEL}/ "],
)
def test_a_youtube_channel_id_keeps_its_case_in_the_key(text: str) -> None:
    assert parse_handle(text, "youtube").key == f"youtube:{CHANNEL}"


def test_channel_ids_differing_in_case_are_two_creators_and_names_stay_casefolded() -> None:
    other = "UCx6oq3dkcsbyne6h8uqquva"
    assert parse_handle(CHANNEL, "youtube").key != parse_handle(other, "youtube").key
    assert parse_handle("@MrBeast", "youtube").key == "youtube:mrbeast"
    assert parse_handle("MrBeast", "youtube").key == "youtube:mrbeast"
    # only the exact UC + 22 form is an id; anything else is a case-insensitive name
    assert parse_handle(CHANNEL.lower(), "youtube").key == f"youtube:{CHANNEL.lower()}"
    assert parse_handle(f"@{CHANNEL}", "youtube").key == f"youtube:{CHANNEL.lower()}"
    assert Handle("instagram", CHANNEL).key == f"instagram:{CHANNEL.lower()}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Instagram", "instagram"),
        (" ig ", "instagram"),
        ("X", "twitter"),
        ("Tik Tok", "tiktok"),
        ("YT", "youtube"),
        ("", None),
        (None, None),
    ],
)
def test_parse_platform_accepts_aliases(text: str | None, expected: str | None) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://www.tiktok.com/@a", "tiktok"),
        ("x.com/a", "twitter"),
        ("jane", None),
        ("twitch.tv/kaicenat", "twitch"),
    ],
)
def test_detect_platform_from_urls(text: str, expected: str | None) -> None:
    assert detect_platform(text) == expected


@given(
    st.text(max_size=250),
    st.sampled_from([None, "instagram", "tiktok", "youtube", "twitter", "twitch"]),
)
def test_parse_handle_only_ever_raises_invalid_handle(text: str, platform: str | None) -> None:
    try:
        handle = parse_handle(text, platform)
    except InvalidHandleError as exc:
        assert str(exc)
    else:
        assert handle.value
        assert not any(ch.isspace() for ch in handle.value)
        assert len(handle.value) <= 200
        assert handle.platform in {
            "instagram",
            "tiktok",
            "youtube",
            "twitter",
            "twitch",
            "onlyfans",
        }


@given(st.from_regex(r"[A-Za-z0-9_]{1,15}", fullmatch=True))
def test_valid_twitter_names_round_trip_through_urls(name: str) -> None:
    assume(
        name.lower()
        not in {"i", "home", "intent", "search", "share", "hashtag", "explore", "settings"}
    )
    assert parse_handle(f"https://x.com/{name}").value == name
    assert parse_handle(f"@{name}", "twitter").key == f"twitter:{name.casefold()}"
