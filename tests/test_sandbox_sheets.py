"""The Sheets/Drive sandbox, driven by real gspread 6.2.1 through a service-account login."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import google.auth.exceptions
import gspread
import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from hypothesis import given
from hypothesis import strategies as st

from connector.sandbox.google_auth import build_service_account_info
from connector.sandbox.sheets import SheetsSandbox
from connector.sandbox.sheets_ranges import (
    GridRange,
    RangeError,
    column_index,
    column_letters,
    parse_a1,
)
from connector.sandbox.sheets_values import Formula, parse_input
from connector.sandbox.sheets_wire import QuotaWindow

GOOGLE_PREFIXES = ("https://sheets.googleapis.com", "https://www.googleapis.com")
DRIVE = "https://www.googleapis.com/drive/v3/files"


def redirecting_client(base_url: str) -> type[gspread.HTTPClient]:
    """The production technique: rewrite Google's prefixes to the sandbox URL."""

    class Redirecting(gspread.HTTPClient):
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
            for prefix in GOOGLE_PREFIXES:
                if endpoint.startswith(prefix):
                    endpoint = base_url + endpoint[len(prefix) :]
                    break
            return super().request(method, endpoint, *args, **kwargs)

    return Redirecting


def connect(sandbox: SheetsSandbox, info: dict[str, Any] | None = None) -> gspread.Client:
    info = info or sandbox.service_account_info()
    gc = gspread.service_account_from_dict(info, http_client=redirecting_client(sandbox.url))
    gc.set_timeout((5, 30))
    return gc


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SheetsSandbox]:
    with SheetsSandbox() as running:
        yield running


@pytest.fixture(scope="module")
def account(shared_sandbox: SheetsSandbox) -> dict[str, Any]:
    return shared_sandbox.service_account_info()


@pytest.fixture
def sandbox(shared_sandbox: SheetsSandbox) -> SheetsSandbox:
    """One server per module (stopping one takes 0.5 s); counters, faults and quotas reset."""
    shared_sandbox.reset()
    return shared_sandbox


@pytest.fixture
def gc(sandbox: SheetsSandbox, account: dict[str, Any]) -> gspread.Client:
    return connect(sandbox, account)


RAGGED = [["A1", "B1", "", "D1"], ["", "b2"], [], ["A4", "B4", "", "D4"]]


def test_service_account_login_exchanges_a_signed_jwt_for_a_bearer_token(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet("Leads")
    assert gc.open_by_key(sid).title == "Leads"
    log = sandbox.requests()
    assert [entry["call"] for entry in log] == ["token", "spreadsheets.get"]
    assert log[0]["status"] == 200
    assert gc.http_client.auth.token.startswith("ya29.sandbox-")
    assert gc.expiry is not None
    assert sandbox.stats()["token_calls"] == 1


def test_token_endpoint_rejects_garbage_and_unknown_accounts(sandbox: SheetsSandbox) -> None:
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    garbage = requests.post(
        f"{sandbox.url}/token", data={"grant_type": grant, "assertion": "not.a.jwt"}, timeout=5
    )
    assert garbage.status_code == 400
    assert garbage.json()["error"] == "invalid_grant"
    wrong_grant = requests.post(f"{sandbox.url}/token", data={"grant_type": "password"}, timeout=5)
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    stranger = build_service_account_info(f"{sandbox.url}/token", "stranger@elsewhere.com")
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        connect(sandbox, stranger).open_by_key(sandbox.create_spreadsheet())


def test_assertion_signed_by_another_key_is_rejected(sandbox: SheetsSandbox) -> None:
    registered = sandbox.service_account_info()
    forged = build_service_account_info(registered["token_uri"], registered["client_email"])
    with pytest.raises(google.auth.exceptions.RefreshError, match="Invalid JWT Signature"):
        connect(sandbox, forged).open_by_key(sandbox.create_spreadsheet())


def test_api_calls_need_an_issued_bearer_token(sandbox: SheetsSandbox) -> None:
    sid = sandbox.create_spreadsheet()
    for headers in ({}, {"Authorization": "Bearer made-up"}):
        response = requests.get(f"{sandbox.url}/v4/spreadsheets/{sid}", headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
        error = response.json()["error"]
        assert error["status"] == "UNAUTHENTICATED"
        reason = "ACCESS_TOKEN_TYPE_UNSUPPORTED" if headers else "CREDENTIALS_MISSING"
        assert error["details"][0]["reason"] == reason
    drive = requests.get(f"{sandbox.url}/drive/v3/files/{sid}", timeout=5)
    assert drive.status_code == 401
    assert drive.json()["error"]["errors"][0]["reason"] == "authError"


def test_anonymous_clients_work_when_auth_is_not_required() -> None:
    with SheetsSandbox(require_auth=False) as sandbox:
        sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["x"]]})
        gc = gspread.Client(AnonymousCredentials(), http_client=redirecting_client(sandbox.url))
        gc.set_timeout((5, 30))
        assert gc.open_by_key(sid).sheet1.get_all_values()[0][0] == "x"


def test_metadata_lists_sheets_with_their_grids(sandbox: SheetsSandbox, gc: gspread.Client) -> None:
    sid = sandbox.create_spreadsheet("Book", {"Sheet1": [["a"]], "Other": []}, rows=50, cols=8)
    sp = gc.open_by_key(sid)
    assert [(ws.title, ws.row_count, ws.col_count) for ws in sp.worksheets()] == [
        ("Sheet1", 50, 8),
        ("Other", 50, 8),
    ]
    assert sp.sheet1.id == 0
    assert sp.locale == "en_US"
    metadata = sp.fetch_sheet_metadata()
    assert metadata["spreadsheetUrl"] == f"https://docs.google.com/spreadsheets/d/{sid}/edit"
    assert metadata["sheets"][1]["properties"]["index"] == 1


def test_values_get_trims_like_google(sandbox: SheetsSandbox, gc: gspread.Client) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": RAGGED})
    sp = gc.open_by_key(sid)
    whole = sp.values_get("'Sheet1'")
    assert whole == {"range": "Sheet1!A1:Z1000", "majorDimension": "ROWS", "values": RAGGED}
    assert sp.sheet1.get_all_values()[2] == ["", "", "", ""]
    assert "values" not in sp.values_get("'Sheet1'!F1:G9")
    assert sp.values_get("'Sheet1'!B2")["range"] == "Sheet1!B2"


def test_batch_get_clips_open_ranges_and_labels_them(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": RAGGED})
    ws = gc.open_by_key(sid).sheet1
    got = ws.batch_get(["A1:B2", "C:C", "1:1", "A2:D", "A1:1", "B3", "A2:A"])
    assert [vr.range for vr in got] == [
        "Sheet1!A1:B2",
        "Sheet1!C1:C1000",
        "Sheet1!A1:Z1",
        "Sheet1!A2:D1000",
        "Sheet1!A1:Z1",
        "Sheet1!B3",
        "Sheet1!A2:A1000",
    ]
    assert [list(vr) for vr in got[:4]] == [
        [["A1", "B1"], ["", "b2"]],
        [],
        [["A1", "B1", "", "D1"]],
        [["", "b2"], [], ["A4", "B4", "", "D4"]],
    ]


def test_range_labels_and_bounded_reads(sandbox: SheetsSandbox, gc: gspread.Client) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": RAGGED})
    sp = gc.open_by_key(sid)
    body = sp.values_batch_get(["'Sheet1'!C:C", "'Sheet1'!1:1", "'Sheet1'!A2:D", "Sheet1!A2:A"])
    assert [vr["range"] for vr in body["valueRanges"]] == [
        "Sheet1!C1:C1000",
        "Sheet1!A1:Z1",
        "Sheet1!A2:D1000",
        "Sheet1!A2:A1000",
    ]
    assert "values" not in body["valueRanges"][0]
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sp.values_get("'Sheet1'!AA1:AB2")
    assert exc.value.response.status_code == 400
    assert "exceeds grid limits. Max rows: 1000, max columns: 26" in str(exc.value)
    with pytest.raises(gspread.exceptions.APIError, match=r"Unable to parse range: 'Nope'!A1"):
        sp.values_get("'Nope'!A1")


@pytest.mark.parametrize(
    ("title", "label"),
    [
        ("Bob's list", "'Bob''s list'!A1:Z1000"),
        ("D3", "'D3'!A1:Z1000"),
        ("Q1/Q2: leads", "'Q1/Q2: leads'!A1:Z1000"),
        ("leads_2024", "leads_2024!A1:Z1000"),
    ],
)
def test_titles_survive_encoding_and_are_quoted_when_not_simple(
    sandbox: SheetsSandbox, gc: gspread.Client, title: str, label: str
) -> None:
    sid = sandbox.create_spreadsheet(sheets={title: [["h"]]})
    ws = gc.open_by_key(sid).worksheet(title)
    ws.update([["x", "y"]], "B2")
    assert ws.client.values_get(sid, gspread.utils.absolute_range_name(title))["range"] == label
    assert sandbox.get_values(sid, title) == [["h"], ["", "x", "y"]]


def test_render_options_and_major_dimension(sandbox: SheetsSandbox, gc: gspread.Client) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["n", "flag"], [1200.0, True], [3.5]]})
    ws = gc.open_by_key(sid).sheet1
    assert ws.get("A2:B3") == [["1200", "TRUE"], ["3.5"]]
    assert ws.get("A2:B3", value_render_option="UNFORMATTED_VALUE") == [[1200, True], [3.5]]
    assert ws.get("A1:B3", major_dimension="COLUMNS") == [["n", "1200", "3.5"], ["flag", "TRUE"]]
    assert ws.col_values(2) == ["flag", "TRUE"]


def test_raw_keeps_text_while_user_entered_parses(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet()
    ws = gc.open_by_key(sid).sheet1
    injected = '=IMPORTXML("https://evil.example", "//a")'
    ws.batch_update([{"range": "A1:C1", "values": [[injected, "007", "TRUE"]]}], raw=True)
    ws.batch_update([{"range": "A2:C2", "values": [["=SUM(1,2)", "007", "TRUE"]]}], raw=False)
    assert sandbox.get_formulas(sid, "Sheet1") == {"A2": "=SUM(1,2)"}
    assert sandbox.get_values(sid, "Sheet1") == [[injected, "007", "TRUE"], ["=SUM(1,2)", 7, True]]
    assert ws.get("A1:C2", value_render_option="FORMULA") == [
        [injected, "007", "TRUE"],
        ["=SUM(1,2)", 7, True],
    ]
    ws.update_acell("D1", "1,500")
    assert sandbox.get_values(sid, "Sheet1")[0][3] == 1500


def test_batch_update_skips_nulls_clears_empty_strings_and_reports_totals(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["a", "b", "c"], ["d", "e", "f"]]})
    ws = gc.open_by_key(sid).sheet1
    result = ws.batch_update(
        [{"range": "A1:C1", "values": [[None, "", "C"]]}, {"range": "B2", "values": [["E"]]}]
    )
    assert sandbox.get_values(sid, "Sheet1") == [["a", "", "C"], ["d", "E", "f"]]
    assert result["totalUpdatedCells"] == 3
    assert result["totalUpdatedRows"] == 2
    assert result["totalUpdatedSheets"] == 1
    assert [r["updatedRange"] for r in result["responses"]] == ["Sheet1!A1:C1", "Sheet1!B2"]


def test_batch_update_is_atomic_and_needs_a_value_input_option(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["keep"]]})
    sp = gc.open_by_key(sid)
    version = sandbox.drive_version(sid)
    data = [
        {"range": "'Sheet1'!A1", "values": [["changed"]]},
        {"range": "'Sheet1'!AA1", "values": [["too wide"]]},
    ]
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sp.values_batch_update({"valueInputOption": "RAW", "data": data})
    assert exc.value.response.status_code == 400
    assert exc.value.error["message"] == (
        "Range ('Sheet1'!AA1) exceeds grid limits. Max rows: 1000, max columns: 26"
    )
    with pytest.raises(gspread.exceptions.APIError, match="valueInputOption"):
        sp.values_batch_update({"data": data[:1]})
    with pytest.raises(gspread.exceptions.APIError, match="valueInputOption"):
        sp.values_update("'Sheet1'!A1", params={}, body={"values": [["x"]]})
    assert sandbox.get_values(sid, "Sheet1") == [["keep"]]
    assert sandbox.drive_version(sid) == version


def test_writes_outside_a_bounded_range_and_huge_cells_are_rejected(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    ws = gc.open_by_key(sandbox.create_spreadsheet()).sheet1
    with pytest.raises(gspread.exceptions.APIError, match="tried writing to column"):
        ws.update([["a", "b", "c"]], "A1:B1")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([["x" * 50_001]], "A1")
    assert exc.value.error["message"] == (
        "Your input contains more than the maximum of 50000 characters in a single cell."
    )
    assert exc.value.error["status"] == "INVALID_ARGUMENT"


def test_update_echoes_values_when_asked(sandbox: SheetsSandbox, gc: gspread.Client) -> None:
    ws = gc.open_by_key(sandbox.create_spreadsheet()).sheet1
    result = ws.update([[1, "b"]], "B2", include_values_in_response=True)
    assert result["updatedRange"] == "Sheet1!B2:C2"
    assert result["updatedData"] == {
        "range": "Sheet1!B2:C2",
        "majorDimension": "ROWS",
        "values": [["1", "b"]],
    }


def test_append_rows_lands_after_the_table_and_widens_the_grid(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["h1", "h2"], ["a", "b"]]}, cols=2)
    ws = gc.open_by_key(sid).sheet1
    result = ws.append_rows([["c", "d", "e"]], table_range="A1")
    assert result["tableRange"] == "Sheet1!A1:B2"
    assert result["updates"]["updatedRange"] == "Sheet1!A3:C3"
    assert sandbox.get_values(sid, "Sheet1")[-1] == ["c", "d", "e"]
    assert gc.open_by_key(sid).sheet1.col_count == 3


def test_column_aa_needs_a_wider_grid_and_add_cols_uses_the_cached_size(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["h"]]})
    sp = gc.open_by_key(sid)
    ws = sp.sheet1
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([["x"]], "AA1")
    assert exc.value.response.status_code == 400
    sandbox.set_cells(sid, "Sheet1", {"AD1": "human"})  # the grid is 30 wide now
    ws.add_cols(2)  # gspread sends cached 26 + 2: the human's column AD is cut off
    assert sp.sheet1.col_count == 28
    assert sandbox.get_values(sid, "Sheet1") == [["h"]]
    sp.batch_update(
        {"requests": [{"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 4}}]}
    )
    ws = sp.sheet1
    assert ws.col_count == 32
    ws.update([["aa", "ab"]], "AA1:AB1")
    assert ws.get("AA1:AF1") == [["aa", "ab"]]
    assert ws.batch_get(["AA:AA"])[0].range == "Sheet1!AA1:AA1000"


def test_unknown_batch_update_requests_are_rejected_whole(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet()
    sp = gc.open_by_key(sid)
    body = {
        "requests": [
            {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 5}},
            {"mergeCells": {"range": {"sheetId": 0}}},
        ]
    }
    with pytest.raises(gspread.exceptions.APIError, match='Unknown name "mergeCells"'):
        sp.batch_update(body)
    assert sp.sheet1.row_count == 1000


def test_gspread_insert_and_delete_rows_use_dimension_requests(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["h"], ["a"], ["b"]]})
    ws = gc.open_by_key(sid).sheet1
    ws.insert_rows([["new"]], row=2)
    ws.delete_rows(4)
    assert sandbox.get_values(sid, "Sheet1") == [["h"], ["new"], ["a"]]
    assert gc.open_by_key(sid).sheet1.row_count == 1000


def test_clear_and_batch_clear(sandbox: SheetsSandbox, gc: gspread.Client) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["a", "b"], ["c", "d"]]})
    ws = gc.open_by_key(sid).sheet1
    assert ws.batch_clear(["A1", "B2:B"])["clearedRanges"] == ["Sheet1!A1", "Sheet1!B2:B1000"]
    assert sandbox.get_values(sid, "Sheet1") == [["", "b"], ["c"]]
    assert ws.clear()["clearedRange"] == "Sheet1!A1:Z1000"
    assert sandbox.get_values(sid, "Sheet1") == []


def test_unknown_and_unshared_spreadsheets(sandbox: SheetsSandbox, gc: gspread.Client) -> None:
    with pytest.raises(gspread.SpreadsheetNotFound):
        gc.open_by_key("missing-id")
    sid = sandbox.create_spreadsheet(shared=False)
    with pytest.raises(PermissionError):
        gc.open_by_key(sid)
    sandbox.set_shared(sid, True)
    sp = gc.open_by_key(sid)
    sandbox.set_shared(sid, False)
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sp.sheet1.get_all_values()
    assert exc.value.error == {
        "code": 403,
        "message": "The caller does not have permission",
        "status": "PERMISSION_DENIED",
    }
    with pytest.raises(gspread.exceptions.APIError) as exc:
        gc.get_file_drive_metadata(sid)
    # Drive answers files the caller cannot read with the same 404 as missing ones.
    assert exc.value.response.status_code == 404


def test_drive_404_uses_the_drive_error_shape(sandbox: SheetsSandbox, gc: gspread.Client) -> None:
    with pytest.raises(gspread.exceptions.APIError) as exc:
        gc.get_file_drive_metadata("missing-id")
    assert exc.value.response.json() == {
        "error": {
            "errors": [
                {
                    "domain": "global",
                    "reason": "notFound",
                    "message": "File not found: missing-id.",
                    "locationType": "parameter",
                    "location": "fileId",
                }
            ],
            "code": 404,
            "message": "File not found: missing-id.",
        }
    }


def test_drive_version_bumps_on_every_write_and_human_edit(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["h"], ["a"]]})
    sp = gc.open_by_key(sid)

    def version() -> int:
        params = {"fields": "version,modifiedTime", "supportsAllDrives": True}
        body = gc.http_client.request("get", f"{DRIVE}/{sid}", params=params).json()
        assert set(body) == {"version", "modifiedTime"}
        return int(body["version"])

    seen = [version()]
    sp.sheet1.update([["x"]], "B1")
    seen.append(version())
    sp.sheet1.get_all_values()
    seen.append(version())
    sandbox.set_cells(sid, "Sheet1", {"C3": "typed"})
    seen.append(version())
    sandbox.sort(sid, "Sheet1", "A", descending=True)
    seen.append(version())
    sp.sheet1.append_row(["z"])
    seen.append(version())
    assert seen == [seen[0], seen[0] + 1, seen[0] + 1, seen[0] + 2, seen[0] + 3, seen[0] + 4]
    assert sandbox.drive_version(sid) == seen[-1]
    assert sp.get_lastUpdateTime().endswith("Z")


def test_reads_over_the_minute_quota_get_the_exact_429() -> None:
    with SheetsSandbox(reads_per_minute=3, writes_per_minute=2) as sandbox:
        gc = connect(sandbox)
        sid = sandbox.create_spreadsheet()
        ws = gc.open_by_key(sid).sheet1  # two reads: open and sheet1
        ws.get_all_values()
        with pytest.raises(gspread.exceptions.APIError) as exc:
            ws.get_all_values()
        assert exc.value.response.status_code == 429
        error = exc.value.error
        assert error["status"] == "RESOURCE_EXHAUSTED"
        assert error["message"].startswith(
            "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute "
            "per user' of service 'sheets.googleapis.com'"
        )
        info = error["details"][0]
        assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
        assert info["reason"] == "RATE_LIMIT_EXCEEDED"
        assert info["metadata"]["quota_limit"] == "ReadRequestsPerMinutePerUser"
        assert info["metadata"]["quota_limit_value"] == "3"
        ws.update([["w"]], "A1")
        ws.update([["w"]], "A2")
        with pytest.raises(gspread.exceptions.APIError, match="Write requests"):
            ws.update([["w"]], "A3")
        assert sandbox.stats()["http_429"] == 2


def test_injected_faults_hit_the_next_matching_requests(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet()
    sp = gc.open_by_key(sid)
    ws = sp.sheet1
    sandbox.inject_faults(503, kind="sheets")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sp.sheet1.get_all_values()
    assert (exc.value.code, exc.value.error["status"]) == (503, "UNAVAILABLE")
    sandbox.inject_faults(502, html=True)
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sp.sheet1.get_all_values()
    assert exc.value.code == -1
    assert exc.value.response.status_code == 502
    assert exc.value.response.headers["Content-Type"].startswith("text/html")
    sandbox.inject_faults(429, kind="drive")
    sandbox.inject_faults(429, kind="sheets")
    with pytest.raises(gspread.exceptions.APIError) as exc:
        sp.get_lastUpdateTime()
    assert exc.value.response.json()["error"]["errors"][0]["domain"] == "usageLimits"
    with pytest.raises(gspread.exceptions.APIError) as exc:
        ws.update([["x"]], "A1")
    assert exc.value.error["details"][0]["metadata"]["quota_metric"] == (
        "sheets.googleapis.com/write_requests"
    )
    sandbox.inject_faults(500, kind="token")
    token = requests.post(f"{sandbox.url}/token", data={"grant_type": "x"}, timeout=5)
    assert token.status_code == 500
    assert ws.get_all_values() == [[]]  # gspread pads an empty sheet to one empty row


def test_human_edits_insert_delete_sort_and_append(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    rows = [["handle", "followers"], ["carol", 5], ["alice", 30], ["bob", ""]]
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": rows})
    sandbox.insert_rows(sid, "Sheet1", 2, [["dave", 7]])
    sandbox.delete_rows(sid, "Sheet1", 4)
    assert sandbox.get_values(sid, "Sheet1") == [
        ["handle", "followers"],
        ["dave", 7],
        ["carol", 5],
        ["bob"],
    ]
    sandbox.sort(sid, "Sheet1", "followers")
    assert [r[0] for r in sandbox.get_values(sid, "Sheet1")] == ["handle", "carol", "dave", "bob"]
    sandbox.sort(sid, "Sheet1", 1, descending=True)
    sandbox.append_rows(sid, "Sheet1", [["erin", 1]])
    ws = gc.open_by_key(sid).sheet1
    assert ws.get_all_values() == [
        ["handle", "followers"],
        ["dave", "7"],
        ["carol", "5"],
        ["bob", ""],
        ["erin", "1"],
    ]
    assert ws.row_count == 1000


def test_stats_count_reads_writes_drive_and_token_calls(
    sandbox: SheetsSandbox, gc: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["h"]]})
    ws = gc.open_by_key(sid).sheet1
    sandbox.reset_stats()
    ws.batch_get(["A:A", "B:B"])
    ws.batch_update([{"range": "B2", "values": [["claimed"]]}])
    ws.spreadsheet.get_lastUpdateTime()
    stats = sandbox.stats()
    assert stats["sheets_reads"] == 1
    assert stats["sheets_writes"] == 1
    assert stats["drive_calls"] == 1
    assert stats["token_calls"] == 0
    assert stats["by_call"] == {"values.batchGet": 1, "values.batchUpdate": 1, "drive.files.get": 1}
    assert stats["http_429"] == 0
    write = next(r for r in sandbox.requests() if r["call"] == "values.batchUpdate")
    assert stats["max_write_bytes"] == write["bytes"] > 0
    assert write["path"] == f"/v4/spreadsheets/{sid}/values:batchUpdate"
    assert write["kind"] == "sheets_write"


def test_control_endpoints_drive_the_sandbox_over_http(sandbox: SheetsSandbox) -> None:
    base = f"{sandbox.url}/_sandbox"
    created = requests.post(
        f"{base}/spreadsheets", json={"title": "Demo", "sheets": {"Sheet1": [["h"]]}}, timeout=5
    ).json()
    sid = created["spreadsheet_id"]
    edits: list[dict[str, Any]] = [
        {"op": "set_cells", "sheet": "Sheet1", "cells": {"B2": "x"}},
        {"op": "append", "sheet": "Sheet1", "rows": [["tail"]]},
        {"op": "insert_rows", "sheet": "Sheet1", "at_row": 2, "rows": [["ins"]]},
        {"op": "delete_rows", "sheet": "Sheet1", "start_row": 3},
        {"op": "sort", "sheet": "Sheet1", "column": "A", "header_rows": 1},
    ]
    for edit in edits:
        response = requests.post(f"{base}/spreadsheets/{sid}/edit", json=edit, timeout=5)
        assert response.status_code == 200, response.text
    values = requests.get(f"{base}/spreadsheets/{sid}/values/Sheet1", timeout=5).json()
    assert values == {"values": [["h"], ["ins"], ["tail"]]}
    bad_op = requests.post(f"{base}/spreadsheets/{sid}/edit", json={"op": "x"}, timeout=5)
    assert bad_op.status_code == 400
    sort = {"op": "sort", "sheet": "S", "column": 1}
    missing = requests.post(f"{base}/spreadsheets/nope/edit", json=sort, timeout=5)
    assert missing.status_code == 404
    info = requests.post(f"{base}/service-account", json={}, timeout=5).json()
    assert info["token_uri"] == f"{sandbox.url}/token"
    requests.post(f"{base}/faults", json={"status": 500, "kind": "sheets"}, timeout=5)
    gc = connect(sandbox, info)
    with pytest.raises(gspread.exceptions.APIError):
        gc.open_by_key(sid)
    stats = requests.get(f"{base}/stats", timeout=5).json()
    assert stats["by_call"]["spreadsheets.get"] == 1
    assert requests.get(f"{base}/requests", timeout=5).json()[-1]["status"] == 500
    requests.post(f"{base}/reset", timeout=5)
    assert requests.get(f"{base}/stats", timeout=5).json()["by_call"] == {}
    assert gc.open_by_key(sid).title == "Demo"


def test_unencoded_curl_style_paths_split_the_verb_after_the_last_colon() -> None:
    with SheetsSandbox(require_auth=False) as sandbox:
        sid = sandbox.create_spreadsheet(sheets={"Sheet1": [["a", "b"], ["c", "d"]]})
        base = f"{sandbox.url}/v4/spreadsheets/{sid}/values"
        got = requests.get(f"{base}/Sheet1!A1:B1", timeout=5).json()
        assert got == {"range": "Sheet1!A1:B1", "majorDimension": "ROWS", "values": [["a", "b"]]}
        cleared = requests.post(f"{base}/Sheet1!A2:B2:clear", timeout=5).json()
        assert cleared["clearedRange"] == "Sheet1!A2:B2"
        bad = requests.get(f"{sandbox.url}/drive/v3/files/{sid}?fields=bogus", timeout=5).json()
        assert bad["error"]["errors"][0]["reason"] == "invalidParameter"
        assert bad["error"]["errors"][0]["location"] == "fields"
        assert [r["call"] for r in sandbox.requests()] == [
            "values.get",
            "values.clear",
            "drive.files.get",
        ]


# --- pure parts: ranges, input parsing, the quota window ---------------------------------------


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("'Sheet1'!A1", (1, 1, 1, 1)),
        ("Sheet1!A1:B2", (1, 1, 2, 2)),
        ("Sheet1!A:A", (1, 1, None, 1)),
        ("Sheet1!A2:A", (2, 1, None, 1)),
        ("Sheet1!1:1", (1, 1, 1, None)),
        ("Sheet1!A1:1", (1, 1, 1, None)),
        ("Sheet1!A2:D", (2, 1, None, 4)),
        ("Sheet1!b2:a1", (1, 1, 2, 2)),
        ("'It''s: a/b!'!AA10:ZZZ20", (10, 27, 20, 18278)),
    ],
)
def test_parse_a1_bounds(text: str, bounds: tuple[int | None, ...]) -> None:
    rng = parse_a1(text)
    assert (rng.start_row, rng.start_col, rng.end_row, rng.end_col) == bounds


@pytest.mark.parametrize("text", ["Sheet1!A0", "Sheet1!:", "Sheet1!A1:B2:C3", "'open!A1", "x!1A"])
def test_unparseable_ranges(text: str) -> None:
    with pytest.raises(RangeError, match="Unable to parse range"):
        parse_a1(text)


@given(st.integers(min_value=1, max_value=18278))
def test_column_letters_round_trip(index: int) -> None:
    assert column_index(column_letters(index)) == index


@given(
    st.text(min_size=1, max_size=20).filter(lambda t: t.strip() == t),
    st.integers(1, 5000),
    st.integers(1, 500),
    st.integers(0, 50),
    st.integers(0, 50),
)
def test_labels_parse_back_to_the_same_range(
    title: str, row: int, col: int, height: int, width: int
) -> None:
    grid = GridRange(title, row, col, row + height, col + width)
    rng = parse_a1(grid.label())
    assert rng.title == title
    assert (rng.start_row, rng.start_col, rng.end_row, rng.end_col) == (
        row,
        col,
        row + height,
        col + width,
    )


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("007", 7),
        ("1,500", 1500),
        ("-3.25", -3.25),
        ("1e3", 1000),
        ("true", True),
        ("FALSE", False),
        ("=A1+1", Formula("=A1+1")),
        ("'007", "007"),
        ("3/4", "3/4"),
        ("12 apples", "12 apples"),
        ("", None),
        (4.0, 4),
    ],
)
def test_user_entered_parsing(raw: Any, stored: Any) -> None:
    assert parse_input(raw, "USER_ENTERED") == stored


@pytest.mark.parametrize("raw", ["007", "=A1", "TRUE", "1,500"])
def test_raw_input_is_stored_as_given(raw: str) -> None:
    assert parse_input(raw, "RAW") == raw


def test_quota_window_moves_with_the_clock() -> None:
    now = [0.0]
    window = QuotaWindow(2, clock=lambda: now[0])
    assert window.admit("sa") and window.admit("sa")
    assert not window.admit("sa")
    assert window.admit("someone-else")
    now[0] = 59.9
    assert not window.admit("sa")
    now[0] = 60.0
    assert window.admit("sa")
