"""Tests for the transform registry: each transform, argument checks, and never raising."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import RowError
from connector.mapping.transforms import (
    OUTPUT_TYPES,
    TRANSFORMS,
    TransformContext,
    TransformEnv,
    TransformFailure,
    apply_transforms,
    check_args,
    parse_call,
)

ROOT = {"first_name": "Jane", "location": "Canada", "instagram": {"username": "jane"}}
OPTIONS = (("instagram", "Instagram"), ("twitter", "X (Twitter)"))


def run(text: str, value: Any, *, context: TransformContext | None = None) -> Any:
    name, args = parse_call(text)
    assert check_args(TRANSFORMS[name], args) is None
    env = TransformEnv(context=context or TransformContext(), root=ROOT, options=OPTIONS)
    return apply_transforms(value, [(name, args)], env)


@pytest.mark.parametrize(
    ("call", "value", "expected"),
    [
        ("int", 12.0, 12),
        ("int", "1,234", 1234),
        ("int", " 42 ", 42),
        ("int", 2.5, 3),
        ("int", -2.5, -3),
        ("int", True, 1),
        ("int", None, None),
        ("float", "3.5", 3.5),
        ("float", 7, 7.0),
        ("round(2)", 3.14159, 3.14),
        ("round", 3.6, 4),
        ("round(2)", 12, 12),
        ("round(-3)", 123456.0, 123000),
        ("percent", 3.41, "3.41%"),
        ("percent", 0.474, "0.47%"),
        ("percent(1)", "5.962", "6.0%"),
        ("percent", None, None),
        ("lower", "HeLLo", "hello"),
        ("upper", "usd", "USD"),
        ("strip", "  x  ", "x"),
        ("lower", True, "true"),
        ('join(", ")', ["a", None, "b"], "a, b"),
        ('join(";")', ["a", 1, 2.5], "a;1;2.5"),
        ("join", "solo", "solo"),
        ("join", [], ""),
        ("first", [None, "a", "b"], "a"),
        ("first", "x", "x"),
        ("first", [], None),
        ("take(2)", ["a", "b", "c"], ["a", "b"]),
        ("take(2)", "a", ["a"]),
        ("json", {"a": [1, 2]}, '{"a":[1,2]}'),
        ("json", "é", '"é"'),
        ("date", "2026-05-02", "2026-05-02"),
        ("date", "2026-05-02T23:30:00+02:00", "2026-05-02"),
        ("date", "Wed Apr 29 07:58:12 +0000 2026", "2026-04-29"),
        ("date", 1777507200, "2026-04-30"),
        ("date", 1777507200000, "2026-04-30"),
        ("date", "", None),
        ("datetime", "2026-05-02T14:03:11", "2026-05-02T14:03:11Z"),
        ("datetime", "2026-05-02T14:03:11.123+02:00", "2026-05-02T12:03:11Z"),
        ("datetime", "2026-05-02", "2026-05-02T00:00:00Z"),
        ("bool", "yes", True),
        ("bool", 0, False),
        ("bool", "FALSE", False),
        ('bool("Yes", "No")', True, "Yes"),
        ('bool("Yes", "No")', "false", "No"),
        ("bool", None, None),
        ("url", "https://x.com/a", "https://x.com/a"),
        ("url", "www.example.com/jane", "https://www.example.com/jane"),
        ("url", "//cdn.example.com/p.jpg", "https://cdn.example.com/p.jpg"),
        ("url", "  ", None),
        ("truncate(5)", "abcdefgh", "abcd…"),
        ("truncate(5)", "abc", "abc"),
        ("truncate(10)", ["abcdef", "ghijkl"], '["abcdef"…'),
        ("truncate", 12, 12),
        ('map({"role_based_email": "Role-based"})', "role_based_email", "Role-based"),
        ('map({"a": "A"})', "B", "B"),
        ('map({"a": "A"}, "other")', "B", "other"),
        ('map({"a": "A"})', "  a ", "A"),
        ('map({"a": "A"})', ["a", "b"], ["A", "b"]),
        ("enum", "Instagram", "instagram"),
        ("enum", "x (twitter)", "twitter"),
        ("enum", ["instagram", "Instagram", "twitter"], ["instagram", "twitter"]),
        ('enum({"x": "twitter"})', "x", "twitter"),
        ('default("n/a")', None, "n/a"),
        ('default("n/a")', "", "n/a"),
        ('default("n/a")', [], "n/a"),
        ('default("n/a")', 0, 0),
        ('template("{first_name} ({location})")', None, "Jane (Canada)"),
        ('template("@{instagram.username}")', None, "@jane"),
        ('template("{value}!")', "hi", "hi!"),
        ('template("{{{value}}}")', "x", "{x}"),
        ('template("{missing}")', None, None),
    ],
)
def test_transform_table(call: str, value: Any, expected: Any) -> None:
    assert run(call, value) == expected


@pytest.mark.parametrize(
    ("call", "value", "message"),
    [
        ("int", "abc", "could not convert 'abc' to int"),
        ("int", [1], "could not convert [1] to int"),
        ("float", float("inf"), "could not convert inf to float"),
        ("round(2)", {"a": 1}, "could not convert {'a': 1} to a number"),
        ("percent", "high", "could not convert 'high' to a number"),
        ("lower", ["A"], "lower expects text, got a list ['A'] (add join first)"),
        ("date", "yesterday", "could not read 'yesterday' as a date"),
        ("date", 10**30, "could not read"),
        ("bool", "maybe", "could not read 'maybe' as true/false"),
        ("url", "not a url", "'not a url' is not an http(s) URL"),
        ("url", 12, "expected a URL, got 12"),
        ("enum", "facebook", "'facebook' is not one of the options (instagram, twitter)"),
        ("rehost", 12, "rehost expects an image URL"),
    ],
)
def test_transform_reports_a_row_level_error(call: str, value: Any, message: str) -> None:
    with pytest.raises(TransformFailure) as info:
        run(call, value)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("text", "name", "args"),
    [
        ("int", "int", ()),
        ("round(2)", "round", (2,)),
        ('join(", ")', "join", (", ",)),
        ('template("{a} ({b})")', "template", ("{a} ({b})",)),
        ('bool("Yes", "No")', "bool", ("Yes", "No")),
        ('map({"a": 1})', "map", ({"a": 1},)),
        (" lower ( ) ", "lower", ()),
    ],
)
def test_parse_call_reads_name_and_literal_arguments(text: str, name: str, args: tuple) -> None:
    assert parse_call(text) == (name, args)


@pytest.mark.parametrize("text", ["round(2", "join(sep=',')", "9lives", "round(x)"])
def test_parse_call_rejects_unreadable_text(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        parse_call(text)


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        (
            "round",
            ("two",),
            "round: argument 'n' must be a whole number, got 'two' (usage: round(n=0))",
        ),
        ("round", (1, 2), "round takes 0 to 1 argument(s), got 2"),
        ("take", (), "take takes 1 argument(s), got 0 (usage: take(n))"),
        ("take", (-1,), "must be at least 0, got -1"),
        ("truncate", (1,), "must be at least 2"),
        ("join", (1,), "argument 'sep' must be text"),
        ("map", ("x",), "must be a non-empty table"),
        ("map", ({},), "must be a non-empty table"),
        ("bool", ("Yes",), "bool takes no labels or both labels"),
        ("template", ("{a..b}",), "template: invalid placeholder {a..b}"),
        ("lower", (1,), "lower takes 0 argument(s), got 1"),
    ],
)
def test_check_args_explains_bad_arguments(name: str, args: tuple, message: str) -> None:
    problem = check_args(TRANSFORMS[name], args)
    assert problem is not None and message in problem


def test_rehost_without_a_rehoster_yields_null_and_a_note() -> None:
    env = TransformEnv()
    assert apply_transforms("https://cdn.example/x.jpg", [("rehost", ())], env) is None
    assert env.notes == ["image rehosting not configured"]


def test_rehost_returns_the_permanent_url() -> None:
    context = TransformContext(rehost=lambda url: "https://media.example/1.jpg")
    assert run("rehost", "https://cdn.example/x.jpg", context=context) == (
        "https://media.example/1.jpg"
    )


def test_rehost_failure_never_passes_the_expiring_url_on() -> None:
    def broken(url: str) -> str:
        raise RowError("image download failed (404)")

    env = TransformEnv(context=TransformContext(rehost=broken))
    calls = [("rehost", ()), ("default", ("https://media.example/placeholder.png",))]
    assert apply_transforms("https://cdn.example/x.jpg", calls, env) == (
        "https://media.example/placeholder.png"
    )
    assert env.errors == ["image rehosting failed: image download failed (404)"]


def test_every_transform_has_a_declared_output_type_and_summary() -> None:
    for spec in TRANSFORMS.values():
        assert spec.output in OUTPUT_TYPES
        assert spec.summary


SAMPLE_ARGS: dict[str, tuple[Any, ...]] = {
    "round": (2,),
    "take": (2,),
    "truncate": (20,),
    "map": ({"a": "A"},),
    "enum": (),
    "default": ("x",),
    "template": ("{first_name} {value}",),
    "join": (", ",),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
@settings(max_examples=60, deadline=None)
@given(value=json_values)
def test_transform_never_raises_and_fits_its_declared_type(name: str, value: Any) -> None:
    env = TransformEnv(root=ROOT, options=OPTIONS)
    args = SAMPLE_ARGS.get(name, ())
    try:
        result = apply_transforms(value, [(name, args)], env)
    except TransformFailure as exc:
        assert str(exc)
        return
    assert result is None or isinstance(result, OUTPUT_TYPES[TRANSFORMS[name].output])
