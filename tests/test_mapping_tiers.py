"""Tier advice: the cheapest tier whose documented response carries what a mapping reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli.context import CliContext
from connector.cli.mappings import mappings_group
from connector.handles import PLATFORMS
from connector.mapping import load_mapping, parse_mapping
from connector.mapping.tiers import analyse_tiers, read_mapping_paths

ROOT = Path(__file__).resolve().parent.parent


def mapping(*sources: str) -> str:
    fields = "\n".join(
        f"  - target: F{i}\n    source: {source!r}" for i, source in enumerate(sources)
    )
    return f"kind: sheets\nfields:\n{fields}\n"


def test_the_default_mappings_need_full() -> None:
    for name in ("sheets_default.yaml", "hubspot_contacts.yaml"):
        advice = analyse_tiers(load_mapping(ROOT / "mappings" / name))
        assert set(advice.by_platform.values()) == {"full"}
        assert advice.describe().startswith("needs Full (Raw lacks ")


def test_the_raw_mapping_needs_raw_where_raw_documents_the_block() -> None:
    advice = analyse_tiers(load_mapping(ROOT / "mappings" / "sheets_raw.yaml"))
    assert advice.by_platform == {
        "instagram": "raw",
        "youtube": "raw",
        "tiktok": "raw",
        "twitter": "raw",
        # No key list of a Raw Twitch or OnlyFans block exists: auto keeps them on Full.
        "twitch": "full",
        "onlyfans": "full",
    }
    line = advice.describe()
    assert line.startswith(
        "reads only fields Raw returns on instagram, tiktok, twitter, youtube: "
        "`mode: raw` costs 0.03 instead of 1 per creator"
    )
    assert "onlyfans (full), twitch (full)" in line


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        # Top-level identity fields: Profile documents them, Raw does not.
        (["email", "first_name", "{platform}_link"], "profile"),
        (["location", "creator_has.instagram"], "profile"),
        # A platform block: Profile's "lighter block" has no documented keys, Raw's has.
        (["instagram.follower_count"], "raw"),
        (["{platform}.biography", "$handle"], "raw"),
        # Only Full documents these.
        (["{platform}.engagement_percent"], "full"),
        (["ai_niches[].niche"], "full"),
        # A summary block of another platform is not in Raw (the requested block only).
        (["youtube.subscriber_count"], "full"),
        # Only pseudo sources: any tier carries them, the cheapest wins.
        (["$platform", "$now"], "raw"),
    ],
)
def test_cheapest_tier_for_instagram(sources: list[str], expected: str) -> None:
    advice = analyse_tiers(parse_mapping(mapping(*sources)))
    assert advice.get_tier("instagram") == expected


def test_a_key_no_tier_documents_decides_nothing() -> None:
    advice = analyse_tiers(parse_mapping(mapping("{platform}.follower_count", "{platform}.nope")))
    assert advice.get_tier("instagram") == "raw"


def test_templates_count_as_reads() -> None:
    text = (
        "kind: sheets\nfields:\n  - target: Who\n    source: $handle\n"
        "    transform: ['template(\"{email} {value}\")']\n"
    )
    parsed = parse_mapping(text)
    assert ("email",) in read_mapping_paths(parsed)
    assert analyse_tiers(parsed).get_tier("instagram") == "profile"


def test_full_serves_a_raw_request_unless_the_mapping_reads_a_raw_only_key() -> None:
    plain = analyse_tiers(parse_mapping(mapping("{platform}.follower_count")))
    assert all(plain.serves("raw", p) for p in PLATFORMS)
    # Raw documents Instagram's `category` and X's `location`; Full's documented blocks lack them.
    category = analyse_tiers(parse_mapping(mapping("{platform}.category")))
    assert not category.serves("raw", "instagram") and category.serves("raw", "tiktok")
    located = analyse_tiers(parse_mapping(mapping("{platform}.location")))
    assert not located.serves("raw", "twitter")
    assert plain.serves("full", "instagram")


def test_mappings_check_prints_the_tier_line() -> None:
    result = CliRunner().invoke(
        mappings_group, ["check", str(ROOT / "mappings" / "sheets_raw.yaml")], obj=CliContext()
    )
    assert result.exit_code == 0, result.output
    assert "  tier: reads only fields Raw returns on" in result.output
