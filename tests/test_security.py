"""Issue 14's findings, each refused through the public surface: the app over HTTP, the CLI.

One section per finding: closed by default, the Host allow-list and DNS rebinding, picture URLs
that lead inside (SSRF), HubSpot signature versions, hints lost with their event, chunked
bodies, secrets in alert URLs, tracebacks at start-up, and unlimited credential guesses.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from flask import Flask, Response, redirect, request
from flask.testing import FlaskClient
from web_helpers import TOKEN, auth, build_client, build_settings

from connector.cli import _register_commands, cli
from connector.config import Settings
from connector.sandbox.images import build_png
from connector.sandbox.receivers import WebhookReceiver
from connector.sandbox.server import LoopbackServer
from connector.sandbox.stack import SandboxStack
from connector.services import Services
from connector.sources.hubspot.signature import build_v1, build_v3
from connector.store import Store
from connector.web import create_app
from connector.web.sheets_webhooks import build_signature

BIN = Path(sys.executable).parent
PUBLIC = "https://connector.example.com"
REMOTE = {"REMOTE_ADDR": "203.0.113.9"}
NUDGE_SECRET = "nudge-secret"
HS_SECRET = "hs-secret"


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    opened = Store.open(sqlite_url)
    yield opened
    opened.close()


def open_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """The web helpers' settings with no credentials at all."""
    web = {"auth_token": None, **overrides.pop("web", {})}
    return build_settings(tmp_path, web=web, **overrides)


def hold_run(store: Store) -> str:
    """A run held for approval (approving it spends credits)."""
    run_id = store.start_run("leads")
    store.hold_run(
        run_id, "quote 900 over approval_over 500", quote=900, status="awaiting_approval"
    )
    return run_id


def dashboard_and_api_routes(app: Flask, run_id: str) -> list[tuple[str, str]]:
    """(method, path) of every dashboard and API route except the login form."""
    routes = []
    for rule in app.url_map.iter_rules():
        blueprint = (rule.endpoint or "").partition(".")[0]
        if blueprint not in ("api", "dashboard") or "login" in rule.endpoint:
            continue
        path = rule.rule.replace("<name>", "leads").replace("<run_id>", run_id)
        routes += [(m, path) for m in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})]
    return routes


# --- 1. closed by default ------------------------------------------------------------------


def test_without_credentials_no_dashboard_or_api_route_answers_another_machine(
    store: Store, tmp_path: Path
) -> None:
    client = build_client(store, open_settings(tmp_path, public_base_url=PUBLIC))
    run_id = hold_run(store)
    routes = dashboard_and_api_routes(client.application, run_id)
    assert ("GET", "/api/status") in routes and ("POST", f"/api/runs/{run_id}/approve") in routes
    for method, path in routes:
        response = client.open(path, method=method, base_url=PUBLIC, environ_base=REMOTE)
        assert response.status_code == 401, (method, path)
        assert "web.auth_token" in response.get_data(as_text=True), (method, path)
    run = store.get_run(run_id)
    assert run is not None and run.status == "awaiting_approval"
    assert store.take_poll_requests() == set()


@pytest.mark.parametrize(
    ("remote", "base_url", "status"),
    [
        ("127.0.0.1", "http://localhost:8000", 200),
        ("127.0.0.1", "http://127.0.0.1:8000", 200),
        ("::1", "http://localhost:8000", 200),
        # A reverse proxy on this machine forwards everyone, naming the public host.
        ("127.0.0.1", PUBLIC, 401),
        ("203.0.113.9", "http://localhost:8000", 401),
        ("10.0.0.7", "http://127.0.0.1:8000", 401),
    ],
)
def test_without_credentials_only_this_machine_naming_a_loopback_host_gets_in(
    store: Store, tmp_path: Path, remote: str, base_url: str, status: int
) -> None:
    client = build_client(store, open_settings(tmp_path, public_base_url=PUBLIC))
    environ = {"REMOTE_ADDR": remote}
    assert client.get("/api/status", base_url=base_url, environ_base=environ).status_code == status
    assert client.get("/", base_url=base_url, environ_base=environ).status_code == status


def test_health_probes_stay_open_without_credentials(store: Store, tmp_path: Path) -> None:
    client = build_client(store, open_settings(tmp_path, public_base_url=PUBLIC))
    assert client.get("/healthz", base_url=PUBLIC, environ_base=REMOTE).status_code == 200
    assert client.get("/readyz", base_url=PUBLIC, environ_base=REMOTE).status_code == 200
    # 503 only because the test config has no API key: not an authentication answer.
    deep = client.get("/readyz?deep=1", base_url=PUBLIC, environ_base=REMOTE)
    assert deep.status_code == 503


def test_a_forwarded_client_is_not_loopback_behind_a_trusted_proxy(
    store: Store, tmp_path: Path
) -> None:
    settings = open_settings(tmp_path, web={"trusted_proxies": 1})
    client = build_client(store, settings)
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert client.get("/api/status", headers=forwarded).status_code == 401
    assert client.get("/api/status").status_code == 200


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def wait_for(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the web process never answered"
            time.sleep(0.2)


def run_until_healthy(argv: list[str], env: dict[str, str], port: int) -> str:
    """Start a web process, wait for /healthz, stop it; its stderr."""
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    return stderr


def web_env(tmp_path: Path, **web: Any) -> dict[str, str]:
    config = write_config(tmp_path / "connector.yaml", {"data_dir": str(tmp_path), "web": web})
    return {
        **os.environ,
        "CONNECTOR_CONFIG": str(config),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GUNICORN_CMD_ARGS": "--no-control-socket",
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("bind", "extra", "web", "warned"),
    [
        ("0.0.0.0", [], {}, True),
        ("0.0.0.0", ["--preload"], {}, True),
        ("127.0.0.1", [], {}, False),
        ("0.0.0.0", [], {"auth_token": TOKEN}, False),
    ],
)
def test_gunicorn_bound_beyond_loopback_without_credentials_logs_an_error(
    tmp_path: Path, bind: str, extra: list[str], web: dict[str, Any], warned: bool
) -> None:
    port = free_port()
    argv = [
        str(BIN / "gunicorn"),
        "connector.web:create_app()",
        "--bind",
        f"{bind}:{port}",
        "--workers",
        "1",
        *extra,
    ]
    stderr = run_until_healthy(argv, web_env(tmp_path, **web), port)
    line = f"listens on {bind} without credentials"
    assert (line in stderr) is warned, stderr
    if warned:
        assert "set web.auth_token" in stderr


@pytest.mark.slow
def test_serve_beyond_loopback_without_credentials_logs_an_error(tmp_path: Path) -> None:
    port = free_port()
    argv = [str(BIN / "connector"), "serve", "--host", "0.0.0.0", "--port", str(port)]
    stderr = run_until_healthy(argv, web_env(tmp_path), port)
    assert "listens on 0.0.0.0 without credentials" in stderr
    assert "set web.auth_token" in stderr


# --- 2. the Host allow-list and DNS rebinding ----------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/status", "/", "/healthz", "/webhooks/hubspot", "/media/x.png", "/nope"]
)
def test_a_foreign_host_gets_400_on_every_route(store: Store, tmp_path: Path, path: str) -> None:
    client = build_client(store, build_settings(tmp_path, public_base_url=PUBLIC))
    response = client.get(path, base_url="http://evil.example", headers=auth())
    assert response.status_code == 400
    assert "web.trusted_hosts" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("base_url", "status"),
    [
        (PUBLIC, 200),
        ("http://localhost:8000", 200),
        ("http://127.0.0.1:8000", 200),
        ("http://connector.internal", 200),
        ("http://a.example.net", 200),
        ("http://example.net", 200),
        ("http://other.example.com", 400),
        ("http://connector.example.com.evil.example", 400),
    ],
)
def test_the_host_allow_list_is_public_base_url_loopback_and_the_setting(
    store: Store, tmp_path: Path, base_url: str, status: int
) -> None:
    web = {"trusted_hosts": ["connector.internal", ".example.net"]}
    client = build_client(store, build_settings(tmp_path, public_base_url=PUBLIC, web=web))
    assert client.get("/api/status", base_url=base_url, headers=auth()).status_code == status


def test_a_page_rebinding_its_domain_to_loopback_cannot_approve_a_held_run(
    store: Store, tmp_path: Path
) -> None:
    client = build_client(store, open_settings(tmp_path))
    run_id = hold_run(store)
    # The browser thinks it talks to evil.example, which now resolves to 127.0.0.1.
    page = "http://evil.example:8000"
    for path in (f"/api/runs/{run_id}/approve", "/api/sources/leads/sync"):
        response = client.post(path, base_url=page, headers={"Origin": page})
        assert response.status_code == 400
    run = store.get_run(run_id)
    assert run is not None and run.status == "awaiting_approval"
    assert store.take_poll_requests() == set()


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://localhost:9999", "http://127.0.0.1:8000"]
)
def test_state_changes_need_this_very_origin(store: Store, tmp_path: Path, origin: str) -> None:
    client = build_client(store, build_settings(tmp_path))
    run_id = hold_run(store)
    response = client.post(
        f"/api/runs/{run_id}/approve",
        base_url="http://localhost:8000",
        headers={**auth(), "Origin": origin},
    )
    assert response.status_code == 403
    same = client.post(
        f"/api/runs/{run_id}/approve",
        base_url="http://localhost:8000",
        headers={**auth(), "Origin": "http://localhost:8000"},
    )
    assert same.status_code == 200


# --- 3. picture URLs that lead inside (SSRF) -----------------------------------------------

BAIT_PNG = build_png(b"bait-picture-seed")


@pytest.fixture
def bait() -> Iterator[tuple[str, list[str]]]:
    """A loopback server that counts what it serves: a picture, and redirects towards it."""
    seen: list[str] = []
    app = Flask("bait")

    @app.before_request
    def record() -> None:
        seen.append(request.path)

    @app.get("/secret.png")
    def secret() -> Response:
        return Response(BAIT_PNG, content_type="image/png")

    @app.get("/allowed.png")
    def allowed() -> Response:
        return Response(BAIT_PNG, content_type="image/png")

    @app.get("/hop")
    def hop() -> Any:
        port = app.config["PORT"]
        return redirect(f"http://localhost:{port}/secret.png")

    @app.get("/to-file")
    def to_file() -> Any:
        return redirect("file:///etc/passwd")

    with LoopbackServer(app) as server:
        app.config["PORT"] = server.url.rsplit(":", 1)[1]
        yield server.url, seen


def picture_mapping(urls: dict[str, str]) -> str:
    fields = [
        {
            "target": target,
            "source": "{platform}.no_such_field",
            "transform": [f'default("{url}")', "rehost"],
            "policy": "overwrite",
        }
        for target, url in urls.items()
    ]
    return yaml.safe_dump({"kind": "sheets", "fields": fields}, sort_keys=False)


def run_once(stack: SandboxStack, tmp_path: Path, mapping: str, **overrides: Any) -> dict[str, str]:
    """``connector run --once`` on one sheet row with ``mapping``; the row afterwards."""
    (tmp_path / "mapping.yaml").write_text(mapping, encoding="utf-8")
    key = stack.seed_sheet([["found_alice", "instagram", ""]])
    source = {
        "name": "leads",
        "type": "sheets",
        "spreadsheet": key,
        "platform_column": "Platform",
        "mapping": str(tmp_path / "mapping.yaml"),
    }
    data = stack.settings_data(
        data_dir=tmp_path / "data", sources=[source], public_base_url=PUBLIC, **overrides
    )
    config = write_config(tmp_path / "connector.yaml", data)
    _register_commands()
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--once"])
    assert result.exit_code == 0, result.output
    values = stack.sheets.get_values(key, "Sheet1")
    return dict(zip(values[0], values[1], strict=False))


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(ic_config={"not_found_rate": 0.0}) as running:
        yield running


def test_picture_urls_leading_inside_are_refused_without_detail(
    stack: SandboxStack, tmp_path: Path, bait: tuple[str, list[str]]
) -> None:
    url, seen = bait
    port = url.rsplit(":", 1)[1]
    inside = {
        "Loopback": f"http://127.0.0.2:{port}/secret.png",
        "Localhost": f"http://localhost:{port}/secret.png",
        "Decimal": f"http://2130706433:{port}/secret.png",
        "Unspecified": f"http://0.0.0.0:{port}/secret.png",
        "Mapped": f"http://[::ffff:127.0.0.1]:{port}/secret.png",
        "Ipv6": f"http://[::1]:{port}/secret.png",
        "Nat64": f"http://[64:ff9b::7f00:1]:{port}/secret.png",
        "Sixtofour": f"http://[2002:7f00:1::1]:{port}/secret.png",
        "Metadata": "http://169.254.169.254/latest/meta-data/iam",
        "Private": "http://10.1.2.3/secret.png",
        "Multicast": "http://224.0.0.1/secret.png",
        "LinkLocal6": "http://[fe80::1]/secret.png",
        "Hop": f"{url}/hop",
        "ToFile": f"{url}/to-file",
    }
    allowed = {"Allowed": f"{url}/allowed.png"}
    row = run_once(stack, tmp_path, picture_mapping({**inside, **allowed}))
    errors = row["IC Error"].split("; ")
    assert sorted(errors) == sorted(
        f"{target}: image rehosting failed: picture URL refused" for target in inside
    )
    assert all(row.get(target, "") == "" for target in inside)
    assert row["Allowed"].startswith(f"{PUBLIC}/media/")
    # 127.0.0.1 is allowed by name (the stack sets media.allowed_hosts); no other name reached it.
    assert "/secret.png" not in seen
    assert seen.count("/allowed.png") == 1
    stored = list((tmp_path / "data" / "media").iterdir())
    assert [p.read_bytes() for p in stored] == [BAIT_PNG]


def test_without_allowed_hosts_even_the_sandbox_pictures_are_refused(
    stack: SandboxStack, tmp_path: Path
) -> None:
    mapping = yaml.safe_dump(
        {
            "kind": "sheets",
            "fields": [
                {
                    "target": "Picture",
                    "source": ["{platform}.profile_picture_hd", "{platform}.profile_picture"],
                    "transform": ["rehost"],
                }
            ],
        }
    )
    row = run_once(stack, tmp_path, mapping, media={"allowed_hosts": []})
    assert row["IC Error"] == "Picture: image rehosting failed: picture URL refused"
    assert stack.ic.state.image_requests == 0
    assert not (tmp_path / "data" / "media").exists() or not any(
        (tmp_path / "data" / "media").iterdir()
    )


# --- 4. webhooks: signature versions, hints kept with their event, body limits ------------


def hubspot_client(store: Store, tmp_path: Path, **hubspot: Any) -> FlaskClient:
    return build_client(store, build_settings(tmp_path, hubspot=hubspot))


def creation_events(*ids: int) -> bytes:
    return json.dumps(
        [
            {
                "eventId": i,
                "subscriptionId": 1,
                "portalId": 9,
                "occurredAt": 1_700_000_000_000 + i,
                "subscriptionType": "contact.creation",
                "objectId": i,
            }
            for i in ids
        ]
    ).encode()


def post_v3(client: FlaskClient, body: bytes, *, age: float = 0.0) -> Any:
    stamp = str(int((time.time() - age) * 1000))
    uri = "http://localhost/webhooks/hubspot"
    headers = {
        "X-HubSpot-Signature-v3": build_v3(HS_SECRET, "POST", uri, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }
    return client.post("/webhooks/hubspot", data=body, headers=headers)


def test_an_app_delivery_without_a_v3_signature_is_refused(store: Store, tmp_path: Path) -> None:
    client = hubspot_client(store, tmp_path, client_secret=HS_SECRET)
    body = creation_events(5)
    v1 = {"X-HubSpot-Signature": build_v1(HS_SECRET, body), "X-HubSpot-Signature-Version": "v1"}
    for headers in (v1, {"X-HubSpot-Signature": build_v1(HS_SECRET, body)}):
        response = client.post("/webhooks/hubspot", data=body, headers=headers)
        assert response.status_code == 401
        assert "X-HubSpot-Signature-v3" in response.get_json()["error"]
    assert store.take_record_hints("crm") == []
    legacy = hubspot_client(
        store, tmp_path, client_secret=HS_SECRET, app_webhook_signatures=["v3", "v1"]
    )
    assert legacy.post("/webhooks/hubspot", data=body, headers=v1).status_code == 200
    assert store.take_record_hints("crm") == ["5"]


def test_a_captured_delivery_replayed_after_the_window_is_refused(
    store: Store, tmp_path: Path
) -> None:
    client = hubspot_client(store, tmp_path, client_secret=HS_SECRET)
    replayed = post_v3(client, creation_events(6), age=600)
    assert replayed.status_code == 401 and "old" in replayed.get_json()["error"]
    assert store.take_record_hints("crm") == []


def test_a_hint_the_store_failed_to_keep_is_not_dropped_as_a_duplicate(
    tmp_path: Path,
) -> None:
    database = tmp_path / "connector.db"
    store = Store.open(f"sqlite:///{database}")
    client = hubspot_client(store, tmp_path, client_secret=HS_SECRET)
    body = creation_events(7)
    with sqlite3.connect(database) as conn:
        conn.execute("ALTER TABLE record_hints RENAME TO record_hints_away")
    failed = post_v3(client, body)
    assert failed.status_code >= 500  # HubSpot retries any 5xx
    with sqlite3.connect(database) as conn:
        conn.execute("ALTER TABLE record_hints_away RENAME TO record_hints")
    retried = post_v3(client, body)
    assert retried.get_json() == {"ok": True, "accepted": 1, "skipped": 0}
    assert store.take_record_hints("crm") == ["7"]
    assert post_v3(client, body).get_json() == {"ok": True, "accepted": 0, "skipped": 1}
    store.close()


def post_chunked(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST ``body`` with ``Transfer-Encoding: chunked`` (no Content-Length), in 512-byte chunks."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    chunks = (body[i : i + 512] for i in range(0, len(body), 512))
    try:
        conn.request("POST", path, body=chunks, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


@pytest.fixture
def served(store: Store, tmp_path: Path) -> Iterator[str]:
    settings = build_settings(
        tmp_path,
        web={"max_body_bytes": 2048, "sheets_nudge_secret": NUDGE_SECRET},
        hubspot={"client_secret": HS_SECRET},
    )
    app = create_app(services=Services(settings=settings, store=store))
    with LoopbackServer(app) as server:
        yield server.url


def nudge(padding: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "source": "leads",
            "sheet": "s",
            "changeType": "EDIT",
            "ts": time.time(),
            "pad": "x" * padding,
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Connector-Signature": build_signature(body, NUDGE_SECRET),
    }
    return body, headers


def test_a_chunked_body_over_the_limit_gets_413_not_a_truncated_202(
    served: str, store: Store
) -> None:
    body, headers = nudge(5000)
    status, payload = post_chunked(served, "/webhooks/sheets/leads", body, headers)
    assert (status, payload["error"]) == (413, "request body too large")
    hubspot = creation_events(*range(1, 60))
    assert len(hubspot) > 2048
    assert post_chunked(served, "/webhooks/hubspot", hubspot, {})[0] == 413
    assert store.take_poll_requests() == set()
    small, headers = nudge(100)
    assert post_chunked(served, "/webhooks/sheets/leads", small, headers)[0] == 202
    assert store.take_poll_requests() == {"leads"}


@pytest.mark.slow
def test_gunicorn_refuses_a_chunked_body_over_the_limit(tmp_path: Path) -> None:
    port = free_port()
    env = web_env(tmp_path, auth_token=TOKEN, max_body_bytes=2048, sheets_nudge_secret=NUDGE_SECRET)
    config = yaml.safe_load(Path(env["CONNECTOR_CONFIG"]).read_text())
    config["sources"] = [{"name": "leads", "type": "sheets", "spreadsheet": "key"}]
    write_config(Path(env["CONNECTOR_CONFIG"]), config)
    argv = [str(BIN / "gunicorn"), "connector.web:create_app()", "--bind", f"127.0.0.1:{port}"]
    process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(port, process)
        big, headers = nudge(5000)
        assert (
            post_chunked(f"http://127.0.0.1:{port}", "/webhooks/sheets/leads", big, headers)[0]
            == 413
        )
        small, headers = nudge(100)
        assert (
            post_chunked(f"http://127.0.0.1:{port}", "/webhooks/sheets/leads", small, headers)[0]
            == 202
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)


# --- 5. secrets in alert webhook URLs ------------------------------------------------------

ACCESS_KEY = "ak-6b1f0c9e"
ALERT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_an_alert_url_secret_shows_nowhere(tmp_path: Path) -> None:
    _register_commands()
    with WebhookReceiver() as hook:
        hook.fail_next(500, count=10)
        url = f"{hook.url}?access_key={ACCESS_KEY}"
        data = {
            "data_dir": str(tmp_path),
            "web": {"auth_token": TOKEN},
            "alerts": {
                "max_attempts": 1,
                "channels": [
                    {"type": "webhook", "url": url, "secret": ALERT_SECRET, "name": "ops"}
                ],
            },
        }
        config = str(write_config(tmp_path / "connector.yaml", data))
        runner = CliRunner()
        checked = runner.invoke(cli, ["--config", config, "config", "check"])
        sent = runner.invoke(cli, ["--config", config, "alerts", "test"])
    assert checked.exit_code == 0 and sent.exit_code == 1
    assert "ops: FAILED" in sent.output
    assert 'event="alert delivery failed"' in sent.output  # the log lines, on stderr
    store = Store.open(f"sqlite:///{tmp_path / 'connector.db'}")
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT detail FROM deliveries").scalars().all()
    # A row written before masking existed is shown masked too.
    store.save_delivery("ops", "legacy", "warn", None, False, "")
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE deliveries SET detail = ? WHERE rule = 'legacy'",
            (f"{url} answered 500",),
        )
    client = build_client(store, build_settings(tmp_path, alerts=data["alerts"]))
    api = client.get("/api/alerts", headers=auth()).get_data(as_text=True)
    page = client.get("/", headers=auth()).get_data(as_text=True)
    store.close()
    shown = [checked.output, sent.output, *stored, api, page]
    assert stored and all("access_key=**********" not in s for s in stored)
    leaks = [text[:200] for text in shown if ACCESS_KEY in text]
    assert leaks == []
    assert "?**********" in api and "?**********" in page


# --- 6. errors, not tracebacks, at start-up ------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "connector"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def assert_one_error_line(done: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    for text in expected:
        assert text in errors[0], done.stderr


@pytest.mark.parametrize("command", [["config", "check"], ["db", "upgrade"], ["serve"]])
def test_a_config_file_of_invalid_bytes_is_one_error_line(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "connector.yaml"
    config.write_bytes(b"data_dir: ./data\nlog_level: \xff\xfeINFO\n")
    done = run_cli("--config", str(config), *command)
    assert_one_error_line(done, f"{config}:2:", "not UTF-8", "save the file as UTF-8")


@pytest.mark.parametrize("command", [["db", "upgrade"], ["run", "--once"], ["sources", "check"]])
def test_an_impossible_data_dir_is_one_error_line(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    source = {"name": "leads", "type": "sheets", "spreadsheet": "key"}
    data = {"data_dir": str(tmp_path / "a-file" / "data"), "sources": [source]}
    config = write_config(tmp_path / "c.yaml", data)
    done = run_cli("--config", str(config), *command)
    assert_one_error_line(done, "writable directory")


@pytest.mark.slow
def test_gunicorn_with_a_broken_config_prints_one_error_line(tmp_path: Path) -> None:
    env = web_env(tmp_path)
    Path(env["CONNECTOR_CONFIG"]).write_bytes(b"web:\n  auth_token: \xff\n")
    argv = [
        str(BIN / "gunicorn"),
        "connector.web:create_app()",
        "--bind",
        f"127.0.0.1:{free_port()}",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "not UTF-8" in errors[0], done.stderr


# --- 7. credential guesses slow down -------------------------------------------------------


def guess(client: FlaskClient, token: str, remote: str = "203.0.113.9") -> Any:
    return client.get(
        "/api/status", headers=auth(token), base_url=PUBLIC, environ_base={"REMOTE_ADDR": remote}
    )


def test_repeated_wrong_tokens_from_one_address_are_throttled(store: Store, tmp_path: Path) -> None:
    settings = build_settings(
        tmp_path, public_base_url=PUBLIC, web={"auth_failure_limit": "3 per minute"}
    )
    client = build_client(store, settings)
    assert [guess(client, f"wrong-{i}").status_code for i in range(3)] == [401, 401, 401]
    throttled = guess(client, TOKEN)
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 61
    assert "try again" in throttled.get_json()["error"]
    login = client.post(
        "/login",
        data={"token": TOKEN},
        base_url=PUBLIC,
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert login.status_code == 429
    # Another address, and right tokens, are not slowed down.
    assert guess(client, TOKEN, remote="198.51.100.4").status_code == 200
    assert all(guess(client, TOKEN, remote="198.51.100.5").status_code == 200 for _ in range(5))


def test_failed_logins_through_the_form_count_too(store: Store, tmp_path: Path) -> None:
    settings = build_settings(tmp_path, web={"auth_failure_limit": "2 per minute"})
    client = build_client(store, settings)
    for _ in range(2):
        assert client.post("/login", data={"token": "nope"}).status_code == 401
    assert client.post("/login", data={"token": TOKEN}).status_code == 429
    assert client.get(f"/?token={TOKEN}").status_code == 429


@pytest.mark.redis
def test_every_worker_shares_the_count_through_redis(
    store: Store, tmp_path: Path, redis_url: str
) -> None:
    settings = build_settings(
        tmp_path,
        public_base_url=PUBLIC,
        rate_limit_storage=redis_url,
        web={"auth_failure_limit": "2 per minute"},
    )
    first, second = build_client(store, settings), build_client(store, settings)
    assert guess(first, "wrong").status_code == 401
    assert guess(second, "wrong").status_code == 401
    assert guess(first, TOKEN).status_code == 429
    assert guess(second, TOKEN).status_code == 429
