"""The sandbox's synthetic creators have the shape of the real captured Full responses."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping.vocabulary import load_vocabulary
from connector.sandbox import images
from connector.sandbox.payloads import build_profile, build_profile_tier, build_raw_profile
from connector.sandbox.profile_result import APRIL, AUGUST, SUMMARY_PLATFORMS, get_generation
from connector.sandbox.profiles import (
    DISCOVERY_PLATFORMS,
    ENRICH_PLATFORMS,
    UNIVERSE_SIZE,
    build_creator,
    get_stats,
    get_universe,
    has_email,
    is_not_found,
    parse_identity,
)

SAMPLES = Path(__file__).parent / "data" / "samples"
SAMPLE_FILES = {
    "instagram": "full-instagram-cristiano.json",
    "tiktok": "full-tiktok-khaby.lame.json",
    "twitter": "full-twitter-elonmusk.json",
}
NOW = 1_800_000_000.0
handles = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._", min_size=1, max_size=24)


def load_sample(platform: str) -> dict[str, Any]:
    return json.loads((SAMPLES / SAMPLE_FILES[platform]).read_text())["result"]


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_problems(sample: Any, ours: Any, path: str) -> list[str]:
    """Keys of ``sample`` missing from ``ours`` or of another JSON type (sample null = any)."""
    if sample is None:
        return []
    if json_type(sample) != json_type(ours):
        return [f"{path}: {json_type(ours)} instead of {json_type(sample)}"]
    if isinstance(sample, dict):
        problems = []
        for key, value in sample.items():
            if key not in ours:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += shape_problems(value, ours[key], f"{path}.{key}")
        return problems
    if isinstance(sample, list) and sample and ours:
        merged: dict[str, Any] = {}
        if isinstance(sample[0], dict):
            for item in sample:
                merged.update({k: v for k, v in item.items() if k not in merged})
            return [
                p
                for item in ours
                for p in shape_problems({k: merged[k] for k in item if k in merged}, item, path)
            ] + shape_problems(
                {k: v for k, v in merged.items() if k in sample[0]}, ours[0], f"{path}[0]"
            )
        return shape_problems(sample[0], ours[0], f"{path}[0]")
    return []


@pytest.mark.parametrize("platform", sorted(SAMPLE_FILES))
@settings(max_examples=40, deadline=None)
@given(handle=handles)
def test_platform_blocks_and_audience_carry_every_sample_key_with_the_same_type(
    platform: str, handle: str
):
    sample = load_sample(platform)
    result = build_profile(platform, f"found{handle}", include_audience_data=True, now=NOW)
    assert result is not None
    ours = result[platform]
    assert shape_problems(sample[platform], ours, platform) == []
    assert 1 <= len(ours["post_data"]) <= 3
    assert "email" in result and "email_type" in result
    assert 0.05 <= ours["engagement_percent"] <= 9.3


@settings(max_examples=30, deadline=None)
@given(handle=handles)
def test_tiktok_results_carry_the_identity_set_and_audience_of_the_sample(handle: str):
    sample = load_sample("tiktok")
    result = build_profile("tiktok", f"found{handle}", include_audience_data=True, now=NOW)
    assert result is not None
    top = {k: v for k, v in sample.items() if k not in ("tiktok", "email", "email_type")}
    assert shape_problems(top, result, "result") == []
    audience = sample["tiktok"]["audience"]["audience_followers"]
    ours = result["tiktok"]["audience"]["audience_followers"]
    assert shape_problems(audience, ours, "audience_followers") == []


def test_instagram_audience_weights_are_fractions():
    result = build_profile("instagram", "foundjane", include_audience_data=True, now=NOW)
    assert result is not None
    data = result["instagram"]["audience"]["audience_followers"]["data"]
    for entry in data["audience_genders"] + data["audience_ages"]:
        assert 0 <= entry["weight"] <= 1
    assert sum(e["weight"] for e in data["audience_genders"]) == pytest.approx(1, abs=1e-3)


def test_audience_and_lookalikes_only_when_asked():
    plain = build_profile("instagram", "foundjane", now=NOW)
    assert plain is not None
    assert "audience" not in plain["instagram"] and "lookalikes" not in plain
    full = build_profile(
        "twitter", "foundjane", include_audience_data=True, include_lookalikes=True
    )
    assert full is not None
    assert "audience" not in full["twitter"]
    assert {"username", "profile_url", "engagement_percent", "follower_count"} <= set(
        full["lookalikes"][0]
    )


@settings(max_examples=50, deadline=None)
@given(
    platform=st.sampled_from(["instagram", "tiktok", "twitter", "youtube", "twitch"]),
    handle=handles,
)
def test_profiles_are_deterministic(platform: str, handle: str):
    first = build_profile(platform, handle, include_audience_data=True, now=NOW)
    again = build_profile(platform, handle.upper(), include_audience_data=True, now=NOW)
    assert json.dumps(first) == json.dumps(again)


def handles_of(platform: str, generation: str, count: int = 1) -> list[str]:
    """``count`` sandbox handles whose creator on ``platform`` answers in ``generation``."""
    found = []
    for i in range(1000):
        if get_generation(build_creator(platform, f"found{i}", now=NOW)) == generation:
            found.append(f"found{i}")
            if len(found) == count:
                return found
    raise AssertionError(f"no {generation} creator on {platform}")


def test_youtube_and_twitch_blocks_follow_the_reference_key_lists():
    youtube = build_profile("youtube", "foundchannel", now=NOW)
    twitch = build_profile("twitch", handles_of("twitch", APRIL)[0], now=NOW)
    assert youtube is not None and twitch is not None
    yt = youtube["youtube"]
    for key in ("subscriber_count", "custom_url", "engagement_percent_long",
                "engagement_percent_shorts", "email_from_video_desc", "topic_details"):  # fmt: skip
        assert key in yt
    assert all(isinstance(v, str) for v in yt["post_data"][0]["engagement"].values())
    assert yt["post_data"][0]["published_at"].endswith("Z")
    tw = twitch["twitch"]
    for key in ("displayName", "isPartner", "profileImageURL", "total_followers", "last_streamed"):
        assert key in tw
    assert "engagement_percent" not in tw
    assert set(twitch) == {"twitch", "email", "email_type"}


def test_some_instagram_creators_return_the_identity_set_and_others_only_email():
    shapes = set()
    for i in range(60):
        result = build_profile("instagram", f"found{i}", now=NOW)
        assert result is not None
        shapes.add("first_name" in result)
    assert shapes == {True, False}


def test_post_dates_use_the_platform_formats():
    tw = build_profile("twitter", "foundjane", now=NOW)
    ig = build_profile("instagram", "foundjane", now=NOW)
    assert tw is not None and ig is not None
    created = tw["twitter"]["post_data"][0]["created_at"]
    assert created.endswith(" 2027") and "+0000" in created and created[:3].isalpha()
    assert len(ig["instagram"]["post_data"][0]["created_at"]) == 19
    assert len(ig["instagram"]["most_recent_post_date"]) == 10


@pytest.mark.parametrize(
    ("handle", "missing"),
    [("notfound_jane", True), ("ghost.rider", True), ("somemissingone", True),
     ("foundghost", False), ("real_person", False), ("", True)],
)  # fmt: skip
def test_not_found_markers(handle: str, missing: bool):
    assert is_not_found("instagram", handle, 0.0) is missing


def test_not_found_rate_is_a_deterministic_fraction():
    misses = sum(is_not_found("tiktok", f"creator{i}", 0.2) for i in range(4000))
    assert 0.17 < misses / 4000 < 0.23
    assert not any(is_not_found("tiktok", f"found{i}", 1.0) for i in range(50))


def test_no_email_rate_and_email_types():
    emails = [build_profile("tiktok", f"found{i}", no_email_rate=0.3) for i in range(300)]
    values = [r["email"] for r in emails if r is not None]
    assert 0.2 < values.count(None) / len(values) < 0.4
    types = {r["email_type"] for r in emails if r is not None and r["email"]}
    assert "role_based_email" in types
    assert not has_email("tiktok", "foundx", 1.0)


@pytest.mark.parametrize(
    ("text", "identity"),
    [("@Jane.Doe", "jane.doe"), ("  jane  ", "jane"),
     ("https://www.instagram.com/Jane.Doe/", "jane.doe"),
     ("https://www.tiktok.com/@kha.by?lang=en", "kha.by"), ("youtube.com/@MrBeast", "mrbeast"),
     ("https://www.youtube.com/channel/UCX6OQ3DkcsbYNE6H8uQQuVA", "ucx6oq3dkcsbyne6h8uqquva")],
)  # fmt: skip
def test_parse_identity_accepts_usernames_urls_and_channel_ids(text: str, identity: str):
    assert parse_identity(text) == identity


@pytest.mark.parametrize("platform", DISCOVERY_PLATFORMS)
def test_discovery_universe_is_unique_and_enrichable(platform: str):
    universe = get_universe(platform)
    assert len(set(universe)) == UNIVERSE_SIZE
    for handle in universe[::1500]:
        result = build_profile(platform, handle, not_found_rate=1.0)
        assert result is not None
        block = result[platform]
        if platform == "onlyfans":
            assert block == {}  # no real response or reference key list shows its keys
            continue
        followers = block.get(
            "follower_count", block.get("subscriber_count", block.get("total_followers"))
        )
        assert followers == get_stats(platform, handle).followers


def test_raw_profile_has_no_scores_or_email():
    raw = build_raw_profile("instagram", "foundjane", now=NOW)
    assert raw is not None and set(raw) == {"instagram"}
    block = raw["instagram"]
    assert "engagement_percent" not in block and "income" not in block
    assert {"userid", "exists", "category", "post_data", "follower_count"} <= set(block)


def test_picture_urls_are_signed_and_expire():
    result = build_profile(
        "instagram", "foundjane", image_base_url="http://h:1", image_lifetime=60, now=NOW
    )
    assert result is not None
    url = result["instagram"]["profile_picture"]
    assert url.startswith("http://h:1/_sandbox/img/") and url.endswith(".jpg")
    token = url.rsplit("/", 1)[1].removesuffix(".jpg")
    ref = images.parse_image_token(token, now=NOW + 30)
    assert (ref.platform, ref.handle, ref.kind) == ("instagram", "foundjane", "sd")
    with pytest.raises(images.ImageTokenError, match="expired"):
        images.parse_image_token(token, now=NOW + 61)
    with pytest.raises(images.ImageTokenError):
        images.parse_image_token(token[:-1] + ("0" if token[-1] != "0" else "1"), now=NOW)


def _png_chunks(data: bytes) -> list[bytes]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(
            kind + body
        )
        chunks.append(kind)
        pos += 12 + length
    return chunks


def test_rendered_images_are_valid_and_unique_per_creator():
    seen = set()
    kinds = set()
    for i in range(40):
        body, content_type = images.render_image(images.ImageRef("instagram", f"found{i}", "sd", 0))
        seen.add(body)
        kinds.add(content_type)
        if content_type == "image/png":
            assert _png_chunks(body)[-1] == b"IEND"
        else:
            assert body.startswith(b"\xff\xd8") and body.endswith(b"\xff\xd9")
    assert len(seen) == 40 and kinds == {"image/png", "image/jpeg"}
    big, _ = images.render_image(images.ImageRef("instagram", "foundbigpic", "sd", 0))
    assert len(big) > 6_000_000
    page, mistyped = images.render_image(images.ImageRef("instagram", "foundbadpic", "sd", 0))
    assert mistyped == "image/jpeg" and page.startswith(b"<html>")


# -- both payload generations, and nothing a real payload or the reference does not show ----


@pytest.mark.parametrize("platform", ENRICH_PLATFORMS)
@settings(max_examples=25, deadline=None)
@given(handle=handles, audience=st.booleans(), lookalikes=st.booleans())
def test_every_key_the_sandbox_emits_is_one_a_real_payload_or_the_reference_lists(
    platform: str, handle: str, audience: bool, lookalikes: bool
):
    vocabulary = load_vocabulary()
    full = build_profile(
        platform,
        f"found{handle}",
        include_audience_data=audience,
        include_lookalikes=lookalikes,
        now=NOW,
    )
    raw = build_raw_profile(platform, f"found{handle}", now=NOW)
    profile = build_profile_tier(platform, f"found{handle}", now=NOW)
    assert full is not None and raw is not None and profile is not None
    assert vocabulary.unknown_paths(full, platform=platform) == []
    assert vocabulary.unknown_paths(raw, platform=platform, tier="raw") == []
    assert vocabulary.unknown_paths(profile, platform=platform, tier="profile") == []


def link_keys(result: dict[str, Any]) -> set[str]:
    return {k for k in result if k.endswith("_link")}


@pytest.mark.parametrize("platform", ["instagram", "twitter", "twitch"])
def test_april_calls_of_instagram_x_and_twitch_carry_only_email_at_the_top(platform: str):
    for handle in handles_of(platform, APRIL, 5):
        result = build_profile(platform, handle, now=NOW)
        assert result is not None
        assert set(result) == {platform, "email", "email_type"}


@pytest.mark.parametrize("platform", ["tiktok", "youtube"])
def test_april_calls_of_tiktok_and_youtube_carry_the_identity_set_without_links(platform: str):
    summaries = set()
    for handle in handles_of(platform, APRIL, 20):
        result = build_profile(platform, handle, now=NOW)
        assert result is not None
        assert {"first_name", "creator_has", "links_in_bio", "other_links"} <= set(result)
        assert link_keys(result) == set()
        assert ("ai_niches" in result) is (platform == "youtube")
        summaries |= set(result) & set(SUMMARY_PLATFORMS) - {platform}
    # Like the YouTube sample: other accounts show as summary blocks on YouTube calls only.
    assert bool(summaries) is (platform == "youtube")


@pytest.mark.parametrize("platform", ["instagram", "youtube", "tiktok", "twitter", "twitch"])
def test_august_calls_carry_the_identity_set_links_and_summary_blocks(platform: str):
    summaries = set()
    for handle in handles_of(platform, AUGUST, 20):
        result = build_profile(platform, handle, now=NOW)
        assert result is not None
        assert {"first_name", "creator_has", f"{platform}_link"} <= set(result)
        linked = {k.removesuffix("_link") for k in link_keys(result)} - {platform}
        assert set(result) & set(SUMMARY_PLATFORMS) - {platform} == linked & set(SUMMARY_PLATFORMS)
        summaries |= linked
    assert summaries, "no creator with accounts on other platforms"


def test_each_creator_answers_in_one_generation_and_both_occur():
    for platform in ("instagram", "youtube"):
        seen = {get_generation(build_creator(platform, f"found{i}", now=NOW)) for i in range(40)}
        assert seen == {APRIL, AUGUST}
    creator = build_creator("instagram", "found7", now=NOW)
    assert get_generation(creator) == get_generation(build_creator("instagram", "@FOUND7"))


def test_youtube_keys_have_the_real_shapes():
    result = build_profile("youtube", "foundchannel", now=NOW)
    assert result is not None
    block = result["youtube"]
    assert "has_merch" not in block
    (months,) = block["posts_per_month"].values()
    assert set(months) <= {
        "january", "february", "march", "april", "may", "june", "july", "august",
        "september", "october", "november", "december",
    }  # fmt: skip
    thumbnails = block["post_data"][0]["media"]["thumbnails"]
    assert set(thumbnails) == {"default", "medium", "high", "standard", "maxres"}
    assert all(isinstance(url, str) for url in thumbnails.values())
