"""Saved searches on the sandboxes: paging, stop rules, exclusions, never buying a creator twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from connector.cli.context import CliContext
from connector.cli.discover import discover_command
from connector.discovery.searches import (
    MAX_RESULTS,
    build_discovery_plan,
    build_page_schedule,
    get_next_request,
    get_stop_reason,
    run_saved_search,
)
from connector.errors import ConfigError
from connector.pipeline.cycle import run_cycle
from connector.sandbox.ic_discovery import parse_query, search
from connector.sandbox.stack import SandboxStack
from connector.services import Services, build_services
from connector.store import LedgerKey

FITNESS = {"number_of_followers": {"min": 10_000, "max": 100_000}}


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=1000.0, ic_config={"not_found_rate": 0.0}) as running:
        yield running


def saved_search(**extra: Any) -> dict[str, Any]:
    return {
        "name": "fit",
        "platform": "tiktok",
        "filters": FITNESS,
        "sort_by": "number_of_followers",
        "target": 15,
        "page_size": 10,
        "destination": "leads",
        **extra,
    }


def build(
    stack: SandboxStack,
    tmp_path: Path,
    *,
    sheet: str | None = None,
    hubspot_list: str | None = None,
    searches: list[dict[str, Any]] | None = None,
    **overrides: Any,
) -> Services:
    sources: list[dict[str, Any]] = []
    if sheet is not None:
        sources.append(
            {"name": "leads", "type": "sheets", "spreadsheet": sheet, "platform_column": "Platform"}
        )
    if hubspot_list is not None:
        sources.append(
            {"name": "crm", "type": "hubspot", "list": hubspot_list, "platform": "tiktok"}
        )
    settings = stack.build_settings(
        data_dir=tmp_path,
        sources=sources,
        media={"backend": "none"},
        discovery={"searches": searches or [saved_search()]},
        **overrides,
    )
    return build_services(settings)


def top_handles(count: int, filters: dict[str, Any] = FITNESS) -> list[str]:
    """The handles the sandbox returns first for the fitness search (no exclusions)."""
    query = parse_query(
        {
            "platform": "tiktok",
            "paging": {"limit": count, "page": 0},
            "sort": {"sort_by": "number_of_followers", "sort_order": "desc"},
            "filters": filters,
        }
    )
    return [stats.identity for _, stats in search(query)[1]]


def sheet_rows(stack: SandboxStack, key: str) -> list[dict[str, Any]]:
    values = stack.sheets.get_values(key, "Sheet1")
    header = [str(h) for h in values[0]]
    return [
        dict(zip(header, row + [""] * (len(header) - len(row)), strict=False)) for row in values[1:]
    ]


def discovery_requests(stack: SandboxStack) -> int:
    return int(stack.ic.stats()["requests_by_endpoint"].get("discovery", 0))


@pytest.mark.parametrize(
    ("target", "page_size", "first_page", "expected"),
    [
        (15, 10, 0, [(0, 10), (2, 5)]),
        (15, 10, 1, [(1, 10), (3, 5)]),
        (100, 50, 0, [(0, 50), (1, 50)]),
        (7, 5, 0, [(0, 5), (5, 1), (6, 1)]),
        (3, 50, 0, [(0, 3)]),
    ],
)
def test_pages_are_zero_based_and_never_ask_for_more_than_the_target(
    target: int, page_size: int, first_page: int, expected: list[tuple[int, int]]
) -> None:
    schedule = build_page_schedule(target, page_size, first_page)
    assert [(r.page, r.limit) for r in schedule] == expected


@given(st.integers(1, 10_000), st.integers(1, 50), st.integers(0, 1))
def test_the_schedule_tiles_the_results_without_gaps_or_overlap(
    target: int, page_size: int, first_page: int
) -> None:
    offset = 0
    for request in build_page_schedule(target, page_size, first_page):
        assert request.offset == offset
        assert 1 <= request.limit <= page_size
        assert (request.page - first_page) * request.limit == offset
        offset += request.limit
    assert offset == min(target, MAX_RESULTS)


def test_the_next_page_starts_where_the_previous_one_ended() -> None:
    request = get_next_request(offset=50, remaining=20, page_size=50, first_page=0)
    assert (request.page, request.limit) == (5, 10)


@pytest.mark.parametrize(
    ("returned", "budget", "total", "limit", "got", "expected"),
    [
        (50, 200, 9_000, 50, 50, ""),
        (200, 200, 9_000, 50, 50, "target reached"),
        (80, 200, 9_000, 50, 30, "no more results"),
        (100, 200, 100, 50, 50, "no more results"),
        (10_000, 10_000, 10_000, 50, 50, "result cap (10,000)"),
    ],
)
def test_paging_stops_at_the_target_a_short_page_total_or_the_cap(
    returned: int, budget: int, total: int, limit: int, got: int, expected: str
) -> None:
    assert get_stop_reason(returned, budget, total, limit, got) == expected


def test_same_search_twice_returns_only_new_creators_and_bills_none_twice(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet([])
    services = build(stack, tmp_path, sheet=key)
    try:
        first = run_saved_search(services, "fit")
        second = run_saved_search(services, "fit")
    finally:
        services.close()
    stats = stack.ic.stats()
    assert (first.returned, first.new, first.appended, first.duplicates) == (15, 15, 15, 0)
    assert (second.returned, second.new, second.appended, second.duplicates) == (15, 15, 15, 0)
    assert first.stopped_because == second.stopped_because == "target reached"
    assert first.credits_spent == second.credits_spent == pytest.approx(0.15)
    assert second.credits_saved == pytest.approx(0.15)
    assert len(stats["discovery_charges"]) == 30
    assert set(stats["discovery_charges"].values()) == {1}
    assert stats["discovery_credits"] == pytest.approx(0.01 * (first.returned + second.returned))
    handles = [row["Handle"] for row in sheet_rows(stack, key)]
    assert handles[:15] == top_handles(15)
    assert len(set(handles)) == 30


def test_the_exclude_list_holds_the_destination_the_ledger_and_past_finds(
    stack: SandboxStack, tmp_path: Path
) -> None:
    top = top_handles(6)
    key = stack.seed_sheet([[top[0], "tiktok", ""], [f"@{top[1].upper()}", "TikTok", ""]])
    services = build(stack, tmp_path, sheet=key)
    try:
        services.store.save_result(LedgerKey("tiktok", top[2]), "found", {}, 1.0)
        services.store.save_result(LedgerKey("instagram", top[3]), "found", {}, 1.0)
        services.store.save_discovered("other", "tiktok", top[4], "leads")
        plan = build_discovery_plan(services, "fit")
        report = run_saved_search(services, "fit")
    finally:
        services.close()
    assert plan.excluded_by == {"filters": 0, "destination": 2, "discovered": 1, "ledger": 1}
    assert {h.casefold() for h in plan.excluded} == {top[0], top[1], top[2], top[4]}
    assert report.duplicates == 0
    charged = stack.ic.stats()["discovery_charges"]
    assert not {f"tiktok:{h}" for h in (top[0], top[1], top[2], top[4])} & set(charged)
    assert f"tiktok:{top[3]}" in charged


def test_credits_equal_one_cent_per_creator_returned_and_a_short_result_stops_paging(
    stack: SandboxStack, tmp_path: Path
) -> None:
    narrow = {"number_of_followers": {"min": 99_000, "max": 100_000}}
    expected = len(top_handles(50, narrow))
    assert 10 < expected < 30
    key = stack.seed_sheet([])
    services = build(stack, tmp_path, sheet=key, searches=[saved_search(filters=narrow, target=40)])
    seen: list[tuple[int, int]] = []
    try:
        report = run_saved_search(services, "fit", progress=lambda n, of: seen.append((n, of)))
        assert report.run_id is not None
        events = services.store.fetch_run_records(report.run_id)
        run = services.store.get_run(report.run_id)
    finally:
        services.close()
    assert run is not None and len(events) == expected
    assert {(e.status, e.route) for e in events} == {("discovered", "discovery")}
    assert sum(e.credits for e in events) == pytest.approx(run.credits_spent, abs=1e-9)
    assert seen == [(10, 40), (20, 40), (expected, 40)]
    assert report.requests == 3
    assert report.returned == report.new == report.appended == expected
    assert report.stopped_because == "no more results"
    assert report.credits_spent == pytest.approx(0.01 * expected)
    assert stack.ic.stats()["discovery_credits"] == pytest.approx(0.01 * expected)


def test_appended_rows_are_enriched_on_the_next_cycle(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet([["found_anna", "tiktok", ""]])
    services = build(stack, tmp_path, sheet=key, searches=[saved_search(target=5)])
    try:
        report = run_saved_search(services, "fit")
        cycle = run_cycle(services, "leads")
    finally:
        services.close()
    assert report.appended == 5
    assert cycle.enriched == 6
    rows = sheet_rows(stack, key)
    assert [r["IC Status"] for r in rows] == ["enriched"] * 6
    assert [r["Platform"] for r in rows[1:]] == ["tiktok"] * 5
    assert {r["IC Discovered By"] for r in rows[1:]} == {"fit"}
    assert all(int(r["IC Discovery Followers"]) >= 10_000 for r in rows[1:])


def test_invalid_filters_are_rejected_before_any_paid_call(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet([])
    bad = saved_search(filters={"number_of_subscribers": {"min": 10_000}, "niche": "fitness"})
    with pytest.raises(ConfigError) as caught:
        build(stack, tmp_path, sheet=key, searches=[bad])
    text = str(caught.value)
    assert "discovery.searches[0].filters.number_of_subscribers" in text
    assert "discovery.searches[0].filters.niche: unknown filter" in text
    assert discovery_requests(stack) == 0
    assert stack.ic.stats()["discovery_credits"] == 0


def test_a_dry_run_shows_the_requests_and_the_maximum_cost_and_pays_nothing(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet([["found_ben", "tiktok", ""]])
    services = build(stack, tmp_path, sheet=key)
    try:
        report = run_saved_search(services, "fit", dry_run=True)
    finally:
        services.close()
    assert report.max_cost == pytest.approx(0.15)
    assert report.stopped_because == "dry run"
    plan = report.as_dict()["plan"]
    assert [r["paging"] for r in plan["requests"]] == [
        {"limit": 10, "page": 0},
        {"limit": 5, "page": 2},
    ]
    assert plan["requests"][0]["filters"]["exclude_handles"] == "<1 handles: found_ben>"
    assert discovery_requests(stack) == 0
    assert len(sheet_rows(stack, key)) == 1


def test_a_search_costing_more_than_the_run_cap_is_not_sent(
    stack: SandboxStack, tmp_path: Path
) -> None:
    key = stack.seed_sheet([])
    services = build(
        stack,
        tmp_path,
        sheet=key,
        searches=[saved_search(target=200)],
        pipeline={"batch_poll_seconds": 1, "max_credits_per_run": 1.0},
    )
    try:
        report = run_saved_search(services, "fit")
    finally:
        services.close()
    assert "over max_credits_per_run" in report.stopped_because
    assert discovery_requests(stack) == 0


def test_a_hubspot_list_gets_new_contacts_and_reuses_existing_ones(
    stack: SandboxStack, tmp_path: Path
) -> None:
    top = top_handles(4)
    list_id = stack.seed_hubspot_list([top[0]], handle_property="instagram_handle")
    [outside] = stack.hubspot.create_contacts([{"instagram_handle": top[1]}])
    hubspot_search = saved_search(destination="crm", target=3, page_size=3)
    services = build(stack, tmp_path, hubspot_list=list_id, searches=[hubspot_search])
    try:
        first = run_saved_search(services, "fit")
        second = run_saved_search(services, "fit")
        members = list(services.hubspot.iter_memberships(list_id))
        contacts = services.hubspot.fetch_contacts(members, ["instagram_handle"]).found
    finally:
        services.close()
    assert (first.returned, first.appended) == (3, 3)
    assert (second.returned, second.appended, second.duplicates) == (3, 3, 0)
    assert outside in members
    handles = sorted(c["instagram_handle"] or "" for c in contacts.values())
    assert len(handles) == 7
    assert len(set(handles)) == 7
    assert set(stack.ic.stats()["discovery_charges"].values()) == {1}
    assert f"tiktok:{top[0]}" not in stack.ic.stats()["discovery_charges"]


def write_config(stack: SandboxStack, tmp_path: Path, key: str, **search: Any) -> Path:
    data = stack.settings_data(
        data_dir=tmp_path / "data",
        sources=[
            {"name": "leads", "type": "sheets", "spreadsheet": key, "platform_column": "Platform"}
        ],
        media={"backend": "none"},
        discovery={"searches": [saved_search(**search)]},
    )
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_cli_dry_run_prints_the_requests_and_the_maximum_cost(
    stack: SandboxStack, tmp_path: Path
) -> None:
    config = write_config(stack, tmp_path, stack.seed_sheet([]))
    result = CliRunner().invoke(
        discover_command, ["fit", "--dry-run"], obj=CliContext(config_path=str(config))
    )
    assert result.exit_code == 0, result.output
    assert "maximum cost 0.15 credits" in result.output
    assert '"page": 2' in result.output
    assert discovery_requests(stack) == 0


def test_the_cli_runs_the_search_once_and_reports_json(stack: SandboxStack, tmp_path: Path) -> None:
    key = stack.seed_sheet([])
    config = write_config(stack, tmp_path, key, target=5)
    result = CliRunner().invoke(
        discover_command, ["fit", "--json"], obj=CliContext(config_path=str(config))
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["new"] == report["appended"] == 5
    assert report["credits_spent"] == pytest.approx(0.05)
    assert len(sheet_rows(stack, key)) == 5


def test_the_cli_names_an_unknown_search(stack: SandboxStack, tmp_path: Path) -> None:
    config = write_config(stack, tmp_path, stack.seed_sheet([]))
    result = CliRunner().invoke(discover_command, ["nope"], obj=CliContext(config_path=str(config)))
    assert result.exit_code == 2
    assert "unknown saved search 'nope' (known: fit)" in result.output


def test_only_one_search_per_platform_runs_at_a_time(stack: SandboxStack, tmp_path: Path) -> None:
    from datetime import timedelta

    from connector.discovery.searches import LOCK_SOURCE

    services = build(stack, tmp_path, sheet=stack.seed_sheet([]))
    try:
        services.store.claim_records(LOCK_SOURCE, ["tiktok"], "other-worker", timedelta(minutes=5))
        report = run_saved_search(services, "fit")
    finally:
        services.close()
    assert report.stopped_because == "another tiktok search is running"
    assert discovery_requests(stack) == 0
