"""Appending discovered creators to a sheet: mapped by header, never overwriting a cell."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import gspread
import pytest
from pydantic import SecretStr

from connector.config import GoogleSettings, SheetSourceSettings
from connector.ratelimit import build_storage
from connector.retry import RetryPolicy
from connector.sandbox.sheets import SheetsSandbox
from connector.sources.sheets.google import build_google_budgets, build_gspread_client
from connector.sources.sheets.source import SheetsSource

EMAIL = "connector@sandbox-project.iam.gserviceaccount.com"


class Targets:
    targets = ("Followers",)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SheetsSandbox]:
    with SheetsSandbox(reads_per_minute=10_000, writes_per_minute=10_000) as running:
        yield running


@pytest.fixture(scope="module")
def client(sandbox: SheetsSandbox) -> gspread.Client:
    info = sandbox.service_account_info(EMAIL)
    settings = GoogleSettings(
        service_account_json=SecretStr(json.dumps(info)), base_url=sandbox.url
    )
    return build_gspread_client(settings)


def build_source(client: gspread.Client, sid: str, **overrides: Any) -> SheetsSource:
    settings = SheetSourceSettings(
        name="leads", type="sheets", spreadsheet=sid, worksheet="Leads", **overrides
    )
    reads, writes = build_google_budgets(
        GoogleSettings(reads_per_minute=1000, writes_per_minute=1000),
        build_storage("memory://"),
        account=EMAIL,
    )
    return SheetsSource(
        settings,
        client=client,
        mapping=Targets(),
        reads=reads,
        writes=writes,
        retry=RetryPolicy(attempts=6),
    )


def values(sandbox: SheetsSandbox, sid: str) -> list[list[Any]]:
    return sandbox.get_values(sid, "Leads")


def test_rows_land_under_their_headers_and_missing_columns_are_created(
    sandbox: SheetsSandbox, client: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(
        "Leads", {"Leads": [["Notes", "Platform", "Handle"], ["x", "instagram", "ann"]]}
    )
    source = build_source(client, sid, platform_column="Platform")
    added = source.append_rows(
        [
            {"Handle": "bob", "Platform": "tiktok", "IC Discovered By": "fit"},
            {"handle": "cy", "platform": "tiktok", "IC Discovery Followers": 12_000},
        ]
    )
    assert added == 2
    grid = values(sandbox, sid)
    header = grid[0]
    assert header[:3] == ["Notes", "Platform", "Handle"]
    assert {"IC Status", "IC Error", "IC Enriched At", "Followers"} <= set(header)
    rows = [dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)) for r in grid[1:]]
    assert [r["Handle"] for r in rows] == ["ann", "bob", "cy"]
    assert rows[1]["Platform"] == "tiktok" and rows[1]["Notes"] == ""
    assert rows[1]["IC Discovered By"] == "fit"
    assert rows[2]["IC Discovery Followers"] == 12_000
    assert rows[2]["IC Status"] == ""


def test_append_is_one_raw_request_after_the_header_read(
    sandbox: SheetsSandbox, client: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(
        "Leads", {"Leads": [["Handle", "IC Status", "IC Error", "IC Enriched At", "Followers"]]}
    )
    source = build_source(client, sid)
    source.append_rows([{"Handle": "=cmd()"}])
    sandbox.reset_stats()
    source.append_rows([{"Handle": "dee"}, {"Handle": "eve"}])
    calls = [r["call"] for r in sandbox.requests() if r["call"].startswith("values")]
    assert calls == ["values.batchGet", "values.append"]
    assert [r[0] for r in values(sandbox, sid)[1:]] == ["=cmd()", "dee", "eve"]


def test_a_gap_in_the_table_is_never_overwritten(
    sandbox: SheetsSandbox, client: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(
        "Leads", {"Leads": [["Handle"], ["ann"], [""], ["bob"], ["cy"]]}
    )
    source = build_source(client, sid)
    source.append_rows([{"Handle": "new1"}, {"Handle": "new2"}])
    handles = [r[0] if r else "" for r in values(sandbox, sid)[1:]]
    assert {"ann", "bob", "cy", "new1", "new2"} <= set(handles)
    assert len([h for h in handles if h]) == 5


def test_nothing_to_append_sends_nothing(sandbox: SheetsSandbox, client: gspread.Client) -> None:
    sid = sandbox.create_spreadsheet("Leads", {"Leads": [["Handle"]]})
    source = build_source(client, sid)
    sandbox.reset_stats()
    assert source.append_rows([]) == 0
    assert sandbox.stats()["sheets_writes"] == 0


def test_handles_are_read_with_their_platform(
    sandbox: SheetsSandbox, client: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(
        "Leads",
        {
            "Leads": [
                ["Handle", "Platform"],
                ["ann", "tiktok"],
                ["", "x"],
                ["bob", ""],
                [" cy ", "IG"],
            ]
        },
    )
    source = build_source(client, sid, platform_column="Platform", platform="instagram")
    assert source.fetch_handles() == [("ann", "tiktok"), ("bob", "instagram"), ("cy", "IG")]
