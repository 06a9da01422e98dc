"""Every response the Sheets sandbox emits matches the Sheets v4 / Drive v3 discovery docs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import googleapiclient
import gspread
import pytest

from connector.sandbox.sheets import SheetsSandbox

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
GOOGLE_PREFIXES = ("https://sheets.googleapis.com", "https://www.googleapis.com")
DRIVE = "https://www.googleapis.com/drive/v3/files"
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def load(name: str) -> dict[str, Any]:
    return json.loads((DOCUMENTS / name).read_text())


SHEETS = load("sheets.v4.json")
DRIVE_DOC = load("drive.v3.json")


def schema_problems(
    value: Any, schema: dict[str, Any], schemas: dict[str, Any], at: str
) -> list[str]:
    """Keys not declared by the schema, or JSON types that do not fit it, with their paths."""
    if "$ref" in schema:
        return schema_problems(value, schemas[schema["$ref"]], schemas, at)
    kind = schema.get("type", "any")
    if kind == "any":
        return []
    expected = _JSON_TYPES[kind]
    if isinstance(value, bool) and kind != "boolean":
        return [f"{at}: boolean where {kind} is declared"]
    if not isinstance(value, expected):
        return [f"{at}: {type(value).__name__} where {kind} is declared"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} is not one of {schema['enum']}"]
    problems: list[str] = []
    if kind == "object":
        properties = schema.get("properties")
        for key, item in value.items():
            if properties is not None and key in properties:
                problems += schema_problems(item, properties[key], schemas, f"{at}.{key}")
            elif "additionalProperties" in schema:
                problems += schema_problems(
                    item, schema["additionalProperties"], schemas, f"{at}.{key}"
                )
            else:
                problems.append(f"{at}.{key}: not a declared property")
    if kind == "array":
        for index, item in enumerate(value):
            problems += schema_problems(item, schema.get("items", {}), schemas, f"{at}[{index}]")
    return problems


def _methods(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from resource.get("methods", {}).values()
    for child in resource.get("resources", {}).values():
        yield from _methods(child)


def _route_table(doc: dict[str, Any], prefix: str) -> list[tuple[str, re.Pattern[str], str]]:
    table = []
    for resource in doc["resources"].values():
        for method in _methods(resource):
            if "response" not in method:
                continue
            pattern = re.sub(r"\\\{\+?\w+\\\}", "[^/:]+", re.escape(method["path"]))
            table.append((method["httpMethod"], re.compile(prefix + pattern + "$"), method["id"]))
    return table


ROUTES = _route_table(SHEETS, "/") + _route_table(DRIVE_DOC, "/drive/v3/")


def discovery_method(http_method: str, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The discovery method whose verb and path template match: (method, its document)."""
    for verb, pattern, method_id in ROUTES:
        if verb == http_method and pattern.match(path):
            doc = DRIVE_DOC if method_id.startswith("drive.") else SHEETS
            for resource in doc["resources"].values():
                for method in _methods(resource):
                    if method["id"] == method_id:
                        return method, doc
    raise AssertionError(f"no discovery method for {http_method} {path}")


class Recorded:
    """Responses captured on the client side, exactly as gspread received them."""

    def __init__(self) -> None:
        self.responses: list[tuple[str, str, int, Any]] = []


def recording_client(base_url: str, recorded: Recorded) -> type[gspread.HTTPClient]:
    class Recording(gspread.HTTPClient):
        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
            for prefix in GOOGLE_PREFIXES:
                if endpoint.startswith(prefix):
                    endpoint = base_url + endpoint[len(prefix) :]
                    break
            response = super().request(method, endpoint, *args, **kwargs)
            path = urlsplit(response.url).path
            recorded.responses.append((method.upper(), path, response.status_code, response.json()))
            return response

    return Recording


@pytest.fixture(scope="module")
def traffic() -> list[tuple[str, str, int, Any]]:
    """Drive one of everything the sandbox answers through real gspread."""
    recorded = Recorded()
    with SheetsSandbox() as sandbox:
        sid = sandbox.create_spreadsheet(
            "Leads", {"Sheet1": [["handle", "n"], ["a", 1200.0]], "Bob's list": [["x"]]}
        )
        gc = gspread.service_account_from_dict(
            sandbox.service_account_info(), http_client=recording_client(sandbox.url, recorded)
        )
        gc.set_timeout((5, 30))
        sp = gc.open_by_key(sid)
        ws = sp.sheet1
        ws.get_all_values()
        ws.get("A1:B2", value_render_option="UNFORMATTED_VALUE")
        ws.batch_get(["A:A", "C:C", "1:1"], major_dimension="COLUMNS")
        ws.update([["=SUM(1)", 2]], "C1", raw=False, include_values_in_response=True)
        ws.batch_update([{"range": "D2", "values": [["done"]]}])
        sp.values_batch_update(
            {
                "valueInputOption": "RAW",
                "includeValuesInResponse": True,
                "responseValueRenderOption": "UNFORMATTED_VALUE",
                "data": [{"range": "'Sheet1'!E1:E2", "values": [["e"], [None]]}],
            }
        )
        ws.append_rows([["b", 7]], table_range="A1", include_values_in_response=True)
        ws.batch_clear(["E1"])
        sp.values_clear("'Bob''s list'!A1")
        ws.add_cols(1)
        sp.batch_update(
            {
                "requests": [
                    {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 2}},
                    {"addSheet": {"properties": {"title": "New"}}},
                ],
                "includeSpreadsheetInResponse": True,
            }
        )
        ws.insert_rows([["ins"]], row=2)
        gc.get_file_drive_metadata(sid)
        gc.http_client.request("get", f"{DRIVE}/{sid}", params={"fields": "*"})
        gc.http_client.request("get", f"{DRIVE}/{sid}")
    return recorded.responses


def test_the_scenario_covers_every_response_shape(
    traffic: list[tuple[str, str, int, Any]],
) -> None:
    ids = {discovery_method(verb, path)[0]["id"] for verb, path, _, _ in traffic}
    assert ids == {
        "sheets.spreadsheets.get",
        "sheets.spreadsheets.batchUpdate",
        "sheets.spreadsheets.values.get",
        "sheets.spreadsheets.values.batchGet",
        "sheets.spreadsheets.values.update",
        "sheets.spreadsheets.values.batchUpdate",
        "sheets.spreadsheets.values.append",
        "sheets.spreadsheets.values.clear",
        "sheets.spreadsheets.values.batchClear",
        "drive.files.get",
    }
    assert all(status == 200 for _, _, status, _ in traffic)


def test_every_response_matches_its_discovery_schema(
    traffic: list[tuple[str, str, int, Any]],
) -> None:
    problems = []
    for verb, path, _, body in traffic:
        method, doc = discovery_method(verb, path)
        ref = method["response"]["$ref"]
        problems += schema_problems(body, {"$ref": ref}, doc["schemas"], f"{method['id']}:{ref}")
    assert problems == []


def test_int64_drive_version_is_a_json_string(traffic: list[tuple[str, str, int, Any]]) -> None:
    files = [body for verb, path, _, body in traffic if path.startswith("/drive/")]
    full = next(body for body in files if "version" in body)
    assert DRIVE_DOC["schemas"]["File"]["properties"]["version"]["format"] == "int64"
    assert isinstance(full["version"], str) and full["version"].isdigit()


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"range": "A1", "extra": 1}, "ValueRange.extra: not a declared property"),
        ({"range": 5}, "ValueRange.range: int where string is declared"),
        ({"majorDimension": "DIAGONAL"}, "ValueRange.majorDimension: 'DIAGONAL' is not one of"),
        ({"values": "nope"}, "ValueRange.values: str where array is declared"),
    ],
)
def test_the_checker_rejects_what_google_would_not_send(body: dict[str, Any], problem: str) -> None:
    found = schema_problems(body, {"$ref": "ValueRange"}, SHEETS["schemas"], "ValueRange")
    assert len(found) == 1 and found[0].startswith(problem)


def test_the_checker_rejects_booleans_for_integers() -> None:
    body = {"spreadsheetId": "x", "updatedRows": True}
    found = schema_problems(body, {"$ref": "UpdateValuesResponse"}, SHEETS["schemas"], "U")
    assert found == ["U.updatedRows: boolean where integer is declared"]
