"""The web app: factory, health, auth, the JSON API, the dashboard and its forms."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from web_helpers import TOKEN, auth, build_client, build_settings, login

from connector.cli import cli
from connector.cli.serve import COMMANDS, serve_command
from connector.sandbox.influencers_club import InfluencersClubSandbox
from connector.sources.hubspot.signature import build_v3
from connector.store import Store
from connector.web import create_app, get_blueprints
from connector.web.health import get_readiness

# --- factory -------------------------------------------------------------------------------


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    store = Store.open(sqlite_url)
    yield store
    store.close()


@pytest.fixture
def client(store: Store, tmp_path: Path) -> FlaskClient:
    return build_client(store, build_settings(tmp_path))


def test_create_app_loads_settings_from_connector_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    monkeypatch.setenv("CONNECTOR_CONFIG", str(config))
    app = create_app()
    assert isinstance(app, Flask)
    assert app.config["MAX_CONTENT_LENGTH"] == 1_000_000
    assert app.test_client().get("/healthz").get_json() == {"ok": True}
    app.extensions["connector"].services.close()
    assert (tmp_path / "data" / "connector.db").exists()


def test_every_blueprint_is_registered(client: FlaskClient) -> None:
    app = client.application
    assert {bp.name for bp in get_blueprints()} <= set(app.blueprints)
    assert "hubspot_webhooks" in app.blueprints


def test_hubspot_webhooks_see_the_configured_hubspot_sources(
    client: FlaskClient, store: Store
) -> None:
    body = json.dumps([{"subscriptionType": "contact.creation", "objectId": 5, "eventId": 1}])
    ts = str(int(time.time() * 1000))
    signature = build_v3(
        "hs-secret", "POST", "http://localhost/webhooks/hubspot", body.encode(), ts
    )
    response = client.post(
        "/webhooks/hubspot",
        data=body,
        content_type="application/json",
        headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": ts},
    )
    assert response.get_json() == {"ok": True, "accepted": 1, "skipped": 0}
    assert store.take_record_hints("crm") == ["5"]


# --- health --------------------------------------------------------------------------------


def test_healthz_is_always_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"ok": True})


@pytest.fixture
def sandbox() -> Iterator[InfluencersClubSandbox]:
    with InfluencersClubSandbox() as sandbox:
        yield sandbox


def _credit_calls(sandbox: InfluencersClubSandbox) -> int:
    return sum("credits" in r["path"] for r in sandbox.requests())


def test_readyz_checks_what_the_web_process_needs_and_never_calls_the_api(
    store: Store, tmp_path: Path, sandbox: InfluencersClubSandbox
) -> None:
    ic = {"api_key": "wrong", "base_url": sandbox.url}
    settings = build_settings(
        tmp_path, influencers_club=ic, rate_limit_storage="redis://127.0.0.1:1/0"
    )
    response = build_client(store, settings).get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "ok": True,
        "checks": {"store": {"ok": True}, "media": {"ok": True, "backend": "local"}},
    }
    assert _credit_calls(sandbox) == 0


def test_deep_readyz_also_asks_the_api_once_a_minute(
    store: Store, tmp_path: Path, sandbox: InfluencersClubSandbox
) -> None:
    ic = {"api_key": sandbox.api_key, "base_url": sandbox.url}
    client = build_client(store, build_settings(tmp_path, influencers_club=ic))
    save_beat(store)
    first = client.get("/readyz?deep=1")
    assert first.status_code == 200, first.get_json()
    checks = first.get_json()["checks"]
    assert set(checks) == {"store", "media", "rate_limit_storage", "influencers_club", "workers"}
    assert checks["rate_limit_storage"] == {"ok": True}
    assert checks["influencers_club"] == {"ok": True, "cached": False}
    second = client.get("/readyz?deep=1").get_json()
    assert second["checks"]["influencers_club"] == {"ok": True, "cached": True}
    assert _credit_calls(sandbox) == 1


def save_beat(store: Store, *, state: str = "running", worker: str = "host:1:abc") -> None:
    store.save_heartbeat(
        worker,
        hostname="host",
        pid=1,
        started_at=store.now(),
        state=state,  # type: ignore[arg-type]
        running=["poll:leads"],
    )


def test_deep_readyz_is_503_when_the_api_rejects_the_key(
    store: Store, tmp_path: Path, sandbox: InfluencersClubSandbox
) -> None:
    ic = {"api_key": "wrong", "base_url": sandbox.url, "max_attempts": 1}
    client = build_client(store, build_settings(tmp_path, influencers_club=ic))
    save_beat(store)
    response = client.get("/readyz?deep=1")
    assert response.status_code == 503
    payload = response.get_json()
    assert payload["ok"] is False and payload["checks"]["store"] == {"ok": True}
    assert payload["checks"]["influencers_club"]["ok"] is False
    assert client.get("/readyz").status_code == 200


def test_deep_readyz_rechecks_the_api_after_the_cache_expires(
    store: Store, tmp_path: Path, sandbox: InfluencersClubSandbox
) -> None:
    ic = {"api_key": sandbox.api_key, "base_url": sandbox.url}
    client = build_client(store, build_settings(tmp_path, influencers_club=ic))
    with client.application.app_context():
        get_readiness().ttl = 0.0
    client.get("/readyz?deep=1")
    client.get("/readyz?deep=1")
    assert _credit_calls(sandbox) == 2


def test_deep_readyz_reports_a_missing_api_key(client: FlaskClient) -> None:
    response = client.get("/readyz?deep=1")
    assert response.status_code == 503
    check = response.get_json()["checks"]["influencers_club"]
    assert check["ok"] is False and "api_key" in check["error"]


def test_deep_readyz_reports_workers_by_their_heartbeats(store: Store, client: FlaskClient) -> None:
    check = client.get("/readyz?deep=1").get_json()["checks"]["workers"]
    assert check["ok"] is False and "connector worker" in check["error"]
    save_beat(store, worker="gone:2:def", state="stopped")
    assert client.get("/readyz?deep=1").get_json()["checks"]["workers"]["ok"] is False
    save_beat(store)
    check = client.get("/readyz?deep=1").get_json()["checks"]["workers"]
    assert check["ok"] is True
    assert [(w["worker"], w["state"], w["running"]) for w in check["workers"]] == [
        ("host:1:abc", "running", ["poll:leads"])
    ]


def test_readyz_reports_an_unreachable_database(tmp_path: Path) -> None:
    # Nothing listens on port 1, so every connection attempt is refused at once.
    store = Store.open("postgresql+psycopg://nobody@127.0.0.1:1/none", migrate=False)
    client = build_client(store, build_settings(tmp_path))
    response = client.get("/readyz")
    assert response.status_code == 503
    check = response.get_json()["checks"]["store"]
    assert check["ok"] is False and "database unavailable" in check["error"]
    store.close()


def test_deep_readyz_reports_an_unreachable_rate_budget_storage(
    store: Store, tmp_path: Path
) -> None:
    settings = build_settings(tmp_path, rate_limit_storage="redis://127.0.0.1:1/0")
    response = build_client(store, settings).get("/readyz?deep=1")
    assert response.status_code == 503
    assert response.get_json()["checks"]["rate_limit_storage"]["ok"] is False


@pytest.mark.redis
def test_deep_readyz_pings_redis(store: Store, tmp_path: Path, redis_url: str) -> None:
    settings = build_settings(tmp_path, rate_limit_storage=redis_url)
    payload = build_client(store, settings).get("/readyz?deep=1").get_json()
    assert payload["checks"]["rate_limit_storage"] == {"ok": True}


# --- auth ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth("wrong"),
        {"Authorization": "Token " + TOKEN},
        {"Authorization": "Basic " + base64.b64encode(b"x:" + TOKEN.encode()).decode()},
    ],
)
def test_api_rejects_missing_or_bad_credentials(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.get("/api/status", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {
        "ok": False,
        "error": "missing or invalid credentials",
        "status": 401,
    }
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_api_accepts_the_bearer_token(client: FlaskClient) -> None:
    assert client.get("/api/status", headers=auth()).status_code == 200


def test_basic_auth_protects_api_and_dashboard(store: Store, tmp_path: Path) -> None:
    settings = build_settings(
        tmp_path, web={"basic_auth_user": "ops", "basic_auth_password": "pw", "auth_token": None}
    )
    client = build_client(store, settings)
    good = {"Authorization": "Basic " + base64.b64encode(b"ops:pw").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"ops:nope").decode()}
    assert client.get("/api/status", headers=good).status_code == 200
    assert client.get("/", headers=good).status_code == 200
    denied = client.get("/api/status", headers=bad)
    assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
    page = client.get("/")
    assert page.status_code == 401 and page.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("public_base_url", [None, "https://connector.example.com"])
def test_without_credentials_this_machine_may_use_localhost(
    store: Store, tmp_path: Path, public_base_url: str | None
) -> None:
    settings = build_settings(tmp_path, web={"auth_token": None}, public_base_url=public_base_url)
    client = build_client(store, settings)
    assert client.get("/api/status").status_code == 200
    assert client.get("/", base_url="http://127.0.0.1:8000").status_code == 200


def test_without_credentials_other_machines_are_refused(store: Store, tmp_path: Path) -> None:
    settings = build_settings(
        tmp_path, web={"auth_token": None}, public_base_url="https://connector.example.com"
    )
    client = build_client(store, settings)
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    response = client.get("/api/status", environ_base=remote)
    assert response.status_code == 401 and "web.auth_token" in response.get_json()["error"]
    assert client.get("/", environ_base=remote).status_code == 401
    assert client.post("/api/sources/leads/sync", environ_base=remote).status_code == 401
    assert store.take_poll_requests() == set()


def test_token_query_starts_a_session_and_strips_the_token(client: FlaskClient) -> None:
    response = client.get(f"/?token={TOKEN}")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "connector_session" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 401


def test_bad_token_query_shows_the_login_page(client: FlaskClient) -> None:
    response = client.get("/?token=nope")
    assert response.status_code == 401
    assert "not valid" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers


def test_login_form(client: FlaskClient) -> None:
    assert client.get("/").status_code == 401
    assert client.get("/login").status_code == 200
    assert client.post("/login", data={"token": "nope"}).status_code == 401
    response = client.post("/login", data={"token": TOKEN})
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_a_signed_in_browser_may_call_the_api_and_changes_need_its_csrf_token(
    client: FlaskClient, store: Store
) -> None:
    csrf = login(client)
    assert client.get("/api/status").status_code == 200
    refused = client.post("/api/sources/leads/sync")
    assert refused.status_code == 403 and "CSRF" in refused.get_json()["error"]
    assert store.take_poll_requests() == set()
    accepted = client.post("/api/sources/leads/sync", headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 202
    assert store.take_poll_requests() == {"leads"}
    client.post("/logout")
    assert client.get("/api/status").status_code == 401


def test_a_changed_token_ends_old_sessions(store: Store, tmp_path: Path) -> None:
    client = build_client(store, build_settings(tmp_path))
    login(client)
    cookie = client.get_cookie("connector_session")
    assert cookie is not None
    rotated = build_client(store, build_settings(tmp_path, web={"auth_token": "new-token"}))
    rotated.set_cookie("connector_session", cookie.value)
    assert rotated.get("/").status_code == 401


def test_cross_site_posts_are_refused(client: FlaskClient, store: Store) -> None:
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        response = client.post("/api/sources/leads/sync", headers={**auth(), **headers})
        assert response.status_code == 403
    assert store.take_poll_requests() == set()


# --- CLI -----------------------------------------------------------------------------------


def test_serve_is_a_registered_command() -> None:
    assert [serve_command] == COMMANDS
    result = CliRunner().invoke(serve_command, ["--help"])
    assert result.exit_code == 0 and "--port" in result.output


def test_serve_reports_a_bad_config(tmp_path: Path) -> None:
    cli.add_command(serve_command)
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "missing.yaml"), "serve"])
    assert result.exit_code == 2
    assert "not found" in result.output
