"""The Google Sheets source: real gspread against the Sheets sandbox, humans editing in between."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import gspread
import pytest
from pydantic import SecretStr

from connector.config import GoogleSettings, SheetSourceSettings
from connector.errors import SourceError
from connector.handles import parse_handle
from connector.mapping import parse_mapping
from connector.mapping.apply import apply_mapping
from connector.ratelimit import build_storage
from connector.retry import RetryPolicy
from connector.sandbox.sheets import SheetsSandbox
from connector.sources.base import PendingRecord, RecordUpdate, Source, Status
from connector.sources.sheets.google import build_google_budgets, build_gspread_client
from connector.sources.sheets.rows import MAX_CELL_CHARS, parse_claim
from connector.sources.sheets.source import SheetsSource, parse_spreadsheet_key

EMAIL = "connector@sandbox-project.iam.gserviceaccount.com"
MAPPING = """
kind: sheets
fields:
  - target: Followers
    source: followers
  - target: Bio
    source: bio
"""
LEADS = [["Handle", "Platform"], ["@alice", "instagram"], ["bob "], ["carol"]]


@dataclass
class Targets:
    targets: tuple[str, ...] = ("Followers", "Bio")


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


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


@dataclass
class World:
    sandbox: SheetsSandbox
    client: gspread.Client
    clock: Clock = field(default_factory=Clock)

    def source(self, sid: str, mapping: Any = None, **overrides: Any) -> SheetsSource:
        settings = SheetSourceSettings(
            name="leads", type="sheets", spreadsheet=sid, worksheet="Leads", **overrides
        )
        reads, writes = build_google_budgets(
            GoogleSettings(reads_per_minute=1000, writes_per_minute=1000),
            build_storage("memory://"),
            account=EMAIL,
        )
        retry = RetryPolicy(attempts=6)
        return SheetsSource(
            settings,
            client=self.client,
            mapping=mapping or Targets(),
            reads=reads,
            writes=writes,
            clock=self.clock,
            retry=retry,
        )

    def sheet(self, rows: list[list[Any]], **kwargs: Any) -> str:
        return self.sandbox.create_spreadsheet(
            "Leads", {"Leads": [list(r) for r in rows]}, **kwargs
        )

    def rows(self, sid: str) -> dict[str, list[Any]]:
        """Data rows keyed by their handle cell, padded to the header width."""
        values = self.sandbox.get_values(sid, "Leads")
        width = len(values[0])
        return {r[0]: r + [""] * (width - len(r)) for r in values[1:] if r}

    def column(self, sid: str, header: str) -> dict[str, Any]:
        values = self.sandbox.get_values(sid, "Leads")
        index = values[0].index(header)
        return {h: r[index] for h, r in self.rows(sid).items()}


@pytest.fixture
def world(sandbox: SheetsSandbox, client: gspread.Client) -> World:
    return World(sandbox, client)


def enrich_all(
    source: SheetsSource, records: list[PendingRecord], values: Callable[[PendingRecord], dict]
) -> Any:
    updates = [
        RecordUpdate(
            r.key, Status.ENRICHED, values=values(r), enriched_at=datetime(2026, 11, 25, tzinfo=UTC)
        )
        for r in records
    ]
    return source.write_back(updates)


def test_source_fulfils_the_protocol(world: World) -> None:
    assert isinstance(world.source(world.sheet(LEADS)), Source)


def test_spreadsheet_urls_and_keys_are_accepted() -> None:
    url = "https://docs.google.com/spreadsheets/d/1AbC_dEf-123/edit#gid=0"
    assert parse_spreadsheet_key(url) == "1AbC_dEf-123"
    assert parse_spreadsheet_key(" 1AbC_dEf-123 ") == "1AbC_dEf-123"


def test_new_rows_are_claimed_and_results_written_back(world: World) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid, platform_column="Platform")
    records = source.fetch_pending()
    assert [(r.handle_text, r.platform_text, r.location) for r in records] == [
        ("@alice", "instagram", "Leads!A2"),
        ("bob ", None, "Leads!A3"),
        ("carol", None, "Leads!A4"),
    ]
    assert records[1].identity == "bob"
    assert records[0].current == {"Followers": "", "Bio": ""}
    statuses = world.column(sid, "IC Status")
    assert all(parse_claim(statuses[r.handle_text]).token == r.key for r in records)  # type: ignore[union-attr]

    result = enrich_all(source, records, lambda r: {"Followers": 1200, "Bio": f"hi {r.identity}"})
    assert result.written == [r.key for r in records] and not result.missing
    rows = world.rows(sid)
    header = world.sandbox.get_values(sid, "Leads")[0]
    assert header == [
        "Handle",
        "Platform",
        "IC Status",
        "IC Error",
        "IC Enriched At",
        "Followers",
        "Bio",
    ]
    assert rows["@alice"][2:] == ["enriched", "", "2026-11-25 00:00:00 UTC", 1200, "hi @alice"]
    assert source.fetch_pending() == []


def test_unchanged_drive_version_costs_no_sheets_calls(world: World) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid)
    enrich_all(source, source.fetch_pending(), lambda r: {"Followers": 1})
    source.fetch_pending()
    world.sandbox.reset_stats()
    assert source.fetch_pending() == []
    stats = world.sandbox.stats()
    assert (stats["sheets_reads"], stats["sheets_writes"], stats["drive_calls"]) == (0, 0, 1)
    world.sandbox.append_rows(sid, "Leads", [["@dave"]])
    world.sandbox.reset_stats()
    records = source.fetch_pending()
    enrich_all(source, records, lambda r: {"Followers": 2})
    stats = world.sandbox.stats()
    assert [r.handle_text for r in records] == ["@dave"]
    assert (stats["sheets_reads"], stats["sheets_writes"]) == (2, 2)


def test_full_reconcile_runs_even_when_the_version_is_unchanged(world: World) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid, reconcile_every=300)
    assert len(source.fetch_pending()) == 3
    assert source.fetch_pending() == []  # reads once: our own claim moved the version
    world.sandbox.reset_stats()
    source.fetch_pending()
    assert world.sandbox.stats()["sheets_reads"] == 0
    world.clock.now += 301
    assert source.fetch_pending() == []
    assert world.sandbox.stats()["sheets_reads"] == 1


def test_dry_runs_do_not_move_the_change_gate(world: World) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid)
    assert len(source.fetch_pending(claim=False)) == 3
    assert len(source.fetch_pending()) == 3


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda sb, sid: sb.sort(sid, "Leads", "Handle", descending=True), id="sort"),
        pytest.param(lambda sb, sid: sb.insert_rows(sid, "Leads", 2, [["@zed"], []]), id="insert"),
        pytest.param(lambda sb, sid: sb.delete_rows(sid, "Leads", 2), id="delete"),
    ],
)
def test_rows_moving_between_read_and_write_never_misplace_a_value(
    world: World, edit: Callable[[SheetsSandbox, str], None]
) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid)
    records = source.fetch_pending()
    edit(world.sandbox, sid)
    result = enrich_all(
        source, records, lambda r: {"Followers": len(r.identity), "Bio": r.identity}
    )
    rows = world.rows(sid)
    for handle, row in rows.items():
        if row[2] == "enriched":
            assert row[6] == handle.strip().lower()
            assert row[5] == len(handle.strip())
    written = {r.handle_text for r in records if r.key in result.written}
    assert written == {h for h, row in rows.items() if row[2] == "enriched"}
    assert set(result.missing) == {r.key for r in records if r.handle_text not in rows}
    if "@zed" in rows:
        assert rows["@zed"][2] == ""
        assert [r.handle_text for r in source.fetch_pending()] == ["@zed"]


def test_edited_handle_under_a_claim_is_released(world: World) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid)
    records = source.fetch_pending()
    world.sandbox.set_cells(sid, "Leads", {"A2": "@alicia"})
    result = enrich_all(source, records, lambda r: {"Followers": 5})
    assert result.missing == [records[0].key]
    assert world.rows(sid)["@alicia"][2:4] == ["", ""]
    assert [r.handle_text for r in source.fetch_pending()] == ["@alicia"]


def test_human_edit_in_a_mapped_column_survives_overwrite_if_ours(world: World) -> None:
    mapping = parse_mapping(MAPPING)
    sid = world.sheet(LEADS[:2])
    source = world.source(sid, mapping=mapping)
    profile = {"followers": 1200, "bio": "first"}

    def run(records: list[PendingRecord], last: dict[str, str]) -> dict[str, str]:
        (record,) = records
        outcome = apply_mapping(
            mapping, profile, platform="instagram", current=record.current, last_hashes=last
        )
        source.write_back([RecordUpdate(record.key, Status.ENRICHED, values=outcome.changes)])
        return dict(outcome.hashes)

    hashes = run(source.fetch_pending(), {})
    world.sandbox.set_cells(sid, "Leads", {"F2": "1.2k (checked by Ann)", "C2": "retry"})
    profile = {"followers": 1300, "bio": "second"}
    run(source.fetch_pending(), hashes)
    assert world.rows(sid)["@alice"][5:7] == ["1.2k (checked by Ann)", "second"]


def test_human_edit_between_read_and_write_wins(world: World) -> None:
    sid = world.sheet(LEADS[:2])
    source = world.source(sid)
    (record,) = source.fetch_pending()
    world.sandbox.set_cells(sid, "Leads", {"D2": "typed by Ann"})
    source.write_back(
        [RecordUpdate(record.key, Status.ENRICHED, values={"Followers": 9, "Bio": "x"})]
    )
    # D is "IC Error" here, so it is overwritten; the mapped Followers column must win instead:
    world.sandbox.set_cells(sid, "Leads", {"C2": "retry"})
    (record,) = source.fetch_pending()
    world.sandbox.set_cells(sid, "Leads", {"F2": "typed by Ann"})
    source.write_back(
        [RecordUpdate(record.key, Status.ENRICHED, values={"Followers": 10, "Bio": "y"})]
    )
    assert world.rows(sid)["@alice"][5:7] == ["typed by Ann", "y"]


def test_formula_looking_values_land_as_text_and_numbers_stay_numbers(world: World) -> None:
    sid = world.sheet(LEADS[:2])
    source = world.source(sid)
    (record,) = source.fetch_pending()
    bio = '=IMPORTXML("https://evil.example", "//a")'
    source.write_back(
        [RecordUpdate(record.key, Status.ENRICHED, values={"Followers": 0.035, "Bio": bio})]
    )
    row = world.rows(sid)["@alice"]
    assert row[5:7] == [0.035, bio]
    assert isinstance(row[5], float)


def test_values_over_50000_characters_are_truncated(world: World) -> None:
    sid = world.sheet(LEADS[:2])
    source = world.source(sid)
    (record,) = source.fetch_pending()
    source.write_back([RecordUpdate(record.key, Status.ENRICHED, values={"Bio": "x" * 70_000})])
    assert len(world.rows(sid)["@alice"][6]) == MAX_CELL_CHARS


def test_raw_handle_text_arrives_intact_for_normalisation(world: World) -> None:
    rows = [["Handle"], ["@Cristiano  "], ["https://www.instagram.com/khaby.lame/"], [], ["  nasa"]]
    sid = world.sheet(rows)
    records = world.source(sid, platform="instagram").fetch_pending(claim=False)
    assert [r.handle_text for r in records] == [
        "@Cristiano  ",
        "https://www.instagram.com/khaby.lame/",
        "  nasa",
    ]
    assert [r.location for r in records] == ["Leads!A2", "Leads!A3", "Leads!A5"]
    assert {r.platform_text for r in records} == {"instagram"}
    parsed = [parse_handle(r.handle_text, r.platform_text).value.lower() for r in records]
    assert parsed == ["cristiano", "khaby.lame", "nasa"]
    assert all(r.key.startswith("Leads!") for r in records)
    assert world.column(sid, "Handle") == {r[0]: r[0] for r in rows[1:] if r}


def test_statuses_retry_and_cleared_cells_requeue(world: World) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid)
    records = source.fetch_pending()
    source.write_back([RecordUpdate(records[0].key, Status.NOT_FOUND)])
    source.write_back([RecordUpdate(records[1].key, Status.INVALID, error="contains spaces")])
    source.write_back([RecordUpdate(records[2].key, Status.ERROR, error="HTTP 500 from API")])
    statuses = world.column(sid, "IC Status")
    assert statuses == {
        "@alice": "not found",
        "bob ": "invalid handle: contains spaces",
        "carol": "error",
    }
    assert world.column(sid, "IC Error")["carol"] == "HTTP 500 from API"
    assert source.fetch_pending() == []
    world.sandbox.set_cells(sid, "Leads", {"C2": "", "C4": " Retry "})
    assert [r.handle_text for r in source.fetch_pending()] == ["@alice", "carol"]


def test_mark_keeps_the_claim_and_stale_claims_are_picked_again(world: World) -> None:
    sid = world.sheet(LEADS[:2])
    source = world.source(sid, claim_lease=900)
    (record,) = source.fetch_pending()
    world.clock.now += 100
    assert source.mark([record.key], Status.AWAITING_CREDITS).written == [record.key]
    claim = parse_claim(world.column(sid, "IC Status")["@alice"])
    assert claim is not None and (claim.label, claim.token) == ("awaiting credits", record.key)
    assert claim.claimed_at == int(world.clock.now)
    world.clock.now += 899
    assert source.fetch_pending() == []
    world.clock.now += 2
    (again,) = source.fetch_pending()
    assert again.handle_text == "@alice" and again.key != record.key
    assert source.write_back([RecordUpdate(record.key, Status.ENRICHED)]).missing == [record.key]


def test_backfill_off_ignores_rows_present_at_the_first_poll(world: World) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid, backfill=False)
    assert source.fetch_pending() == []
    world.sandbox.append_rows(sid, "Leads", [["@erin"]])
    world.sandbox.set_cells(sid, "Leads", {"C3": "retry"})
    assert sorted(r.handle_text for r in source.fetch_pending()) == ["@erin", "bob "]


def test_header_moves_and_renames_are_picked_up(world: World) -> None:
    sid = world.sheet([["Handle", "IC Status"], ["@a", "enriched"], ["@b"]])
    source = world.source(sid)
    assert [r.handle_text for r in source.fetch_pending(claim=False)] == ["@b"]
    world.sandbox.set_cells(
        sid,
        "Leads",
        {
            "A1": "Notes",
            "B1": "  handle ",
            "C1": "IC Status",
            "A2": "",
            "A3": "",
            "B2": "@a",
            "B3": "@b",
            "C2": "enriched",
        },
    )
    (record,) = source.fetch_pending()
    assert record.location == "Leads!B3"
    source.write_back([RecordUpdate(record.key, Status.ENRICHED, values={"Followers": 3})])
    assert world.sandbox.get_values(sid, "Leads")[2][:3] == ["", "@b", "enriched"]


def test_output_columns_beyond_z_grow_the_grid_without_shrinking(world: World) -> None:
    header = ["Handle"] + [f"Col {i}" for i in range(2, 27)]
    sid = world.sheet([header, ["@a"]], cols=26)
    source = world.source(sid)
    (record,) = source.fetch_pending()
    source.write_back([RecordUpdate(record.key, Status.ENRICHED, values={"Followers": 7})])
    values = world.sandbox.get_values(sid, "Leads")
    assert values[0][26:] == ["IC Status", "IC Error", "IC Enriched At", "Followers", "Bio"]
    assert values[1][26] == "enriched" and values[1][29] == 7


def retries(caplog: pytest.LogCaptureFixture) -> int:
    """How many calls the retry policy sent again (it logs each one)."""
    return sum(1 for r in caplog.records if r.name == "connector.retry")


def test_429_and_5xx_bursts_during_a_poll_are_absorbed(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid)
    world.sandbox.inject_faults(429, 2, kind="sheets")
    world.sandbox.inject_faults(503, 1, html=True, kind="any")
    records = source.fetch_pending()
    world.sandbox.inject_faults(500, 2, kind="sheets")
    assert len(enrich_all(source, records, lambda r: {"Followers": 1}).written) == 3
    assert retries(caplog) == 5


def test_unshared_sheet_gives_the_clear_error(world: World) -> None:
    sid = world.sheet(LEADS, shared=False)
    source = world.source(sid)
    with pytest.raises(SourceError, match=f"share the sheet with {EMAIL}"):
        source.fetch_pending()
    (problem,) = source.check()
    assert EMAIL in problem and problem.startswith("leads: ")


def test_check_reports_headers_and_lints_the_mapping(world: World) -> None:
    sid = world.sheet([["Name", "Followers", "followers"], ["Ann"]])
    problems = world.source(sid, mapping=parse_mapping(MAPPING), platform_column="Platform").check()
    assert any("handle column 'Handle' not found" in p and "'Name'" in p for p in problems)
    assert any("platform column 'Platform' not found" in p for p in problems)
    assert any("'followers' appears more than once" in p for p in problems)
    # Missing output columns are created by the source, so only a likely typo is a problem.
    assert not any("'Bio' is missing" in p for p in problems)
    misspelled = world.sheet([["Handle", "Bios"], ["ann"]])
    assert any(
        "'Bio' is missing" in p and "'Bios' exists" in p
        for p in world.source(misspelled, mapping=parse_mapping(MAPPING)).check()
    )
    assert world.source(world.sheet(LEADS)).check() == []
    missing_tab = world.source(world.sandbox.create_spreadsheet("Other")).check()
    assert "worksheet 'Leads' not found" in missing_tab[0] and "'Sheet1'" in missing_tab[0]


def test_missing_handle_column_is_a_source_error(world: World) -> None:
    source = world.source(world.sheet([["Name"], ["Ann"]]))
    with pytest.raises(SourceError, match="handle column 'Handle' not found"):
        source.fetch_pending()


def test_write_back_from_another_process_finds_rows_by_token(world: World) -> None:
    sid = world.sheet(LEADS)
    records = world.source(sid).fetch_pending()
    world.sandbox.sort(sid, "Leads", "Handle", descending=True)
    later = world.source(sid)
    result = enrich_all(later, records, lambda r: {"Bio": r.identity})
    assert sorted(result.written) == sorted(r.key for r in records)
    assert world.column(sid, "Bio") == {"@alice": "@alice", "bob ": "bob", "carol": "carol"}


def test_dry_run_writes_nothing(world: World) -> None:
    sid = world.sheet(LEADS)
    world.sandbox.reset_stats()
    records = world.source(sid).fetch_pending(claim=False)
    assert [r.key for r in records] == ["Leads!2", "Leads!3", "Leads!4"]
    assert world.sandbox.stats()["sheets_writes"] == 0
    assert world.sandbox.get_values(sid, "Leads") == LEADS


def test_header_row_below_the_top_is_honoured(world: World) -> None:
    sid = world.sheet([["Leads from the fair"], [], ["Handle"], ["@a"], [], ["@b"]])
    source = world.source(sid, header_row=3)
    records = source.fetch_pending()
    assert [r.location for r in records] == ["Leads!A4", "Leads!A6"]
    enrich_all(source, records, lambda r: {"Followers": 1})
    values = world.sandbox.get_values(sid, "Leads")
    assert values[2][:2] == ["Handle", "IC Status"]
    assert values[3][1] == values[5][1] == "enriched"
    assert values[0] == ["Leads from the fair"]


def test_copied_status_cell_does_not_redirect_the_write(world: World) -> None:
    sid = world.sheet(LEADS[:3])
    source = world.source(sid)
    alice, _bob = source.fetch_pending()
    copied = world.column(sid, "IC Status")["@alice"]
    world.sandbox.set_cells(sid, "Leads", {"C3": copied})
    world.sandbox.sort(sid, "Leads", "Handle", descending=True)
    source.write_back([RecordUpdate(alice.key, Status.ENRICHED, values={"Bio": "alice"})])
    rows = world.rows(sid)
    assert rows["@alice"][2] == "enriched" and rows["@alice"][6] == "alice"
    assert rows["bob "][2] == copied and rows["bob "][6] == ""


def test_claim_found_on_another_handle_restores_that_rows_status(world: World) -> None:
    sid = world.sheet([["Handle", "IC Status"], ["@alice"], ["@bob", "enriched"]])
    source = world.source(sid)
    (alice,) = source.fetch_pending()
    claim = world.column(sid, "IC Status")["@alice"]
    world.sandbox.set_cells(sid, "Leads", {"B3": claim})
    world.sandbox.delete_rows(sid, "Leads", 2)
    result = source.write_back([RecordUpdate(alice.key, Status.ENRICHED, values={"Bio": "x"})])
    assert result.missing == [alice.key]
    assert world.rows(sid)["@bob"][1:] == ["enriched"] + [""] * 4


def test_large_write_backs_are_chunked_under_the_payload_limit(world: World) -> None:
    sid = world.sheet([["Handle"]] + [[f"@c{i}"] for i in range(60)])
    source = world.source(sid)
    records = source.fetch_pending()
    world.sandbox.reset_stats()
    enrich_all(source, records, lambda r: {"Bio": r.identity + "x" * 45_000})
    stats = world.sandbox.stats()
    assert stats["sheets_writes"] == 2
    assert 1_000_000 < stats["max_write_bytes"] < 2_000_000
    assert all(len(v) == 45_000 + len(h) for h, v in world.column(sid, "Bio").items())


def test_drive_outage_falls_back_to_reading_the_sheet(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    sid = world.sheet(LEADS)
    source = world.source(sid)
    world.sandbox.inject_faults(500, 6, kind="drive")
    assert len(source.fetch_pending()) == 3
    assert retries(caplog) == 5


def test_image_formulas_go_in_a_separate_user_entered_write(world: World) -> None:
    prefix = "https://connector.example.com/media/"
    picture = f"{prefix}{'ab' * 32}.png"
    mapping = parse_mapping(
        "kind: sheets\nfields:\n"
        "  - {target: Profile Picture, source: p, transform: [rehost], image_formula: Picture}\n"
    )
    sid = world.sheet(LEADS[:3])
    settings = SheetSourceSettings(name="leads", type="sheets", spreadsheet=sid, worksheet="Leads")
    reads, writes = build_google_budgets(
        GoogleSettings(reads_per_minute=1000, writes_per_minute=1000),
        build_storage("memory://"),
        account=EMAIL,
    )
    source = SheetsSource(
        settings,
        client=world.client,
        mapping=mapping,
        reads=reads,
        writes=writes,
        clock=world.clock,
        media_url_prefix=prefix,
    )
    alice, bob = source.fetch_pending()
    evil = f'{picture}")&HYPERLINK("https://evil.example'
    source.write_back(
        [
            RecordUpdate(alice.key, Status.ENRICHED, values={"Profile Picture": picture}),
            RecordUpdate(bob.key, Status.ENRICHED, values={"Profile Picture": evil}),
        ]
    )
    assert world.column(sid, "Profile Picture") == {"@alice": picture, "bob ": evil}
    assert world.sandbox.get_formulas(sid, "Leads") == {"G2": f'=IMAGE("{picture}")'}
    assert world.column(sid, "Picture")["bob "] == ""
