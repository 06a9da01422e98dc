"""Saved-search filters and sort are checked client-side: what the API would ignore is refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.config import PLATFORMS
from connector.config.search_filters import (
    FOLLOWER_KEYS,
    check_filters,
    check_search,
    check_sort,
    get_known_filters,
)

GOOD = {
    "number_of_followers": {"min": 10_000, "max": 100_000},
    "engagement_percent": {"min": 1.5},
    "ai_search": "home workouts and fitness tips",
    "creator_has": {"has_youtube": True, "has_linktree": False},
    "location": ["United States"],
    "is_verified": False,
    "follower_growth": {"growth_percentage": 5, "time_range_months": 3},
    "posting_frequency": 2.5,
    "exclude_handles": ["known_one", "known_two"],
    "exclude_role_based_emails": True,
    "audience": {
        "credibility": "good",
        "gender": {"type": "female", "min_pct": 60},
        "location": [{"name": "United States", "type": "country", "min_pct": 30}],
        "brands": ["Nike"],
    },
}


def test_a_full_legal_instagram_filter_set_passes() -> None:
    assert check_filters("instagram", GOOD) == []


@pytest.mark.parametrize(
    ("platform", "key"),
    [
        ("instagram", "number_of_followers"),
        ("youtube", "number_of_subscribers"),
        ("tiktok", "number_of_followers"),
        ("twitter", "number_of_followers"),
        ("twitch", "followers"),
    ],
)
def test_each_platform_takes_its_own_follower_key(platform: str, key: str) -> None:
    assert FOLLOWER_KEYS[platform] == key
    assert check_filters(platform, {key: {"min": 1000}}) == []


@pytest.mark.parametrize(
    ("platform", "key", "expected"),
    [
        ("youtube", "number_of_followers", "on youtube the follower range is"),
        ("twitch", "number_of_subscribers", "'followers'"),
        ("instagram", "followers", "'number_of_followers'"),
        ("onlyfans", "number_of_followers", "onlyfans has no follower-count filter"),
        ("tiktok", "audience", "audience filters only apply to instagram"),
    ],
)
def test_a_key_the_platform_ignores_is_refused_with_the_right_one(
    platform: str, key: str, expected: str
) -> None:
    problems = check_filters(platform, {key: {"min": 1}}, path="discovery.searches[0].filters")
    assert len(problems) == 1
    assert problems[0].startswith(f"discovery.searches[0].filters.{key}: ")
    assert expected in problems[0]
    assert "still charge" in problems[0]


def test_an_unknown_key_names_its_path_a_suggestion_and_the_known_keys() -> None:
    [problem] = check_filters("tiktok", {"number_of_follower": {"min": 1}}, path="s.filters")
    assert problem.startswith("s.filters.number_of_follower: unknown filter")
    assert "did you mean 'number_of_followers'" in problem
    assert "known filters: " in problem
    assert "engagement_percent" in problem


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"engagement_percent": 2}, "must be a mapping {min: number, max: number}"),
        ({"engagement_percent": {"min": 5, "max": 1}}, "min (5) is greater than max (1)"),
        ({"engagement_percent": {}}, "give min, max or both"),
        ({"engagement_percent": {"gte": 1}}, "engagement_percent.gte: unknown key"),
        ({"engagement_percent": {"min": "1"}}, "wrong type"),
        ({"engagement_percent": {"min": True}}, "wrong type"),
        ({"ai_search": "ab"}, "3 to 150 characters"),
        ({"ai_search": "x" * 151}, "3 to 150 characters"),
        ({"creator_has": {"youtube": True}}, "creator_has.youtube: unknown service"),
        ({"creator_has": {"has_youtube": "yes"}}, "must be true or false"),
        ({"is_verified": "true"}, "must be true or false"),
        ({"location": "US"}, "non-empty list of strings"),
        ({"location": ["US", ""]}, "location[1]: must be a non-empty string"),
        ({"follower_growth": {"growth_percentage": 5, "months": 3}}, "months: unknown key"),
        ({"exclude_handles": ["a"] * 10_001}, "at most 10000 handles"),
        ({"exclude_list": [None]}, "exclude_list[0]"),
        ({"posting_frequency": "often"}, "must be a number"),
        ({"gender": ""}, "non-empty string"),
    ],
)
def test_bad_values_are_refused_with_their_path(filters: dict[str, Any], expected: str) -> None:
    problems = check_filters("instagram", filters)
    assert problems, filters
    assert any(expected in p for p in problems), problems
    assert all(p.startswith("filters.") for p in problems)


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ({"credibility": "excellent"}, "credibility: must be one of bad, low"),
        ({"gender": {"type": "female", "pct": 1}}, "gender.pct: unknown key"),
        ({"location": [{"name": "US", "min_pct": "30"}]}, "location[0].min_pct: wrong type"),
        ({"age": {"range": "18-24"}}, "age: must be a non-empty list"),
        ({"followers": 1}, "audience.followers: unknown audience filter"),
    ],
)
def test_audience_sub_filters_are_checked(audience: dict[str, Any], expected: str) -> None:
    problems = check_filters("instagram", {"audience": audience})
    assert any(expected in p for p in problems), problems


def test_filters_must_be_a_mapping() -> None:
    assert check_filters("instagram", ["number_of_followers"]) == [
        "filters: must be a mapping of filter keys to values"
    ]
    assert check_filters("instagram", None) == []


@pytest.mark.parametrize(
    ("platform", "sort_by", "sort_order", "expected"),
    [
        ("instagram", "relevancy", "asc", "relevancy only supports sort_order desc"),
        ("twitch", "growth_rate", "desc", "growth_rate is only available on instagram"),
        ("twitter", "growth_rate", "asc", "not twitter"),
        ("onlyfans", "number_of_followers", "desc", "not available on onlyfans"),
    ],
)
def test_sort_rules_follow_the_api(
    platform: str, sort_by: str, sort_order: str, expected: str
) -> None:
    [problem] = check_sort(platform, sort_by, sort_order, path="s")
    assert problem.startswith("s: ")
    assert expected in problem


@pytest.mark.parametrize(
    ("platform", "sort_by", "sort_order"),
    [
        ("instagram", "relevancy", "desc"),
        ("youtube", "growth_rate", "asc"),
        ("tiktok", "engagement_rate", "asc"),
        ("onlyfans", "engagement_rate", "desc"),
        ("twitch", "number_of_followers", "asc"),
    ],
)
def test_legal_sorts_pass(platform: str, sort_by: str, sort_order: str) -> None:
    assert check_sort(platform, sort_by, sort_order) == []


def test_check_search_combines_sort_and_filters_under_one_path() -> None:
    problems = check_search("twitch", {"nope": 1}, "growth_rate", "desc", path="discovery.x")
    assert problems[0].startswith("discovery.x: sort_by growth_rate")
    assert problems[1].startswith("discovery.x.filters.nope: unknown filter")


@given(st.sampled_from(PLATFORMS), st.text(min_size=1, max_size=30))
def test_every_key_outside_the_whitelist_is_refused(platform: str, key: str) -> None:
    problems = check_filters(platform, {key: True})
    if key in get_known_filters(platform):
        assert all("unknown filter" not in p for p in problems)
    else:
        assert len(problems) == 1
        assert "still charge" in problems[0]
