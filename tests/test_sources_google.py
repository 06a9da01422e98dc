"""Google plumbing: client construction, bounded retries and error translation, over the sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import gspread
import pytest
import requests
from google.auth import exceptions as google_auth_errors
from pydantic import SecretStr

from connector.config import GoogleSettings, parse_settings
from connector.errors import (
    AuthError,
    ConfigError,
    RateLimitedError,
    SourceError,
    TransientError,
)
from connector.ratelimit import build_storage
from connector.retry import RetryPolicy
from connector.sandbox.sheets import SheetsSandbox
from connector.sources.sheets.google import (
    build_google_budgets,
    build_gspread_client,
    build_http_client_class,
    build_retry_policy,
    build_sheets_budgets,
    call_google,
    fetch_drive_version,
    get_client_email,
    translate_google_error,
)

EMAIL = "connector@sandbox-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SheetsSandbox]:
    with SheetsSandbox() as running:
        yield running


@pytest.fixture(scope="module")
def google(sandbox: SheetsSandbox) -> GoogleSettings:
    info = sandbox.service_account_info(EMAIL)
    return GoogleSettings(
        service_account_json=SecretStr(json.dumps(info)),
        base_url=sandbox.url,
        connect_timeout=2,
        read_timeout=10,
    )


@pytest.fixture(scope="module")
def client(google: GoogleSettings) -> gspread.Client:
    return build_gspread_client(google)


class Counted:
    """Wraps one Google request and counts how often it was sent."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.sent = 0

    def __call__(self) -> Any:
        self.sent += 1
        return self.call()


def policy(attempts: int = 6) -> RetryPolicy:
    return build_retry_policy(GoogleSettings(max_attempts=attempts))


def test_client_has_timeouts_and_service_account_email(client: gspread.Client) -> None:
    assert client.http_client.timeout == (2.0, 10.0)
    assert get_client_email(client) == EMAIL


def test_client_reads_the_key_from_a_file(sandbox: SheetsSandbox, tmp_path: Any) -> None:
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(sandbox.service_account_info("file@sandbox-project.iam.gserviceaccount.com"))
    )
    client = build_gspread_client(
        GoogleSettings(service_account_file=str(path), base_url=sandbox.url)
    )
    sid = sandbox.create_spreadsheet("Leads", {"Leads": [["Handle"]]})
    assert fetch_drive_version(client, sid) == sandbox.drive_version(sid)


def test_production_client_is_plain_http_client() -> None:
    assert build_http_client_class(None) is gspread.HTTPClient
    assert issubclass(build_http_client_class("http://127.0.0.1:1"), gspread.HTTPClient)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (GoogleSettings(), "set service_account_file or service_account_json"),
        (GoogleSettings(service_account_json=SecretStr("{nope")), "not valid JSON"),
        (GoogleSettings(service_account_json=SecretStr('{"type": "user"}')), "service-account"),
        (GoogleSettings(service_account_file="/nonexistent/sa.json"), "cannot read"),
    ],
)
def test_bad_credentials_are_config_errors(settings: GoogleSettings, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        build_gspread_client(settings)


def test_budgets_are_keyed_by_service_account(google: GoogleSettings) -> None:
    reads, writes = build_google_budgets(google, build_storage("memory://"), account=EMAIL)
    assert (reads.key, writes.key) == (f"sheets:read:{EMAIL}", f"sheets:write:{EMAIL}")
    assert reads.limit == 60
    settings = parse_settings(
        {"google": {"service_account_json": google.service_account_json.get_secret_value()}}  # type: ignore[union-attr]
    )
    reads, _ = build_sheets_budgets(settings)
    assert reads.key == f"sheets:read:{EMAIL}"


@pytest.mark.parametrize(
    ("status", "html"), [(429, False), (503, False), (500, False), (502, True)]
)
def test_bursts_of_429_and_5xx_are_absorbed(
    sandbox: SheetsSandbox, client: gspread.Client, status: int, html: bool
) -> None:
    sid = sandbox.create_spreadsheet("Leads", {"Leads": [["Handle"], ["@a"]]})
    client.http_client.fetch_sheet_metadata(sid)  # takes the token before faults are queued
    sandbox.inject_faults(status, 3, html=html, kind="sheets")
    read = Counted(lambda: client.http_client.values_batch_get(sid, ["'Leads'!A1:A2"]))
    result = call_google(read, policy=policy())
    assert result["valueRanges"][0]["values"] == [["Handle"], ["@a"]]
    assert read.sent == 4


def test_retries_are_bounded_and_html_bodies_are_readable(
    sandbox: SheetsSandbox, client: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet("Leads", {"Leads": [["Handle"]]})
    client.http_client.fetch_sheet_metadata(sid)
    sandbox.inject_faults(502, 3, html=True, kind="sheets")
    fetch = Counted(lambda: client.http_client.fetch_sheet_metadata(sid))
    with pytest.raises(TransientError, match="HTTP 502: non-JSON response") as info:
        call_google(fetch, policy=policy(3))
    assert fetch.sent == 3
    assert isinstance(info.value.__cause__, gspread.exceptions.APIError)


def test_append_is_not_blindly_retried(sandbox: SheetsSandbox, client: gspread.Client) -> None:
    sid = sandbox.create_spreadsheet("Leads", {"Leads": [["Handle"]]})
    client.http_client.fetch_sheet_metadata(sid)
    sandbox.inject_faults(503, 1, kind="sheets")
    append = Counted(
        lambda: client.http_client.values_append(
            sid, "'Leads'!A1", params={"valueInputOption": "RAW"}, body={"values": [["@b"]]}
        )
    )
    with pytest.raises(TransientError):
        call_google(append, policy=policy(), idempotent=False)
    assert append.sent == 1
    sandbox.inject_faults(429, 1, kind="sheets")
    call_google(append, policy=policy(), idempotent=False)
    assert append.sent == 3
    assert sandbox.get_values(sid, "Leads") == [["Handle"], ["@b"]]


def test_unshared_sheet_names_the_email_to_share_with(
    sandbox: SheetsSandbox, client: gspread.Client
) -> None:
    sid = sandbox.create_spreadsheet("Leads", {"Leads": [["Handle"]]}, shared=False)
    for call in (
        lambda: client.open_by_key(sid),
        lambda: client.http_client.fetch_sheet_metadata(sid),
    ):
        with pytest.raises(SourceError, match=f"share the sheet with {EMAIL}"):
            call_google(call, policy=policy(), client_email=get_client_email(client))


def test_missing_spreadsheet_is_a_source_error(
    sandbox: SheetsSandbox, client: gspread.Client
) -> None:
    with pytest.raises(SourceError, match="not found"):
        call_google(lambda: client.open_by_key("doesNotExist123"), policy=policy())


def test_drive_version_follows_edits(sandbox: SheetsSandbox, client: gspread.Client) -> None:
    sid = sandbox.create_spreadsheet("Leads", {"Leads": [["Handle"]]})
    before = fetch_drive_version(client, sid)
    sandbox.set_cells(sid, "Leads", {"A2": "@new"})
    assert fetch_drive_version(client, sid) > before


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = (body if isinstance(body, str) else json.dumps(body)).encode()
    response.headers.update(headers or {})
    return response


def _api_error(status: int, body: Any, headers: dict[str, str] | None = None) -> Exception:
    return gspread.exceptions.APIError(_response(status, body, headers))


def _sheets_body(status: int, message: str = "x") -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": "X"}}


DRIVE_RATE = {
    "error": {
        "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded", "message": "x"}],
        "code": 403,
        "message": "User rate limit exceeded.",
    }
}


@pytest.mark.parametrize(
    ("exc", "expected", "fragment"),
    [
        (_api_error(429, _sheets_body(429), {"Retry-After": "7"}), RateLimitedError, "429"),
        (_api_error(403, DRIVE_RATE), RateLimitedError, "rate limit"),
        (_api_error(500, _sheets_body(500)), TransientError, "500"),
        (_api_error(504, "<html><b>Gateway</b> timeout</html>"), TransientError, "Gateway timeout"),
        (_api_error(401, _sheets_body(401)), AuthError, "401"),
        (_api_error(403, _sheets_body(403, "caller lacks permission")), SourceError, "share"),
        (
            _api_error(403, _sheets_body(403, "Request had insufficient authentication scopes.")),
            AuthError,
            "scopes",
        ),
        (_api_error(404, _sheets_body(404)), SourceError, "not found"),
        (_api_error(400, _sheets_body(400, "Unable to parse range")), SourceError, "parse range"),
        (PermissionError(), SourceError, f"share the sheet with {EMAIL}"),
        (gspread.SpreadsheetNotFound(), SourceError, "not found"),
        (requests.ConnectionError("refused"), TransientError, "ConnectionError"),
        (requests.ReadTimeout("slow"), TransientError, "ReadTimeout"),
        (google_auth_errors.RefreshError("invalid_grant: bad"), AuthError, "rejected"),
        (google_auth_errors.TransportError("down"), TransientError, "unreachable"),
    ],
)
def test_every_google_failure_maps_to_a_connector_error(
    exc: Exception, expected: type[Exception], fragment: str
) -> None:
    error = translate_google_error(exc, what="spreadsheet S", client_email=EMAIL)
    assert type(error) is expected
    assert fragment in str(error)


def test_retry_after_is_honoured_up_to_two_minutes() -> None:
    error = translate_google_error(_api_error(429, _sheets_body(429), {"Retry-After": "7"}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 7.0
    retry = policy()
    assert retry.get_wait(error) == 7.0
    assert retry.get_wait(RateLimitedError("429", retry_after=10_000)) == 120.0
    assert (retry.wait_initial, retry.wait_max, retry.wait_jitter) == (1.0, 32.0, 1.0)


def test_foreign_exceptions_are_not_translated() -> None:
    assert translate_google_error(KeyError("x")) is None
    with pytest.raises(KeyError):
        call_google(lambda: {}["x"], policy=policy())
