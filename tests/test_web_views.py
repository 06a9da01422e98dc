"""The web app's views: the JSON API and the dashboard with its two forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from web_helpers import auth, build_client, build_settings, login

from connector.store import BatchItem, LedgerKey, NewWork, Store


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    store = Store.open(sqlite_url)
    yield store
    store.close()


@pytest.fixture
def client(store: Store, tmp_path: Path) -> FlaskClient:
    return build_client(store, build_settings(tmp_path))


def seed(store: Store) -> dict[str, str]:
    key = LedgerKey("instagram", "cristiano")
    store.add_work(
        [
            NewWork("leads", "r1", "r1", key, "cristiano"),
            NewWork("leads", "r2", "r2", LedgerKey("instagram", "leo"), "leo", state="held"),
        ]
    )
    store.record_source_failure("leads", "sheet not shared with the service account")
    batch = store.save_batch(
        "tiktok", "full", [BatchItem("tiktok", f"h{i}", f"h{i}") for i in range(4)]
    )
    store.attach_batch_id(batch.ref, "api-batch-1")
    store.update_batch(batch.ref, status="processing", processed=1)
    finished = store.start_run("leads")
    store.finish_run(finished, {"records": 7}, credits_spent=5, credits_saved=2, status="finished")
    held = store.start_run("crm")
    store.hold_run(held, "quote 900 over approval_over 500", quote=900, status="awaiting_approval")
    store.save_delivery("slack", "credits:warn", "warn", {"text": "low"}, ok=True)
    for available in (900.0, 700.0, 450.0):
        store.save_credit_snapshot(available, 1000 - available)
    return {"finished": finished, "held": held, "batch": batch.ref}


# --- JSON API ------------------------------------------------------------------------------


def test_api_status(client: FlaskClient, store: Store) -> None:
    ids = seed(store)
    payload = client.get("/api/status", headers=auth()).get_json()
    assert payload["ok"] is True
    sources = {s["name"]: s for s in payload["sources"]}
    assert list(sources) == ["leads", "crm", "old"]
    assert sources["leads"]["counts"] == {"waiting": 1, "held": 1, "done": 0, "failed": 0}
    assert sources["leads"]["last_error"] == "sheet not shared with the service account"
    assert sources["leads"]["failing_since"] is not None
    assert sources["old"]["enabled"] is False
    [batch] = payload["batches"]
    assert (batch["ref"], batch["processed"], batch["total"], batch["progress"]) == (
        ids["batch"],
        1,
        4,
        0.25,
    )
    assert payload["credits"]["balance"] == 450.0
    assert payload["credits"]["thresholds"] == [
        {"level": "warn", "below": 500.0},
        {"level": "critical", "below": 100.0},
    ]
    assert [r["run_id"] for r in payload["held_runs"]] == [ids["held"]]
    assert payload["outbox"] == {"pending": 0, "failing": 0}


def test_api_runs_and_limit(client: FlaskClient, store: Store) -> None:
    ids = seed(store)
    runs = client.get("/api/runs", headers=auth()).get_json()["runs"]
    assert {r["run_id"] for r in runs} == {ids["finished"], ids["held"]}
    finished = next(r for r in runs if r["run_id"] == ids["finished"])
    assert (finished["credits_spent"], finished["credits_saved"]) == (5.0, 2.0)
    assert len(client.get("/api/runs?limit=1", headers=auth()).get_json()["runs"]) == 1
    only = client.get("/api/runs?source=crm", headers=auth()).get_json()["runs"]
    assert [r["run_id"] for r in only] == [ids["held"]]
    assert client.get("/api/runs?source=old", headers=auth()).get_json()["runs"] == []


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten"])
def test_api_rejects_bad_limits(client: FlaskClient, query: str) -> None:
    for path in ("/api/runs", "/api/alerts"):
        response = client.get(f"{path}?{query}", headers=auth())
        assert response.status_code == 400 and response.get_json()["status"] == 400


def test_api_credits_and_alerts(client: FlaskClient, store: Store) -> None:
    seed(store)
    credits = client.get("/api/credits", headers=auth()).get_json()
    assert [p["available"] for p in credits["history"]] == [900.0, 700.0, 450.0]
    assert credits["report"]["balance"] == 450.0
    alerts = client.get("/api/alerts", headers=auth()).get_json()["alerts"]
    assert [(a["channel"], a["rule"], a["state"], a["ok"]) for a in alerts] == [
        ("slack", "credits:warn", "warn", True)
    ]
    assert "payload" not in alerts[0]


def test_api_sync_requests_a_poll(client: FlaskClient, store: Store) -> None:
    response = client.post("/api/sources/leads/sync", headers=auth())
    assert response.status_code == 202
    assert response.get_json() == {"ok": True, "source": "leads", "requested": True}
    assert store.take_poll_requests() == {"leads"}


@pytest.mark.parametrize(("name", "status"), [("nope", 404), ("old", 409)])
def test_api_sync_of_unknown_or_disabled_source(
    client: FlaskClient, store: Store, name: str, status: int
) -> None:
    response = client.post(f"/api/sources/{name}/sync", headers=auth())
    assert response.status_code == status and response.get_json()["status"] == status
    assert store.take_poll_requests() == set()


def test_api_approve(client: FlaskClient, store: Store) -> None:
    ids = seed(store)
    response = client.post(f"/api/runs/{ids['held']}/approve", headers=auth())
    assert response.get_json() == {"ok": True, "run_id": ids["held"], "status": "approved"}
    run = store.get_run(ids["held"])
    assert run is not None and run.status == "approved"
    again = client.post(f"/api/runs/{ids['held']}/approve", headers=auth())
    assert again.status_code == 404 and "not awaiting approval" in again.get_json()["error"]
    for run_id in ("no-such-run", ids["finished"]):
        assert client.post(f"/api/runs/{run_id}/approve", headers=auth()).status_code == 404
    finished = store.get_run(ids["finished"])
    assert finished is not None and finished.status == "finished"


# --- dashboard -----------------------------------------------------------------------------


def test_dashboard_shows_every_section(client: FlaskClient, store: Store) -> None:
    ids = seed(store)
    login(client)
    page = client.get("/").get_data(as_text=True)
    for anchor in ('id="sources"', 'id="batches"', 'id="credit-chart"', 'id="held-runs"'):
        assert anchor in page
    assert 'id="runs"' in page and 'id="alerts"' in page
    assert "sheet not shared with the service account" in page
    assert 'class="balance"' in page and 'data-level="warn"' in page
    assert f'data-run-id="{ids["held"]}"' in page and "approve-button" in page
    assert 'aria-valuenow="25"' in page
    assert 'name="viewport"' in page


def test_dashboard_renders_an_empty_store(client: FlaskClient) -> None:
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert "No balance history yet" in page and "No runs yet" in page
    assert "All clear" in page


def test_dashboard_escapes_stored_text(client: FlaskClient, store: Store) -> None:
    store.record_source_failure("leads", "<script>alert(1)</script>")
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_sync_button_requests_a_poll(client: FlaskClient, store: Store) -> None:
    csrf = login(client)
    response = client.post("/sources/leads/sync", data={"csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith("#sources")
    assert store.take_poll_requests() == {"leads"}
    assert "Sync of leads requested" in client.get("/").get_data(as_text=True)


def test_approve_button_approves_the_run(client: FlaskClient, store: Store) -> None:
    ids = seed(store)
    csrf = login(client)
    response = client.post(f"/runs/{ids['held']}/approve", data={"csrf_token": csrf})
    assert response.status_code == 302
    run = store.get_run(ids["held"])
    assert run is not None and run.status == "approved"
    assert client.post("/runs/nope/approve", data={"csrf_token": csrf}).status_code == 404


@pytest.mark.parametrize("csrf", [None, "forged"])
def test_dashboard_forms_need_the_csrf_token(
    client: FlaskClient, store: Store, csrf: str | None
) -> None:
    ids = seed(store)
    login(client)
    data = {} if csrf is None else {"csrf_token": csrf}
    for path in ("/sources/leads/sync", f"/runs/{ids['held']}/approve"):
        response = client.post(path, data=data)
        assert response.status_code == 403 and response.get_json()["status"] == 403
    assert store.take_poll_requests() == set()
    run = store.get_run(ids["held"])
    assert run is not None and run.status == "awaiting_approval"


def test_open_dashboard_forms_still_need_the_csrf_token(store: Store, tmp_path: Path) -> None:
    client = build_client(store, build_settings(tmp_path, web={"auth_token": None}))
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    assert client.post("/sources/leads/sync").status_code == 403
    assert (
        client.post("/sources/leads/sync", data={"csrf_token": match.group(1)}).status_code == 302
    )
    assert store.take_poll_requests() == {"leads"}
