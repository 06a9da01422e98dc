"""Tests for the payload-key lint: AST walking, the vocabulary, and where warnings point."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import MappingError
from connector.mapping import check_mapping_files, load_mapping, parse_mapping
from connector.mapping.source_paths import PLACEHOLDER, check_paths, read_paths
from connector.mapping.vocabulary import load_vocabulary

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "mappings").glob("*.yaml"))


def messages(expression: str) -> list[str]:
    return [u.message for u in check_paths(read_paths(expression))]


def test_paths_are_read_from_the_ast() -> None:
    assert read_paths("[ai_niches[].niche, {platform}.income.min, x[?p != 'y'].q]") == [
        ("ai_niches",),
        ("ai_niches", "niche"),
        (PLACEHOLDER,),
        (PLACEHOLDER, "income"),
        (PLACEHOLDER, "income", "min"),
        ("x",),
        ("x", "q"),
        ("x", "p"),
    ]
    assert read_paths("a.b.c") == [("a",), ("a", "b"), ("a", "b", "c")]
    assert read_paths("a[0].b | c") == [("a",), ("a", "b"), ("a", "b", "c")]
    assert read_paths("$profile_url") == [("_meta",), ("_meta", "profile_url")]
    # what an expression builds is no payload position: keys read from it are not checked
    assert read_paths("[{p: 'x', u: y}][?p != 'z'].u") == [("y",)]
    assert read_paths("sort_by(ai_niches, &percentage)[0].niche") == [("ai_niches",)]
    assert read_paths("a.*.b") == [("a",)]
    assert read_paths("not valid [") == []


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "{platform}.folower_count",
            ["unknown key 'folower_count' in the instagram block; did you mean 'follower_count'?"],
        ),
        (
            "{platform}.subscriber_coutn",
            [
                "unknown key 'subscriber_coutn' in the youtube block; "
                "did you mean 'subscriber_count'?"
            ],
        ),
        (
            "twitch_lnk",
            [
                "unknown key 'twitch_lnk' at the top level of the profile; "
                "did you mean 'twitch_link'?"
            ],
        ),
        ("instagram.income.mni", ["unknown key 'mni' in instagram.income; did you mean 'min'?"]),
        ("ai_niches[].nich", ["unknown key 'nich' in ai_niches; did you mean 'niche'?"]),
        ("{platform}.zzz", ["unknown key 'zzz' in any platform's block"]),
        (
            "onlyfans.username",
            [
                "unknown key 'username' in the onlyfans block (no real payload or reference key "
                "list shows one)"
            ],
        ),
        (
            "instagram.follower_count.x",
            ["unknown key 'x' in instagram.follower_count (a value, not an object)"],
        ),
        ("_meta.platfrom", ["unknown key 'platfrom' in _meta; did you mean 'platform'?"]),
        (
            "[instagram.folower_count, youtube.folower_count]",
            [
                "unknown key 'folower_count' in the instagram block; "
                "did you mean 'follower_count'?",
                "unknown key 'folower_count' in the youtube block",
            ],
        ),
    ],
)
def test_unknown_keys_are_named_with_where_they_are_read(
    expression: str, expected: list[str]
) -> None:
    assert messages(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "{platform}.displayName",  # twitch only (§7.1): valid for {platform}
        "instagram.account_type",  # the requested block's key, not the summary's
        "youtube.email_from_video_desc[0]",
        "twitch.social_media",
        "instagram.category",  # raw tier (§2.3)
        "{platform}_link",
        "creator_has.onlyfans",
        "{platform}.audience.audience_followers.data.audience_geo.countries[0].name",
        "$handle",
        "_meta.enriched_at",
    ],
)
def test_documented_keys_pass(expression: str) -> None:
    assert messages(expression) == []


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_mappings_pass_strictly(path: Path) -> None:
    assert load_mapping(path, strict=True).warnings == ()


TYPO = """kind: sheets
fields:
  - target: Followers
    source: ["{platform}.folower_count", "{platform}.subscriber_count"]
  - target: Links
    source: >-
      {a: instagram.username,
       b: twitch.socal_media}
  - target: Where
    transform: ['template("{first_name} in {locaton}")']
    source: $handle
"""


def test_warnings_point_at_the_key_and_strict_makes_them_errors(tmp_path: Path) -> None:
    mapping = parse_mapping(TYPO, "m.yaml")
    assert mapping.warnings == (
        "m.yaml:4:26: unknown key 'folower_count' in the instagram block; did you mean "
        "'follower_count'?",
        "m.yaml:8:18: unknown key 'socal_media' in the twitch block; did you mean 'social_media'?",
        "m.yaml:10:45: unknown key 'locaton' at the top level of the profile; did you mean "
        "'location'?",
    )
    with pytest.raises(MappingError) as caught:
        parse_mapping(TYPO, "m.yaml", strict=True)
    assert caught.value.problems == list(mapping.warnings)
    path = tmp_path / "m.yaml"
    path.write_text(TYPO, encoding="utf-8")
    assert check_mapping_files([path]) == []
    assert len(check_mapping_files([path], strict=True)) == 3


keys = st.sampled_from(sorted(load_vocabulary().known_keys("full_instagram")))


@settings(max_examples=100, deadline=None)
@given(key=keys, cut=st.integers(0, 30))
def test_a_key_with_one_letter_dropped_is_flagged_and_the_key_suggested(key: str, cut: int) -> None:
    index = cut % len(key)
    typo = key[:index] + key[index + 1 :]
    if not typo or load_vocabulary().allows("full_instagram", typo):
        return
    (unknown,) = check_paths(read_paths(f"instagram.{typo}"))
    assert unknown.key == typo
    assert unknown.where.startswith("in the instagram block")
