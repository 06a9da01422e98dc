"""The Sheets nudge webhook: signature, freshness, source checks and flood coalescing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from connector.config import Settings
from connector.services import Services
from connector.store import Store
from connector.web import create_app
from connector.web.sheets_webhooks import build_signature, check_signature

SECRET = "nudge-secret"


class Clock:
    """A settable clock for the app (the freshness check uses it)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def build_settings(tmp_path: Path, **web: Any) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": str(tmp_path),
            "web": {"sheets_nudge_secret": SECRET, "max_body_bytes": 2048, **web},
            "sources": [
                {"name": "leads", "type": "sheets", "spreadsheet": "key-1"},
                {"name": "crm", "type": "hubspot", "list": "42"},
                {"name": "old", "type": "sheets", "spreadsheet": "key-2", "enabled": False},
            ],
        }
    )


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    store = Store.open(sqlite_url)
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def build_client(store: Store, settings: Settings, clock: Clock) -> FlaskClient:
    return create_app(services=Services(settings=settings, store=store, clock=clock)).test_client()


@pytest.fixture
def client(store: Store, tmp_path: Path, clock: Clock) -> FlaskClient:
    return build_client(store, build_settings(tmp_path), clock)


def nudge(
    client: FlaskClient,
    source: str = "leads",
    *,
    body: bytes | None = None,
    secret: str = SECRET,
    ts: float | None = None,
    signature: str | None = None,
    **fields: Any,
) -> Any:
    if body is None:
        payload = {
            "source": source,
            "sheet": "Sheet1",
            "changeType": "EDIT",
            "ts": time.time() if ts is None else ts,
            **fields,
        }
        body = json.dumps(payload).encode()
    header = signature if signature is not None else build_signature(body, secret)
    return client.post(
        f"/webhooks/sheets/{source}",
        data=body,
        content_type="application/json",
        headers={"X-Connector-Signature": header},
    )


def test_signature_is_prefixed_hex_hmac_sha256() -> None:
    # RFC 4231 test case 2; Apps Script's computeHmacSha256Signature gives the same bytes.
    body, key = b"what do ya want for nothing?", "Jefe"
    expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert build_signature(body, key) == expected
    assert check_signature(body, expected.upper().replace("SHA256=", "sha256="), key)
    assert not check_signature(body, expected[:-1], key)
    assert not check_signature(body, None, key)


def test_a_signed_nudge_requests_one_poll(client: FlaskClient, store: Store) -> None:
    response = nudge(client)
    assert response.status_code == 202
    assert response.get_json() == {"ok": True, "source": "leads", "coalesced": False}
    assert store.take_poll_requests() == {"leads"}


def test_a_flood_of_nudges_is_coalesced_into_one_poll(client: FlaskClient, store: Store) -> None:
    answers = [nudge(client).get_json()["coalesced"] for _ in range(20)]
    assert answers == [False] + [True] * 19
    assert store.take_poll_requests() == {"leads"}
    assert store.take_poll_requests() == set()


def test_a_nudge_right_after_the_worker_took_the_last_one_asks_again(
    client: FlaskClient, store: Store
) -> None:
    """A row added while the last requested poll runs must not wait for the regular poll."""
    assert nudge(client).get_json()["coalesced"] is False
    assert store.take_poll_requests() == {"leads"}
    assert nudge(client).get_json()["coalesced"] is False
    assert store.take_poll_requests() == {"leads"}


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"secret": "wrong"}, 401, "X-Connector-Signature"),
        ({"signature": ""}, 401, "X-Connector-Signature"),
        ({"signature": "sha256=00"}, 401, "X-Connector-Signature"),
        ({"ts_offset": -301}, 401, "stale"),
        ({"ts_offset": 301}, 401, "stale"),
        ({"source": "nope"}, 404, "unknown source"),
        ({"source": "crm"}, 400, "not a sheet"),
        ({"source": "old"}, 409, "disabled"),
        ({"body": b"not json"}, 400, "not JSON"),
        ({"body": b"[1, 2]"}, 400, "JSON object"),
        ({"body": b'{"source": "leads"}'}, 400, "ts"),
        ({"body": b'{"source": "leads", "ts": true}'}, 400, "ts"),
        ({"body": b'{"source": "other", "ts": 1}'}, 400, "does not match"),
    ],
)
def test_bad_nudges_get_a_4xx_and_change_nothing(
    client: FlaskClient, store: Store, kwargs: dict[str, Any], status: int, message: str
) -> None:
    if "ts_offset" in kwargs:
        kwargs = {"ts": time.time() + kwargs.pop("ts_offset")}
    response = nudge(client, **kwargs)
    assert response.status_code == status
    payload = response.get_json()
    assert payload["ok"] is False and payload["status"] == status
    assert message in payload["error"]
    assert store.take_poll_requests() == set()


def test_rejected_nudges_do_not_use_up_the_window(client: FlaskClient, store: Store) -> None:
    assert nudge(client, secret="wrong").status_code == 401
    assert nudge(client).get_json()["coalesced"] is False
    assert store.take_poll_requests() == {"leads"}


def test_an_oversized_body_is_413(client: FlaskClient, store: Store) -> None:
    body = json.dumps({"source": "leads", "ts": time.time(), "pad": "x" * 4096}).encode()
    response = nudge(client, body=body)
    assert response.status_code == 413
    assert response.get_json() == {"ok": False, "error": "request body too large", "status": 413}
    assert store.take_poll_requests() == set()


def test_nudges_are_refused_without_a_secret(store: Store, tmp_path: Path, clock: Clock) -> None:
    client = build_client(store, build_settings(tmp_path, sheets_nudge_secret=None), clock)
    response = nudge(client)
    assert response.status_code == 403 and "sheets_nudge_secret" in response.get_json()["error"]
    assert store.take_poll_requests() == set()


def test_nudges_need_no_dashboard_credentials(store: Store, tmp_path: Path, clock: Clock) -> None:
    settings = build_settings(tmp_path, auth_token="dashboard-token")
    assert nudge(build_client(store, settings, clock)).status_code == 202


def test_the_documented_apps_script_matches_the_endpoint() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "apps-script.md").read_text()
    for needle in (
        "/webhooks/sheets/",
        "'X-Connector-Signature': 'sha256=' + signature",
        "Utilities.computeHmacSha256Signature",
        "ts: Math.floor(Date.now() / 1000)",
        ".onEdit().create()",
        ".onChange().create()",
        "function uninstallTriggers()",
    ):
        assert needle in doc
