"""Tests for the social_links transform: profile URLs recognised, canonical, deduped and ordered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping import apply_mapping, build_root, load_mapping, normalise_profile
from connector.mapping.social import (
    PLATFORM_ORDER,
    parse_handle,
    parse_profile_url,
    read_candidates,
    select_links,
)
from connector.mapping.transforms import TransformEnv, apply_transforms
from connector.sandbox.payloads import build_profile
from connector.sandbox.profile_result import get_generation
from connector.sandbox.profiles import build_creator

SAMPLES = Path(__file__).parent / "data" / "samples"
CHANNEL = "UCxxxxxxxxxxxxxxxxxxxxxx"


def links(value: Any, platform: str, **block: Any) -> list[str] | None:
    root = {platform: block, "_meta": {"platform": platform}}
    return select_links(value, root)


# The examples of tests/data/MAPPING_NOTES.md §2.2, written from the real samples' shapes.
@pytest.mark.parametrize(
    ("platform", "value", "expected"),
    [
        (
            "twitter",
            {
                "accounts": [{"twitter": "elonmusk"}, None, None, ["https://www.terafab.ai"]],
                "mentioned": [
                    None,
                    ["https://www.terafab.ai"],
                    {"twitter": ["battleangelviv", "reddit_lies"]},
                ],
            },
            [],
        ),
        (
            "instagram",
            [
                "https://www.instagram.com/jane.example",
                f"https://www.youtube.com/channel/{CHANNEL}",
                {"youtube": "@janeexample"},
            ],
            [f"https://www.youtube.com/channel/{CHANNEL}"],
        ),
        (
            "twitch",
            [
                {"twitch": "janeplays"},
                {
                    "twitter": "janeplays",
                    "instagram": "https://instagram.com/jane.plays/",
                    "youtube": None,
                },
            ],
            ["https://www.instagram.com/jane.plays", "https://x.com/janeplays"],
        ),
        (
            "tiktok",
            {
                "accounts": [{"tiktok": "khaby.lame"}],
                "mentioned": [
                    "https://www.instagram.com/khaby.lame?igsh=abc",
                    "https://www.instagram.com/someone_else",
                    "https://x.com/khaby.lame/status/1",
                ],
            },
            ["https://www.instagram.com/khaby.lame"],
        ),
        (
            "instagram",
            [
                "https://www.instagram.com/p/ABC/",
                "https://youtu.be/xyz",
                "https://twitter.com/i/web/status/1",
                "https://www.tiktok.com/@x/video/1",
                "https://linktr.ee/x",
                "not a url",
            ],
            [],
        ),
    ],
    ids=["x-mentions-strangers", "aug-2026-links", "twitch-social", "mentioned", "no-profiles"],
)
def test_the_documented_examples(platform: str, value: Any, expected: list[str]) -> None:
    assert links(value, platform) == expected


def test_the_youtube_sample_names_his_instagram_x_and_facebook_accounts() -> None:
    profile = normalise_profile(json.loads((SAMPLES / "full-youtube-mrbeast.json").read_text()))
    root = build_root(profile, "youtube")
    value = {
        "accounts": [
            {"instagram": profile["instagram"]["username"], "youtube": profile["youtube"]["link"]},
            {"twitter": profile["twitter"]["username"]},
            profile["links_in_bio"],
        ],
        "mentioned": profile["other_links"],
    }
    assert select_links(value, root) == [
        "https://www.instagram.com/mrbeast",
        "https://x.com/mrbeast",
        "https://www.facebook.com/mrbeast",
    ]
    strangers = ["colinfurze", "DoorDash", "lionwatchprojectsa", "Possumbilities21"]
    everything = select_links(value, root, per_platform=9)
    assert everything is not None
    assert not [url for url in everything if any(s in url for s in strangers)]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("https://www.instagram.com/jane/", "https://www.instagram.com/jane"),
        ("instagram.com/jane?hl=en#top", "https://www.instagram.com/jane"),
        ("//m.facebook.com/Jane.Page", "https://www.facebook.com/Jane.Page"),
        ("http://mobile.twitter.com/jane", "https://x.com/jane"),
        ("https://x.com/jane", "https://x.com/jane"),
        ("https://www.youtube.com/@Jane", "https://www.youtube.com/@Jane"),
        ("https://youtube.com/c/JaneShow", "https://www.youtube.com/c/JaneShow"),
        ("https://youtube.com/user/jane1", "https://www.youtube.com/user/jane1"),
        ("https://www.tiktok.com/@jane.t", "https://www.tiktok.com/@jane.t"),
        ("https://www.twitch.tv/janeplays", "https://www.twitch.tv/janeplays"),
        ("https://onlyfans.com/jane", "https://onlyfans.com/jane"),
        ("https://www.snapchat.com/add/jane", "https://www.snapchat.com/add/jane"),
        ("https://discord.com/invite/AbC12", "https://discord.gg/AbC12"),
        ("https://discord.gg/AbC12", "https://discord.gg/AbC12"),
        ("https://pinterest.com/jane", "https://www.pinterest.com/jane"),
        ("https://www.linkedin.com/in/jane-doe", "https://www.linkedin.com/in/jane-doe"),
        ("https://fb.com/jane", "https://www.facebook.com/jane"),
    ],
)
def test_profile_urls_are_recognised_and_made_canonical(text: str, url: str) -> None:
    account = parse_profile_url(text)
    assert account is not None and account.url == url


@pytest.mark.parametrize(
    "text",
    [
        "https://www.instagram.com/reel/abc",
        "https://www.instagram.com/",
        "https://twitter.com/MrBeast/status/1",
        "https://x.com/intent/follow",
        "https://www.youtube.com/watch?v=1",
        "https://youtu.be/abc",
        "https://www.tiktok.com/jane",
        "https://www.facebook.com/watch",
        "https://www.twitch.tv/videos/1",
        "https://linktr.ee/jane",
        "ftp://instagram.com/jane",
        "jane",
        "",
    ],
)
def test_anything_but_a_profile_is_dropped(text: str) -> None:
    assert parse_profile_url(text) is None


def test_handles_become_profile_urls_and_channel_ids_keep_their_case() -> None:
    assert parse_handle("youtube", CHANNEL) == parse_profile_url(
        f"https://www.youtube.com/channel/{CHANNEL}"
    )
    assert [a.url for a in read_candidates({"youtube": "@MrBeast", "tiktok": ["@a", None]})] == [
        "https://www.youtube.com/@MrBeast",
        "https://www.tiktok.com/@a",
    ]
    assert parse_handle("instagram", "two words") is None
    lower = parse_profile_url(f"https://www.youtube.com/channel/{CHANNEL.lower()}")
    upper = parse_profile_url(f"https://www.youtube.com/channel/{CHANNEL}")
    assert lower is not None and upper is not None and lower.key != upper.key
    one = parse_profile_url("https://x.com/MrBeast")
    two = parse_profile_url("https://twitter.com/mrbeast/")
    assert one is not None and two is not None and one.key == two.key


def test_the_first_spelling_wins_and_the_order_is_the_apis() -> None:
    value = ["https://twitch.tv/Jane", "https://twitter.com/JaneX", "https://x.com/janex", "x"]
    assert links(value, "instagram") == ["https://x.com/JaneX", "https://www.twitch.tv/Jane"]
    assert select_links(
        ["https://x.com/a", "https://x.com/b"],
        {"_meta": {"platform": "youtube"}},
        per_platform=2,
    ) == ["https://x.com/a", "https://x.com/b"]
    assert select_links(
        ["https://x.com/a"], {"_meta": {"platform": "twitter"}}, include_own=True
    ) == ["https://x.com/a"]


def test_mentioned_links_count_under_the_requested_blocks_name() -> None:
    mentioned = {"mentioned": ["https://instagram.com/Jane_Y", "https://instagram.com/other"]}
    assert links(mentioned, "youtube", custom_url="@jane_y") == ["https://www.instagram.com/Jane_Y"]
    assert links(mentioned, "youtube") == []


def test_the_transform_reads_the_requested_platform_from_the_root() -> None:
    env = TransformEnv(root={"_meta": {"platform": "instagram"}})
    value = ["https://instagram.com/a", "https://x.com/a"]
    assert apply_transforms(value, [("social_links", ())], env) == ["https://x.com/a"]
    assert apply_transforms(None, [("social_links", ())], env) is None


handles = st.from_regex(r"[A-Za-z0-9_.]{1,12}", fullmatch=True)
urls = st.builds(
    lambda host, name, tail: f"https://{host}/{name}{tail}",
    st.sampled_from(
        ["instagram.com", "www.x.com", "twitter.com", "twitch.tv", "facebook.com", "linktr.ee"]
    ),
    handles,
    st.sampled_from(["", "/", "?a=1", "/status/1"]),
)
candidates = st.recursive(
    st.none() | urls | handles | st.integers(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from([*PLATFORM_ORDER, "other"]), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(
    accounts=candidates,
    mentioned=candidates,
    platform=st.sampled_from(PLATFORM_ORDER),
    per_platform=st.integers(1, 3),
)
def test_links_are_canonical_unique_capped_ordered_and_never_the_own_platform(
    accounts: Any, mentioned: Any, platform: str, per_platform: int
) -> None:
    root = {"_meta": {"platform": platform}}
    value = {"accounts": accounts, "mentioned": mentioned}
    result = select_links(value, root, per_platform=per_platform)
    assert result is not None
    parsed = [parse_profile_url(url) for url in result]
    assert all(a is not None and a.url == url for a, url in zip(parsed, result, strict=True))
    found = [a.platform for a in parsed if a is not None]
    assert platform not in found
    assert found == sorted(found, key=PLATFORM_ORDER.index)
    assert all(found.count(p) <= per_platform for p in found)
    assert len({a.key for a in parsed if a is not None}) == len(result)
    # canonical output read again as accounts gives itself back
    assert select_links(result, root, per_platform=per_platform) == result
    # mentioned links never add an account under a handle the creator is not known by
    strong = select_links({"accounts": accounts}, root, per_platform=per_platform)
    known = {a.handle.casefold() for a in read_candidates(accounts)}
    for account in parsed:
        assert account is not None
        if account.url not in (strong or []):
            assert account.handle.casefold() in known


@pytest.mark.parametrize(
    ("platform", "generation"),
    [("youtube", "apr-2026"), ("youtube", "aug-2026"), ("instagram", "aug-2026")],
)
def test_the_shipped_mapping_fills_social_links_from_both_sandbox_generations(
    platform: str, generation: str
) -> None:
    mapping = load_mapping(Path(__file__).resolve().parent.parent / "mappings/sheets_default.yaml")
    filled = 0
    for i in range(200):
        creator = build_creator(platform, f"found{i}")
        if get_generation(creator) != generation:
            continue
        profile = build_profile(platform, f"found{i}", not_found_rate=0.0)
        assert profile is not None
        others = set(profile.get("creator_has", {})) - {platform}
        result = apply_mapping(mapping, profile, platform=platform, current={}, last_hashes={})
        links = result.changes.get("Social Links")
        assert bool(links) is bool(others), (i, others, links)
        if links:
            filled += 1
            assert all(url.endswith(creator.identity) for url in links.split(", "))
    assert filled >= 3
