"""Tests for mapping files: validation messages, application, write policies, lint and preview."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import MappingError, RowError
from connector.mapping import (
    FieldOutcome,
    Mapping,
    TargetInfo,
    TransformContext,
    apply_mapping,
    check_mapping_files,
    guess_platform,
    lint_mapping,
    load_mapping,
    normalise_profile,
    parse_mapping,
    preview_mapping,
    value_hash,
)
from connector.mapping.apply import stored_text

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
SHEETS = ROOT / "mappings" / "sheets_default.yaml"
HUBSPOT = ROOT / "mappings" / "hubspot_contacts.yaml"
PROFILES = {
    "instagram": DATA / "samples" / "full-instagram-cristiano.json",
    "tiktok": DATA / "samples" / "full-tiktok-khaby.lame.json",
    "twitter": DATA / "samples" / "full-twitter-elonmusk.json",
    "youtube": DATA / "profiles" / "full-youtube-synthetic.json",
    "twitch": DATA / "profiles" / "full-twitch-synthetic.json",
}
HUBSPOT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "bool": (bool,),
    "date": (str,),
    "datetime": (str,),
    "enumeration": (str,),
}


def load_profile(platform: str) -> dict[str, Any]:
    return normalise_profile(json.loads(PROFILES[platform].read_text(encoding="utf-8")))


def mapping_from(text: str, source: str = "m.yaml") -> Mapping:
    return parse_mapping(textwrap.dedent(text), source)


def problems_of(text: str) -> list[str]:
    with pytest.raises(MappingError) as info:
        mapping_from(text)
    return info.value.problems


def assert_fits(mapping: Mapping, changes: dict[str, Any]) -> None:
    for target, value in changes.items():
        spec = mapping.get_field(target)
        assert spec is not None
        assert not isinstance(value, list | dict), (target, value)
        if mapping.kind == "hubspot" and value != "":
            assert isinstance(value, HUBSPOT_TYPES[spec.type or "string"]), (target, value)
            if spec.type == "number":
                assert not isinstance(value, bool)
            if spec.type == "enumeration":
                assert value in {o.value for o in spec.options}
        if isinstance(value, str):
            assert len(value) <= 65_536


# -- default mappings over real and synthetic profiles ------------------------------------


def test_default_mapping_files_are_valid() -> None:
    assert check_mapping_files([SHEETS, HUBSPOT]) == []
    assert load_mapping(SHEETS).kind == "sheets"
    assert load_mapping(HUBSPOT).kind == "hubspot"


@pytest.mark.parametrize("mapping_path", [SHEETS, HUBSPOT], ids=["sheets", "hubspot"])
@pytest.mark.parametrize("platform", sorted(PROFILES))
def test_default_mappings_handle_every_platform(mapping_path: Path, platform: str) -> None:
    mapping = load_mapping(mapping_path)
    profile = load_profile(platform)
    assert guess_platform(profile) == platform
    result = apply_mapping(
        mapping,
        profile,
        platform=platform,
        current={},
        last_hashes={},
        meta={"enriched_at": "2026-05-01T10:00:00Z", "handle": "h"},
    )
    assert result.errors == []
    assert FieldOutcome.ERROR not in result.outcomes.values()
    assert_fits(mapping, result.changes)
    followers = "Followers" if mapping.kind == "sheets" else "ic_followers"
    assert isinstance(result.changes[followers], int)


@pytest.mark.parametrize(
    ("platform", "sheet_value", "hubspot_value"),
    [
        ("instagram", "0.47%", 0.47),
        ("tiktok", "5.96%", 5.96),
        ("twitter", "0.05%", 0.05),
        ("youtube", "4.20%", 4.2),
    ],
)
def test_engagement_is_percent_only_where_the_mapping_says_so(
    platform: str, sheet_value: str, hubspot_value: float
) -> None:
    profile = load_profile(platform)
    sheet = apply_mapping(
        load_mapping(SHEETS), profile, platform=platform, current={}, last_hashes={}
    )
    crm = apply_mapping(
        load_mapping(HUBSPOT), profile, platform=platform, current={}, last_hashes={}
    )
    assert sheet.changes["Engagement Rate"] == sheet_value
    assert crm.changes["ic_engagement_rate"] == hubspot_value


def test_missing_blocks_give_nulls_not_errors() -> None:
    result = apply_mapping(
        load_mapping(SHEETS), load_profile("twitch"), platform="twitch", current={}, last_hashes={}
    )
    for target in ("Engagement Rate", "Email", "Income Min", "Instagram Followers", "Niches"):
        assert result.outcomes[target] == FieldOutcome.SKIPPED_MISSING
        assert target not in result.changes
    assert result.changes["Followers"] == 120456
    assert result.changes["Verified"] == "Yes"
    assert result.changes["Last Post"] == "2026-04-28"
    assert result.changes["Profile URL"] == "https://www.twitch.tv/janeplays"


def test_platform_specific_keys_and_fallbacks() -> None:
    result = apply_mapping(
        load_mapping(HUBSPOT),
        load_profile("youtube"),
        platform="youtube",
        current={},
        last_hashes={},
    )
    assert result.changes["ic_followers"] == 91000
    assert result.changes["ic_instagram_followers"] == 48250
    assert result.changes["ic_email"] == "jane@example.com"
    assert result.changes["ic_niches"] == "Fitness; Travel"
    assert result.changes["ic_income_currency"] == "USD"
    assert result.changes["ic_profile_url"] == (
        "https://www.youtube.com/channel/UCexampleexampleexample1"
    )
    assert result.changes["ic_platform"] == "youtube"
    assert result.changes["ic_verified"] is False


def test_sandbox_creators_of_every_platform_map_without_errors() -> None:
    profiles = pytest.importorskip("connector.sandbox.payloads")
    for mapping_path in (SHEETS, HUBSPOT):
        mapping = load_mapping(mapping_path)
        for platform in ("instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans"):
            profile = profiles.build_profile(platform, f"demo_{platform}", not_found_rate=0.0)
            assert profile is not None
            result = apply_mapping(mapping, profile, platform=platform, current={}, last_hashes={})
            assert result.errors == [], (mapping_path.name, platform, result.errors)
            assert_fits(mapping, result.changes)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "follower_count",
                    "username",
                    "x",
                    "income",
                    "min",
                    "engagement_percent",
                    "is_verified",
                    "email",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=10,
)
profiles = st.dictionaries(
    st.sampled_from(
        [
            "instagram",
            "email",
            "location",
            "first_name",
            "instagram_link",
            "ai_niches",
            "is_business",
            "speaking_language",
            "links_in_bio",
        ]
    ),
    json_values,
    max_size=8,
)


@pytest.mark.parametrize("mapping_path", [SHEETS, HUBSPOT], ids=["sheets", "hubspot"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=profiles, current=st.dictionaries(st.text(max_size=5), json_values, max_size=3))
def test_apply_never_raises_and_outputs_fit_declared_types(
    mapping_path: Path, profile: dict[str, Any], current: dict[str, Any]
) -> None:
    mapping = load_mapping(mapping_path)
    result = apply_mapping(mapping, profile, platform="instagram", current=current, last_hashes={})
    assert_fits(mapping, result.changes)
    assert set(result.outcomes) == set(mapping.targets)
    for message in result.errors:
        assert message.split(":")[0] in mapping.targets


# -- write policies --------------------------------------------------------------------------

POLICY_MAPPING = """
kind: sheets
fields:
  - target: Followers
    source: instagram.follower_count
    transform: [int]
    policy: {policy}
"""
OURS = 1000
NEW = {"instagram": {"follower_count": 1200}}


@pytest.mark.parametrize(
    ("policy", "current", "outcome"),
    [
        ("overwrite", "", FieldOutcome.WRITTEN),
        ("overwrite", "1000", FieldOutcome.WRITTEN),
        ("overwrite", "about 1k", FieldOutcome.WRITTEN),
        ("fill_empty", "", FieldOutcome.WRITTEN),
        ("fill_empty", "1000", FieldOutcome.SKIPPED_NOT_EMPTY),
        ("fill_empty", "about 1k", FieldOutcome.SKIPPED_NOT_EMPTY),
        ("overwrite_if_ours", "", FieldOutcome.WRITTEN),
        ("overwrite_if_ours", "1000", FieldOutcome.WRITTEN),
        ("overwrite_if_ours", "about 1k", FieldOutcome.KEPT_MANUAL_EDIT),
        ("never", "", FieldOutcome.NEVER),
        ("never", "1000", FieldOutcome.NEVER),
        ("never", "about 1k", FieldOutcome.NEVER),
    ],
)
def test_write_policy_matrix(policy: str, current: str, outcome: FieldOutcome) -> None:
    mapping = mapping_from(POLICY_MAPPING.format(policy=policy))
    result = apply_mapping(
        mapping,
        NEW,
        platform="instagram",
        current={"Followers": current},
        last_hashes={"Followers": value_hash(OURS)},
    )
    assert result.outcomes["Followers"] == outcome
    if outcome == FieldOutcome.WRITTEN:
        assert result.changes == {"Followers": 1200}
        assert result.hashes == {"Followers": value_hash("1200")}
    else:
        assert result.changes == {}
        assert result.hashes == {}
    assert result.count(outcome) == 1


def test_overwrite_if_ours_keeps_a_value_it_never_wrote() -> None:
    mapping = mapping_from(POLICY_MAPPING.format(policy="overwrite_if_ours"))
    result = apply_mapping(
        mapping, NEW, platform="instagram", current={"Followers": "999"}, last_hashes={}
    )
    assert result.outcomes["Followers"] == FieldOutcome.KEPT_MANUAL_EDIT


def test_same_value_is_unchanged_and_owned() -> None:
    mapping = mapping_from(POLICY_MAPPING.format(policy="overwrite_if_ours"))
    result = apply_mapping(
        mapping, NEW, platform="instagram", current={"followers ": "1200"}, last_hashes={}
    )
    assert result.outcomes["Followers"] == FieldOutcome.UNCHANGED
    assert result.changes == {}
    assert result.hashes == {"Followers": value_hash(1200)}


@pytest.mark.parametrize(
    ("when_missing", "current", "last", "outcome", "changes"),
    [
        ("skip", "1000", "1000", FieldOutcome.SKIPPED_MISSING, {}),
        ("clear", "1000", "1000", FieldOutcome.WRITTEN, {"Followers": ""}),
        ("clear", "typed by hand", "1000", FieldOutcome.KEPT_MANUAL_EDIT, {}),
        ("clear", "", None, FieldOutcome.UNCHANGED, {}),
    ],
)
def test_when_missing(
    when_missing: str,
    current: str,
    last: str | None,
    outcome: FieldOutcome,
    changes: dict[str, Any],
) -> None:
    mapping = mapping_from(
        POLICY_MAPPING.format(policy="overwrite_if_ours") + f"    when_missing: {when_missing}\n"
    )
    hashes = {"Followers": value_hash(last)} if last else {}
    result = apply_mapping(
        mapping,
        {"instagram": None},
        platform="instagram",
        current={"Followers": current},
        last_hashes=hashes,
    )
    assert result.outcomes["Followers"] == outcome
    assert result.changes == changes


def test_a_failing_field_is_an_error_and_writes_nothing() -> None:
    mapping = mapping_from(POLICY_MAPPING.format(policy="overwrite"))
    result = apply_mapping(
        mapping,
        {"instagram": {"follower_count": "abc"}},
        platform="instagram",
        current={},
        last_hashes={},
    )
    assert result.outcomes["Followers"] == FieldOutcome.ERROR
    assert result.errors == ["Followers: could not convert 'abc' to int"]
    assert result.changes == {}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (12, "12"),
        (12.0, "12"),
        (12.5, "12.50"),
        (True, "TRUE"),
        (False, "false"),
        (None, ""),
        ("  x ", "x"),
        ("2026-05-02T14:03:11Z", "2026-05-02T14:03:11.000Z"),
    ],
)
def test_value_hash_matches_values_as_read_back(a: Any, b: Any) -> None:
    assert value_hash(a) == value_hash(b)


@pytest.mark.parametrize(("a", "b"), [(12, 13), ("x", "X"), (True, "yes"), ("", "0")])
def test_value_hash_tells_different_values_apart(a: Any, b: Any) -> None:
    assert value_hash(a) != value_hash(b)


# -- pseudo sources, rehost, templates ------------------------------------------------------


def test_pseudo_sources_read_meta() -> None:
    mapping = mapping_from("""
        kind: sheets
        fields:
          - {target: At, source: $enriched_at, transform: [datetime]}
          - {target: Handle, source: $handle}
          - {target: Platform, source: $platform}
          - {target: Now, source: $now, transform: [date]}
          - target: Who
            source: first_name
            transform: ['template("{value} on {_meta.platform}")']
    """)
    result = apply_mapping(
        mapping,
        {"first_name": "Jane"},
        platform="tiktok",
        current={},
        last_hashes={},
        meta={"enriched_at": "2026-05-01T10:00:00+02:00", "handle": "jane", "now": "2026-05-03"},
    )
    assert result.changes == {
        "At": "2026-05-01T08:00:00Z",
        "Handle": "jane",
        "Platform": "tiktok",
        "Now": "2026-05-03",
        "Who": "Jane on tiktok",
    }


REHOST = """
kind: sheets
fields:
  - target: Picture
    source: instagram.profile_picture
    transform: [rehost, 'default("https://media.example/none.png")']
"""


def test_rehost_without_storage_writes_the_fallback_and_notes_it() -> None:
    result = apply_mapping(
        mapping_from(REHOST),
        {"instagram": {"profile_picture": "https://x.io/a"}},
        platform="instagram",
        current={},
        last_hashes={},
    )
    assert result.changes == {"Picture": "https://media.example/none.png"}
    assert result.notes == ["Picture: image rehosting not configured"]


def test_rehost_error_is_row_level_and_never_writes_the_original() -> None:
    def broken(url: str) -> str:
        raise RowError("image too large")

    result = apply_mapping(
        mapping_from(REHOST),
        {"instagram": {"profile_picture": "https://x.io/a"}},
        platform="instagram",
        current={},
        last_hashes={},
        context=TransformContext(rehost=broken),
    )
    assert result.changes == {"Picture": "https://media.example/none.png"}
    assert result.errors == ["Picture: image rehosting failed: image too large"]


def test_sheet_cells_are_capped_at_the_sheets_limit() -> None:
    mapping = mapping_from("kind: sheets\nfields:\n  - {target: Bio, source: bio}\n")
    result = apply_mapping(
        mapping, {"bio": "x" * 400_000}, platform="instagram", current={}, last_hashes={}
    )
    assert len(result.changes["Bio"]) == 50_000
    assert result.notes == ["Bio: cut from 400,000 to 50,000 characters"]


# -- validation messages --------------------------------------------------------------------

BAD = [
    (
        "kind: sheetz\nfields: [{target: A, source: a}]\n",
        "m.yaml:1:7: kind: unknown kind 'sheetz'; did you mean 'sheets'? (known: sheets, hubspot)",
    ),
    (
        "fields: [{target: A, source: a}]\n",
        "m.yaml:1:1: kind: 'kind' is required (known: sheets, hubspot)",
    ),
    (
        "kind: sheets\nfield: []\n",
        "m.yaml:2:1: field: unknown key 'field'; did you mean 'fields'? "
        "(known: kind, description, defaults, fields)",
    ),
    ("kind: sheets\nfields: []\n", "m.yaml:2:9: fields: must be a non-empty list of fields"),
    (
        "kind: sheets\nfields:\n  - target: A\n    source: a\n    transform: [int, percnt]\n",
        "m.yaml:5:22: fields[0].transform[1]: unknown transform 'percnt'; did you mean 'percent'? "
        "(known: bool, date, datetime, default, enum, first, float, int, join, json, lower, map, "
        "percent, rehost, round, social_links, strip, take, template, truncate, upper, url)",
    ),
    (
        "kind: sheets\nfields:\n  - target: A\n    source: a\n    transform: round(two)\n",
        "m.yaml:5:16: fields[0].transform: cannot read the arguments of 'round(two)'",
    ),
    (
        "kind: sheets\nfields:\n  - target: A\n    source: a\n    transform: [{round: x}]\n",
        "m.yaml:5:17: fields[0].transform[0]: round: argument 'n' must be a whole number, got 'x' "
        "(usage: round(n=0))",
    ),
    (
        "kind: sheets\nfields:\n  - target: A\n    source: 'a.[b'\n",
        "m.yaml:4:13: fields[0].source: invalid JMESPath expression 'a.[b'",
    ),
    (
        "kind: sheets\nfields:\n  - target: A\n    source: [a, $enriched]\n",
        "m.yaml:4:17: fields[0].source[1]: unknown pseudo source '$enriched'; did you mean "
        "'$enriched_at'? (known: $enriched_at, $handle, $platform, $now, $profile_url)",
    ),
    (
        "kind: sheets\nfields:\n  - {target: A, source: a}\n  - {target: ' a ', source: b}\n",
        "m.yaml:4:14: fields[1].target: duplicate target 'a' (already written by fields[0], "
        "line 3)",
    ),
    (
        "kind: sheets\nfields:\n  - {target: A, source: a, policy: sometimes}\n",
        "m.yaml:3:36: fields[0].policy: unknown policy 'sometimes' (known: overwrite, fill_empty, "
        "overwrite_if_ours, never)",
    ),
    (
        "kind: sheets\nfields:\n  - {target: A, source: a, when_missing: delete}\n",
        "m.yaml:3:42: fields[0].when_missing: unknown when_missing 'delete' (known: skip, clear)",
    ),
    (
        "kind: sheets\nfields:\n  - {target: A, source: a, sorce: b}\n",
        "m.yaml:3:28: fields[0].sorce: unknown key 'sorce'; did you mean 'source'? (known: target, "
        "source, transform, policy, when_missing, description, image_formula)",
    ),
    (
        "kind: hubspot\nfields:\n"
        "  - {target: a, source: a, transform: [rehost], image_formula: P}\n",
        "m.yaml:3:49: fields[0].image_formula: 'image_formula' is only used with kind: sheets",
    ),
    (
        "kind: sheets\nfields:\n  - {target: A, source: a, transform: [url], image_formula: P}\n",
        "m.yaml:3:61: fields[0].image_formula: needs rehost in this field's transform chain",
    ),
    (
        "kind: sheets\nfields:\n  - {target: B, source: b}\n"
        "  - {target: A, source: a, transform: [rehost], image_formula: b}\n",
        "m.yaml:4:64: fields[1].image_formula: column 'b' is already written by fields[0], line 3",
    ),
    (
        "kind: sheets\nfields:\n  - {target: A, source: a, type: number}\n",
        "m.yaml:3:28: fields[0].type: 'type' is only used with kind: hubspot",
    ),
    (
        "kind: sheets\nfields:\n  - {target: 12, source: a}\n",
        "m.yaml:3:14: fields[0].target: must be text (quote it), got 12",
    ),
    (
        "kind: sheets\nfields:\n  - {target: A}\n",
        "m.yaml:3:5: fields[0].source: 'source' is required",
    ),
    (
        "kind: sheets\nfields:\n  - {target: A, source: a, transform: [enum]}\n",
        "m.yaml:3:40: fields[0].transform[0]: enum needs options",
    ),
    (
        "kind: hubspot\nfields:\n  - {target: Followers, source: a}\n",
        "m.yaml:3:14: fields[0].target: 'Followers' is not a valid HubSpot property internal name "
        "(lower-case letters, digits and _, starting with a letter; e.g. 'followers')",
    ),
    (
        "kind: hubspot\nfields:\n  - {target: a, source: a, type: text}\n",
        "m.yaml:3:34: fields[0].type: unknown type 'text' (known: string, number, date, datetime, "
        "bool, enumeration)",
    ),
    (
        "kind: hubspot\nfields:\n  - {target: a, source: a, type: number, field_type: text}\n",
        "m.yaml:3:54: fields[0].field_type: field_type 'text' does not fit type 'number' "
        "(use one of: number)",
    ),
    (
        "kind: hubspot\nfields:\n  - {target: a, source: a, type: enumeration}\n",
        "m.yaml:3:5: fields[0].options: type: enumeration needs a non-empty list of options",
    ),
    (
        "kind: hubspot\nfields:\n  - {target: a, source: a, type: string, options: [x]}\n",
        "m.yaml:3:51: fields[0].options: options are only for type: enumeration",
    ),
    (
        "kind: hubspot\nfields:\n  - {target: a, source: a, type: enumeration, options: [x, x]}\n",
        "m.yaml:3:60: fields[0].options[1]: duplicate option value 'x'",
    ),
    (
        "kind: sheets\nkind: hubspot\nfields: [{target: A, source: a}]\n",
        "m.yaml:2:1: kind: duplicate key 'kind'",
    ),
    (
        "kind: sheets\nfields: [{target: A, source: a}\n",
        "m.yaml:3:1: (YAML): syntax error: expected ',' or ']', but got '<stream end>'",
    ),
    (
        "- just a list\n",
        "m.yaml:1:1: (top level): a mapping file is a YAML mapping with 'kind' and 'fields'",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_mapping_is_rejected_with_its_location(text: str, message: str) -> None:
    problems = problems_of(text)
    assert any(p.startswith(message) for p in problems), problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "kind: sheets\nfields:\n  - {target: A, source: a, transform: [percnt]}\n"
        "  - {target: B, source: b, policy: always}\n",
        encoding="utf-8",
    )
    problems = check_mapping_files([path, tmp_path / "missing.yaml"])
    assert [p.split(": ")[0] for p in problems] == [
        f"{path}:3:40",
        f"{path}:4:36",
        f"{tmp_path / 'missing.yaml'}",
    ]
    assert problems[-1].endswith("mapping file not found")


def test_both_transform_syntaxes_mean_the_same() -> None:
    a = mapping_from("""
        kind: sheets
        fields: [{target: A, source: a, transform: ['round(2)', 'join(", ")', 'bool("Y", "N")']}]
    """)
    b = mapping_from("""
        kind: sheets
        fields: [{target: A, source: a, transform: [{round: 2}, {join: ", "}, {bool: [Y, N]}]}]
    """)
    assert a.fields[0].transforms == b.fields[0].transforms


# -- lint against live targets --------------------------------------------------------------


def test_sheet_lint_names_missing_columns_and_the_fix() -> None:
    mapping = mapping_from("""
        kind: sheets
        fields:
          - {target: Followers, source: a}
          - {target: Email, source: b}
          - {target: Notes, source: c, policy: never}
    """)
    assert lint_mapping(mapping, dict.fromkeys([" email ", "Handle"])) == [
        "m.yaml: column 'Followers' is missing from the sheet header: add column 'Followers' "
        "or let the connector create it"
    ]


def test_hubspot_lint_reports_missing_and_incompatible_properties() -> None:
    mapping = load_mapping(HUBSPOT)
    available: dict[str, TargetInfo | None] = {t: None for t in mapping.targets}
    del available["ic_followers"]
    available["ic_last_post_date"] = TargetInfo("ic_last_post_date", "number", "number")
    available["ic_engagement_rate"] = TargetInfo("ic_engagement_rate", "string", "text")
    available["ic_platform"] = TargetInfo(
        "ic_platform", "enumeration", "select", ("instagram", "tiktok")
    )
    problems = lint_mapping(mapping, available)
    assert len(problems) == 3
    text = "\n".join(problems)
    assert (
        f"{HUBSPOT}: property 'ic_followers' does not exist on contacts: create it (type "
        "number, field type number, label 'IC Followers') or let the connector create it "
        "(hubspot.bootstrap_properties: true)"
    ) in text
    assert "'ic_platform' lacks option(s) 'youtube', 'twitter', 'twitch', 'onlyfans'" in text
    assert "'ic_last_post_date' is 'number' in HubSpot but the mapping writes 'date'" in text


# -- preview ----------------------------------------------------------------------------------


def test_preview_shows_value_source_and_chain_without_current_values() -> None:
    rows = preview_mapping(load_mapping(SHEETS), load_profile("instagram"), "instagram")
    by_target = {r.target: r for r in rows}
    followers = by_target["Followers"]
    assert followers.value == 673176739
    assert followers.source == "{platform}.follower_count"
    assert followers.chain.endswith("→ int")
    assert by_target["Income Min"].note == "missing: left as is"
    assert by_target["IC Enriched At"].note.endswith("never written (policy: never)")


# -- HubSpot types --------------------------------------------------------------------------

HUBSPOT_TYPED = """
kind: hubspot
fields:
  - {target: n, source: n, type: number}
  - {target: b, source: b, type: bool}
  - {target: d, source: d, type: date}
  - {target: t, source: t, type: datetime}
  - {target: s, source: s, type: string}
  - target: one
    source: one
    type: enumeration
    options: [{value: a_b, label: A B}, c]
  - target: many
    source: many
    type: enumeration
    field_type: checkbox
    options: [x, y, z]
"""


def test_hubspot_values_are_fitted_to_the_declared_type() -> None:
    profile = {
        "n": "1,234",
        "b": "yes",
        "d": "2026-05-02T23:00:00Z",
        "t": 1777507200,
        "s": ["a", "b"],
        "one": "a b",
        "many": ["Z", "x", "z"],
    }
    result = apply_mapping(
        mapping_from(HUBSPOT_TYPED), profile, platform="instagram", current={}, last_hashes={}
    )
    assert result.errors == []
    assert result.changes == {
        "n": 1234,
        "b": True,
        "d": "2026-05-02",
        "t": "2026-04-30T00:00:00Z",
        "s": "a, b",
        "one": "a_b",
        "many": "z;x",
    }


@pytest.mark.parametrize(
    ("target", "value", "message"),
    [
        ("n", "lots", "n: could not convert 'lots' to float"),
        ("b", "perhaps", "b: could not read 'perhaps' as true/false"),
        ("d", [1], "d: expected one date value, got [1]"),
        ("one", "d", "one: 'd' is not one of the options (a_b, c)"),
        ("one", ["a_b", "c"], "one: several values ['a_b', 'c'] for a single-choice property"),
    ],
)
def test_values_that_do_not_fit_are_row_level_errors(target: str, value: Any, message: str) -> None:
    result = apply_mapping(
        mapping_from(HUBSPOT_TYPED),
        {target: value},
        platform="instagram",
        current={},
        last_hashes={},
    )
    assert result.outcomes[target] == FieldOutcome.ERROR
    assert result.errors[0].startswith(message)


def test_transform_arguments_must_be_json_like() -> None:
    problems = problems_of(
        "kind: sheets\nfields:\n  - {target: A, source: a, transform: ['default({1, 2})']}\n"
    )
    assert (
        "default: arguments must be text, numbers, True/False/None, lists or tables"
        in (problems[0])
    )


@settings(max_examples=300, deadline=None)
@given(value=st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text())
def test_value_hash_of_a_value_equals_the_hash_of_its_read_back_text(value: Any) -> None:
    assert value_hash(value) == value_hash(stored_text(value))


def test_image_formula_names_the_column_showing_a_rehosted_picture() -> None:
    mapping = parse_mapping(
        "kind: sheets\nfields:\n"
        "  - {target: Avatar Link, source: a, transform: [rehost], image_formula: ' Picture '}\n",
        "m.yaml",
    )
    assert mapping.formula_columns == {"Avatar Link": "Picture"}
    assert mapping.targets == ("Avatar Link",)
    assert lint_mapping(mapping, {"Avatar Link": None}) == [
        "m.yaml: column 'Picture' is missing from the sheet header: add column 'Picture' or let "
        "the connector create it"
    ]


def test_preview_says_a_present_picture_is_not_rehosted_rather_than_missing() -> None:
    mapping = mapping_from(
        "kind: sheets\nfields:\n"
        "  - {target: Picture, source: '{platform}.profile_picture_hd', transform: [rehost]}\n"
        "  - {target: Other, source: '{platform}.nothing_here', transform: [rehost]}\n"
    )
    profile = {"instagram": {"profile_picture_hd": "https://cdn.example/p.jpg"}}
    picture, other = preview_mapping(mapping, profile, "instagram")
    assert picture.value is None
    assert picture.note == (
        "not rehosted in preview (picture URL from {platform}.profile_picture_hd)"
    )
    assert other.note == "missing: left as is"
