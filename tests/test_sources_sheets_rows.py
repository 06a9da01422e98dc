"""Pure sheet row logic: A1 letters, header matching, claims, pending selection and payloads."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from gspread.utils import rowcol_to_a1
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import SourceError
from connector.sources.base import RecordUpdate, Status
from connector.sources.sheets.rows import (
    MAX_CELL_CHARS,
    TRUNCATED_MARKER,
    OutputColumns,
    Snapshot,
    build_update_cells,
    build_value_ranges,
    cell_text,
    check_layout,
    chunk_by_size,
    column_index,
    column_letter,
    column_range,
    column_values,
    find_worksheet,
    fit_cell,
    format_claim,
    format_status,
    format_timestamp,
    get_identity,
    is_pending,
    parse_claim,
    parse_layout,
    parse_row_numbers,
    plan_new_columns,
    quote_title,
    row_range,
    select_pending,
    select_retry_rows,
    skip_backfill,
)


@pytest.mark.parametrize(
    ("index", "letters"),
    [(1, "A"), (26, "Z"), (27, "AA"), (52, "AZ"), (703, "AAA"), (18278, "ZZZ")],
)
def test_column_letter_handles_columns_beyond_z(index: int, letters: str) -> None:
    assert column_letter(index) == letters
    assert column_index(letters) == index


@given(st.integers(min_value=1, max_value=18278))
def test_column_letters_round_trip_and_match_gspread(index: int) -> None:
    letters = column_letter(index)
    assert column_index(letters) == index
    assert rowcol_to_a1(1, index) == f"{letters}1"


def test_column_letter_rejects_zero() -> None:
    with pytest.raises(ValueError):
        column_letter(0)


def test_ranges_quote_titles_with_apostrophes() -> None:
    assert quote_title("Bob's list") == "'Bob''s list'"
    assert row_range("Leads", 1) == "'Leads'!1:1"
    assert column_range("Leads", 28, 2) == "'Leads'!AB2:AB"


def test_layout_matches_headers_trimmed_and_case_insensitive() -> None:
    layout = parse_layout(["  Handle ", "", "ic status", "Followers", "handle", "", ""])
    assert layout.find("HANDLE") == 1
    assert layout.find("IC Status") == 3
    assert layout.find("missing") is None
    assert layout.width == 5
    assert layout.duplicates() == ["handle"]


def test_new_columns_are_appended_after_the_last_header_once() -> None:
    layout = parse_layout(["Handle", "Followers"])
    planned = plan_new_columns(layout, ["IC Status", "followers", "IC Error", "ic status"])
    assert planned == {"IC Status": 3, "IC Error": 4}


@pytest.mark.parametrize(
    ("value", "text"), [(None, ""), (1200, "1200"), (1200.0, "1200"), (1.5, "1.5"), (True, "TRUE")]
)
def test_cell_text_renders_numbers_like_a_human(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_identity_is_trimmed_and_lower_cased() -> None:
    assert get_identity("  @Cristiano ") == "@cristiano"


def test_column_values_fill_empty_middle_rows() -> None:
    assert column_values({"values": [["a"], [], ["b"]]}) == ["a", "", "b"]
    assert column_values({"range": "Leads!B2:B1000"}) == []


@given(
    label=st.sampled_from(["queued", "enriching", "awaiting credits"]),
    token=st.text("0123456789abcdef", min_size=6, max_size=32),
    ts=st.integers(min_value=0, max_value=10**11),
)
def test_claims_round_trip(label: str, token: str, ts: int) -> None:
    claim = parse_claim(format_claim(label, token, ts))
    assert claim is not None
    assert (claim.label, claim.token, claim.claimed_at) == (label, token, ts)


@pytest.mark.parametrize("text", ["", "enriched", "error", "queued", "invalid handle: spaces"])
def test_plain_statuses_hold_no_claim(text: str) -> None:
    assert parse_claim(text) is None


@pytest.mark.parametrize(
    ("handle", "status", "pending"),
    [
        ("@a", "", True),
        ("@a", "  ", True),
        ("@a", "Retry", True),
        ("@a", None, True),
        ("", "", False),
        ("   ", "", False),
        (None, "", False),
        ("@a", "enriched", False),
        ("@a", "not found", False),
        ("@a", "error", False),
        ("@a", format_claim("queued", "9f2a1b7c00", 1_000), False),
        ("@a", format_claim("enriching", "9f2a1b7c00", 100), True),
        (12345, "", True),
    ],
)
def test_pending_means_handle_and_empty_retry_or_stale_status(
    handle: object, status: object, pending: bool
) -> None:
    assert is_pending(handle, status, now=1_500, lease=900) is pending


def test_fit_cell_keeps_numbers_and_truncates_long_text() -> None:
    assert fit_cell(1200) == 1200
    assert fit_cell(0.035) == 0.035
    assert fit_cell(False) is False
    assert fit_cell(float("nan")) == ""
    assert fit_cell(None) == ""
    assert fit_cell(["a", "b"]) == "a, b"
    assert fit_cell("=IMPORTXML(A1)") == "=IMPORTXML(A1)"
    long = fit_cell("x" * 60_000)
    assert len(long) == MAX_CELL_CHARS
    assert long.endswith(TRUNCATED_MARKER)


def test_value_ranges_group_adjacent_cells_per_row() -> None:
    cells = {(7, 3): "enriched", (7, 4): "", (7, 6): 1200, (2, 3): "queued", (8, 3): "x"}
    assert build_value_ranges("Leads", cells) == [
        {"range": "'Leads'!C2", "values": [["queued"]]},
        {"range": "'Leads'!C7:D7", "values": [["enriched", ""]]},
        {"range": "'Leads'!F7", "values": [[1200]]},
        {"range": "'Leads'!C8", "values": [["x"]]},
    ]


@given(
    st.dictionaries(st.tuples(st.integers(1, 50), st.integers(1, 40)), st.integers(), max_size=60)
)
def test_value_ranges_cover_every_cell_exactly_once(cells: dict[tuple[int, int], int]) -> None:
    seen = {}
    for entry in build_value_ranges("T", cells):
        target = entry["range"].split("!")[1]
        start = target.split(":")[0]
        letters = start.rstrip("0123456789")
        row = int(start[len(letters) :])
        for offset, value in enumerate(entry["values"][0]):
            seen[(row, column_index(letters) + offset)] = value
    assert seen == cells


def test_chunks_stay_under_the_payload_limit() -> None:
    entries = [{"range": f"'T'!A{i}", "values": [["x" * 100]]} for i in range(100)]
    chunks = chunk_by_size(entries, limit=2_000)
    assert [e for c in chunks for e in c] == entries
    assert all(len(json.dumps(c)) <= 2_000 for c in chunks)
    assert chunk_by_size(entries) == [entries]


def _snapshot(
    handles: list[object], statuses: list[object], extra: list[object] | None = None
) -> Snapshot:
    layout = parse_layout(["Handle", "IC Status", "Followers", "IC Error", "IC Enriched At"])
    columns: dict[int, list[object]] = {1: handles, 2: statuses}
    if extra is not None:
        columns[3] = extra
    return Snapshot(layout, 2, columns)


def test_snapshot_cells_are_padded_for_ragged_columns() -> None:
    snapshot = _snapshot(["@a", "", "@c"], ["enriched"])
    assert list(snapshot.row_numbers()) == [2, 3, 4]
    assert snapshot.cell(2, 4) == ""
    assert snapshot.cell(None, 2) == ""
    assert snapshot.cell(1, 99) == ""


def test_select_pending_reports_the_next_lease_expiry() -> None:
    live = format_claim("enriching", "abcdef0123", 1_000)
    snapshot = _snapshot(["@a", "@b", "@c", ""], ["", live, "retry", ""])
    rows, expiry = select_pending(snapshot, 1, 2, now=1_500, lease=900)
    assert rows == [2, 4]
    assert expiry == 1_900
    assert select_pending(_snapshot(["@a"], [""]), 1, None, now=0, lease=1) == ([2], float("inf"))


def test_backfill_off_remembers_first_poll_rows_until_retry() -> None:
    ignored: set[str] = set()
    first = _snapshot(["@a", "@b"], ["", "retry"])
    assert skip_backfill(first, [2, 3], 1, 2, ignored, first_poll=True) == [3]
    assert ignored == {"@a"}
    later = _snapshot(["@a", "@new"], ["", ""])
    assert skip_backfill(later, [2, 3], 1, 2, ignored, first_poll=False) == [3]
    retried = _snapshot(["@a"], ["retry"])
    assert skip_backfill(retried, [2], 1, 2, ignored, first_poll=False) == [2]
    assert ignored == set()


@dataclass
class _Settings:
    status_column: str = "IC Status"
    error_column: str = "IC Error"
    enriched_at_column: str = "ic enriched at"


def test_update_cells_keep_human_edits_and_format_status() -> None:
    snapshot = _snapshot(["@a"], ["queued ·c:abcdef0123·1"], ["typed by Ann"])
    columns = OutputColumns.of(snapshot.layout, _Settings())
    update = RecordUpdate(
        "abcdef0123",
        Status.ENRICHED,
        values={"Followers": 10, "Unknown": 1},
        enriched_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    cells = build_update_cells(snapshot, columns, 2, update, {"Followers": ""}, now=0)
    assert cells == {(2, 2): "enriched", (2, 4): "", (2, 5): "2026-01-02 03:04:05 UTC"}
    cells = build_update_cells(snapshot, columns, 2, update, {}, now=0)
    assert cells[(2, 3)] == 10


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (Status.ENRICHING, "", "enriching ·c:abcdef0123·77"),
        (Status.AWAITING_CREDITS, "", "awaiting credits ·c:abcdef0123·77"),
        (Status.INVALID, "contains spaces", "invalid handle: contains spaces"),
        ("invalid handle: too long", "too long", "invalid handle: too long"),
        (Status.NOT_FOUND, "", "not found"),
        (Status.ERROR, "HTTP 500", "error"),
    ],
)
def test_status_text_keeps_tokens_only_for_interim_statuses(
    status: str, error: str, text: str
) -> None:
    assert format_status(status, "abcdef0123", error, 77.9) == text


def test_timestamps_are_utc() -> None:
    from datetime import timedelta, timezone

    stamp = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(stamp) == "2026-01-02 03:04:05 UTC"


def test_find_worksheet_matches_titles_loosely_and_lists_known_ones() -> None:
    metadata = {"sheets": [{"properties": {"title": "Leads ", "sheetId": 7}}]}
    assert find_worksheet(metadata, "leads", "S")["sheetId"] == 7
    with pytest.raises(SourceError, match=r"worksheet 'Other' not found.*'Leads '"):
        find_worksheet(metadata, "Other", "S")


def test_check_layout_names_missing_and_duplicate_columns() -> None:
    layout = parse_layout(["Name", "IC Status", "ic status"])
    problems = check_layout(
        layout,
        where="w",
        handle_column="Handle",
        platform_column="Platform",
        wanted=["Handle", "IC Status"],
    )
    assert problems == [
        "w: handle column 'Handle' not found (headers: 'Name', 'IC Status', 'ic status')",
        "w: platform column 'Platform' not found (headers: 'Name', 'IC Status', 'ic status')",
        "w: column 'ic status' appears more than once; the leftmost one is used",
    ]
    assert check_layout(
        parse_layout([]), where="w", handle_column="Handle", platform_column=None, wanted=[]
    ) == ["w is empty (put column names such as 'Handle' there)"]


@pytest.mark.parametrize(
    ("specs", "rows"),
    [
        (["7"], [7]),
        (["7,9-11"], [7, 9, 10, 11]),
        (["9-10", "7", "10"], [9, 10, 7]),
        (["2 3"], [2, 3]),
    ],
)
def test_row_numbers_and_ranges_are_read(specs: list[str], rows: list[int]) -> None:
    assert parse_row_numbers(specs) == rows


@pytest.mark.parametrize("spec", ["x", "0", "5-3", "3-", "-3", "2.5"])
def test_a_bad_row_spec_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="is not a row number or range"):
        parse_row_numbers([spec])


def test_retry_rows_are_errors_or_named_and_never_a_live_claim() -> None:
    live = format_claim("queued", "abcdef12", 1000)
    lapsed = format_claim("enriching", "ab12cd34", 1)
    handles = ["a", "b", "c", "", "e", "f"]
    statuses = ["error", "enriched", live, "error", lapsed, "ERROR "]
    snapshot = Snapshot(parse_layout(["Handle", "IC Status"]), 2, {1: handles, 2: statuses})
    chosen, skipped = select_retry_rows(
        snapshot, 1, 2, errors=True, rows=[3, 4, 6, 1, 99], now=1100, lease=900
    )
    assert chosen == [2, 3, 6, 7]
    assert skipped == [
        "row 4: being worked on (queued)",
        "row 5: no handle",
        "row 1: the header row or above",
        "row 99: past the last row",
    ]
