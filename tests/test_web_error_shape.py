"""Every error the app answers has one JSON shape: ``{"ok": false, "error": str, "status": N}``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.config import Settings
from connector.services import Services
from connector.store import Store
from connector.web import create_app

TOKEN = "shape-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BIG = b"x" * 5000


def build_settings(tmp_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "web": {"auth_token": TOKEN, "sheets_nudge_secret": "n", "max_body_bytes": 4096},
        "hubspot": {"client_secret": "hs"},
        "sources": [
            {"name": "leads", "type": "sheets", "spreadsheet": "k"},
            {"name": "old", "type": "sheets", "spreadsheet": "k2", "enabled": False},
        ],
    }
    data.update(overrides)
    return Settings.model_validate(data)


@pytest.fixture
def app(sqlite_url: str, tmp_path: Path) -> Iterator[Flask]:
    store = Store.open(sqlite_url)
    app = create_app(services=Services(settings=build_settings(tmp_path), store=store))

    def explode() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/api/test-crash", view_func=explode)
    yield app
    store.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def assert_shape(response: Any, status: int) -> None:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    payload = response.get_json()
    assert set(payload) == {"ok", "error", "status"}
    assert payload["ok"] is False and payload["status"] == status
    assert isinstance(payload["error"], str) and payload["error"]


CASES = [
    ("GET", "/nope", {}, None, 404),
    ("GET", "/api/nope", AUTH, None, 404),
    ("GET", "/webhooks/nope", {}, None, 404),
    ("GET", "/api/status", {}, None, 401),
    ("GET", "/api/status", {"Authorization": "Bearer wrong"}, None, 401),
    ("GET", "/api/runs?limit=x", AUTH, None, 400),
    ("GET", "/api/alerts?limit=0", AUTH, None, 400),
    ("GET", "/api/runs?source=nope", AUTH, None, 404),
    ("POST", "/api/sources/nope/sync", AUTH, None, 404),
    ("POST", "/api/sources/old/sync", AUTH, None, 409),
    ("POST", "/api/runs/nope/approve", AUTH, None, 404),
    ("POST", "/api/sources/leads/sync", {**AUTH, "Sec-Fetch-Site": "cross-site"}, None, 403),
    ("GET", "/api/sources/leads/sync", AUTH, None, 405),
    ("DELETE", "/healthz", {}, None, 405),
    ("GET", "/webhooks/sheets/leads", {}, None, 405),
    ("GET", "/webhooks/hubspot", {}, None, 405),
    ("POST", "/api/sources/leads/sync", AUTH, BIG, 413),
    ("POST", "/webhooks/sheets/leads", {}, BIG, 413),
    ("POST", "/webhooks/hubspot", {}, BIG, 413),
    ("POST", "/webhooks/sheets/leads", {"X-Connector-Signature": "sha256=00"}, b"{}", 401),
    ("POST", "/webhooks/hubspot", {"X-HubSpot-Signature": "bad"}, b"[]", 401),
    ("POST", "/sources/leads/sync", {}, None, 401),
    ("GET", "/api/test-crash", AUTH, None, 500),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    CASES,
    ids=[f"{m} {p} {s}" for m, p, _, _, s in CASES],
)
def test_error_shape(
    client: FlaskClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    response = client.open(path, method=method, headers=headers, data=body)
    if path == "/sources/leads/sync":
        # The dashboard answers an anonymous browser with its login page, not JSON.
        assert response.status_code == status and response.mimetype == "text/html"
        return
    assert_shape(response, status)


def test_405_names_the_allowed_methods(client: FlaskClient) -> None:
    response = client.get("/api/sources/leads/sync", headers=AUTH)
    assert "POST" in response.headers["Allow"]


def test_a_crash_does_not_leak_details(client: FlaskClient) -> None:
    response = client.get("/api/test-crash", headers=AUTH)
    assert response.get_json()["error"] == "internal server error"


def test_an_unreachable_database_is_a_503(tmp_path: Path) -> None:
    store = Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none", migrate=False)
    app = create_app(services=Services(settings=build_settings(tmp_path), store=store))
    response = app.test_client().get("/api/status", headers=AUTH)
    assert_shape(response, 503)
    assert "database unavailable" in response.get_json()["error"]
    store.close()
