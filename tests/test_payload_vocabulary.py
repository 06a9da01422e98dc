"""Tests for the payload vocabulary: it agrees with the real samples and is well formed."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connector.mapping.vocabulary import SAME_AS_FULL, Vocabulary, load_vocabulary

SAMPLES = Path(__file__).parent / "data" / "samples"
SAMPLE_PLATFORMS = {
    "full-instagram-cristiano.json": "instagram",
    "full-tiktok-khaby.lame.json": "tiktok",
    "full-twitter-elonmusk.json": "twitter",
    "full-youtube-mrbeast.json": "youtube",
}
SAMPLE_NAME = re.compile(r"full-[a-z]+-[\w.]+?\.json")


@cache
def load_sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return data


def observed_keys(names: list[str]) -> dict[str, set[str]]:
    """Per shape, the keys the named samples carry at positions of that shape."""
    vocabulary = load_vocabulary()
    seen: dict[str, set[str]] = defaultdict(set)
    for name in names:
        result = load_sample(name)["result"]
        for where, key, known in vocabulary.walk(result, platform=SAMPLE_PLATFORMS[name]):
            if known and where.shape is not None:
                seen[where.shape].add(key)
    return seen


def test_the_samples_are_the_four_real_ones() -> None:
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == sorted(SAMPLE_PLATFORMS)


@pytest.mark.parametrize("name", sorted(SAMPLE_PLATFORMS))
def test_every_key_path_of_a_real_sample_is_in_the_vocabulary(name: str) -> None:
    vocabulary = load_vocabulary()
    payload = load_sample(name)
    envelope = {k for g in vocabulary.data["envelope"]["groups"] for k in g["keys"]}
    assert set(payload) <= envelope
    assert vocabulary.unknown_paths(payload["result"], platform=SAMPLE_PLATFORMS[name]) == []


def test_sample_groups_list_exactly_what_the_samples_carry() -> None:
    """A group whose source is a sample claims no key that sample lacks, and misses none."""
    vocabulary = load_vocabulary()
    everything = observed_keys(sorted(SAMPLE_PLATFORMS))
    from_samples: dict[str, set[str]] = defaultdict(set)
    for shape, spec in vocabulary.shapes.items():
        for group in spec.get("groups", ()):
            if not group["source"].startswith(("sample ", "samples ")):
                continue
            names = SAMPLE_NAME.findall(group["source"]) or sorted(SAMPLE_PLATFORMS)
            assert set(names) <= set(SAMPLE_PLATFORMS), group["source"]
            claimed = set(group["keys"]) - observed_keys(names)[shape]
            assert not claimed, f"{shape}: {group['source']!r} lists {sorted(claimed)}"
            from_samples[shape] |= set(group["keys"])
    for shape, keys in everything.items():
        if not vocabulary.shapes[shape].get("groups"):
            continue  # keys are platform names or data (years), not vocabulary
        unlisted = (keys & vocabulary.keys(shape)) - from_samples[shape]
        assert not unlisted, f"{shape}: sample keys without a sample group: {sorted(unlisted)}"


def referenced_shapes(vocabulary: Vocabulary) -> set[str]:
    names: set[str] = set()
    for tier in vocabulary.tiers.values():
        names.add(tier["result"])
        for table in (tier.get("blocks"), tier.get("summary")):
            if isinstance(table, dict):
                names.update(table.values())
            else:
                assert table in (None, SAME_AS_FULL)
    for spec in vocabulary.shapes.values():
        names.update(spec.get("nested", {}).values())
        if spec.get("any_key"):
            names.add(spec["any_key"])
    return names


def test_the_vocabulary_is_well_formed() -> None:
    vocabulary = load_vocabulary()
    assert len(set(vocabulary.platforms)) == 11
    referenced = referenced_shapes(vocabulary)
    assert referenced <= set(vocabulary.shapes), referenced - set(vocabulary.shapes)
    assert set(vocabulary.shapes) <= referenced, set(vocabulary.shapes) - referenced
    for name, spec in vocabulary.shapes.items():
        groups = spec.get("groups", [])
        assert groups or spec.get("source"), f"{name} has no source"
        assert groups or {"keys_from", "any_key", "open"} & set(spec), name
        for group in groups:
            assert group["source"].strip(), name
            keys = group["keys"]
            assert keys and all(isinstance(k, str) for k in keys), (name, keys)
            assert len(keys) == len(set(keys)), (name, group["source"])
        for key in spec.get("nested", {}):
            assert vocabulary.allows(name, key), f"{name}.nested names unlisted key {key!r}"
        for pattern in spec.get("key_patterns", []):
            assert pattern["source"].strip() and pattern["pattern"], name


@pytest.mark.parametrize(
    ("change", "platform", "unknown"),
    [
        (("youtube", "folower_count"), "youtube", ["result.youtube.folower_count"]),
        (("instagram", "account_type"), "youtube", ["result.instagram.account_type"]),
        (("onlyfans", "username"), "youtube", ["result.onlyfans.username"]),
        (("twitch_lnk", None), "youtube", ["result.twitch_lnk"]),
    ],
    ids=["typo-in-block", "full-key-in-summary-block", "undocumented-block", "typo-top-level"],
)
def test_unknown_keys_are_named_with_their_position(
    change: tuple[str, str | None], platform: str, unknown: list[str]
) -> None:
    result = json.loads(json.dumps(load_sample("full-youtube-mrbeast.json")["result"]))
    block, key = change
    if key is None:
        result[block] = "x"
    else:
        result.setdefault(block, {})[key] = 1
    assert load_vocabulary().unknown_paths(result, platform=platform) == unknown


def test_generations_and_tiers_the_reference_documents() -> None:
    vocabulary = load_vocabulary()
    august = {
        "instagram_link": "https://www.instagram.com/x",
        "tiktok_link": "https://www.tiktok.com/@x",
        "creator_has": {"instagram": True, "onlyfans": False},
        "twitch": {"username": "x", "social_media": {"twitter": "x"}, "post_data": [{"data": {}}]},
    }
    assert vocabulary.unknown_paths(august, platform="twitch") == []
    assert vocabulary.unknown_paths(august, platform="youtube") == [
        "result.twitch.social_media",
        "result.twitch.post_data",
    ]
    assert vocabulary.allows("raw_instagram", "category")
    assert not vocabulary.allows("full_instagram", "category")
    assert not vocabulary.allows("raw_instagram", "engagement_percent")
    assert vocabulary.allows("raw_linkedin", "multi_locale_headline")
    assert vocabulary.allows("profile_result", "youtube_link")
    assert not vocabulary.allows("profile_result", "ai_niches")
    raw = {"instagram": {"username": "x", "post_data": [{"user": {"username": "x"}}]}}
    assert vocabulary.unknown_paths(raw, platform="instagram", tier="raw") == []
    assert vocabulary.unknown_paths(raw, platform="instagram") == [
        "result.instagram.post_data[].user"
    ]
