"""What the dashboard and API show: runs that did something, a run's records, needs attention."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from web_helpers import auth, build_client, build_settings, login

from connector.config import parse_settings
from connector.store import RecordEvent, Store
from connector.web.links import NO_GID, NO_PORTAL, build_record_link

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    store = Store.open(sqlite_url)
    yield store
    store.close()


@pytest.fixture
def client(store: Store, tmp_path: Path) -> FlaskClient:
    return build_client(store, build_settings(tmp_path))


def paid_run(store: Store) -> str:
    """A leads run: two paid rows, a duplicate, a cached row, an invalid row, an error."""
    run_id = store.start_run("leads")
    store.save_record_events(
        [
            RecordEvent(
                run_id,
                "leads",
                "enriched",
                location="Sheet1!A2",
                handle="ana",
                platform="instagram",
                route="single",
                credits=1.0,
                fields={"Followers": 1200, "Bio": "=HYPERLINK(1)"},
            ),
            RecordEvent(
                run_id,
                "leads",
                "enriched",
                location="Sheet1!A3",
                handle="ana",
                platform="instagram",
                route="duplicate",
                fields={"Followers": 1200},
            ),
            RecordEvent(
                run_id,
                "leads",
                "enriched",
                location="Sheet1!A4",
                handle="ben",
                platform="tiktok",
                route="batch",
                credits=1.0,
            ),
            RecordEvent(
                run_id,
                "leads",
                "enriched",
                location="Sheet1!A5",
                handle="cara",
                platform="instagram",
                route="cache",
            ),
            RecordEvent(
                run_id,
                "leads",
                "invalid handle",
                location="Sheet1!A6",
                handle="two words",
                identity="two words",
                error="contains spaces (a handle has no spaces)",
            ),
            RecordEvent(
                run_id,
                "leads",
                "invalid handle",
                location="Sheet1!A7",
                handle="n/a",
                identity="n/a",
                error="contains spaces (a handle has no spaces)",
            ),
            RecordEvent(
                run_id,
                "leads",
                "error",
                location="Sheet1!A8",
                handle="zed",
                identity="zed",
                platform="instagram",
                route="single",
                error="influencers.club rejected it",
            ),
        ]
    )
    store.finish_run(run_id, {"records": 7}, credits_spent=2.0, credits_saved=2.0)
    return run_id


def idle_run(store: Store) -> str:
    run_id = store.start_run("leads")
    store.finish_run(run_id, {"records": 0})
    return run_id


# --- runs that did something --------------------------------------------------------------------


def test_api_runs_leave_out_idle_polls_unless_all(client: FlaskClient, store: Store) -> None:
    paid = paid_run(store)
    idle = idle_run(store)
    listed = client.get("/api/runs", headers=auth()).get_json()["runs"]
    assert [r["run_id"] for r in listed] == [paid]
    everything = client.get("/api/runs?all=1", headers=auth()).get_json()["runs"]
    assert {r["run_id"] for r in everything} == {paid, idle}
    assert listed[0]["records"] == 7


def test_the_dashboard_lists_runs_that_did_something(client: FlaskClient, store: Store) -> None:
    paid = paid_run(store)
    idle = idle_run(store)
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert f'data-run-id="{paid}"' in page and f'data-run-id="{idle}"' not in page
    assert "show idle polls too" in page
    assert f'data-run-id="{idle}"' in client.get("/?all=1").get_data(as_text=True)


# --- a run's records ----------------------------------------------------------------------------


def test_a_held_then_enriched_record_is_one_row_unless_steps_are_asked_for(
    client: FlaskClient, store: Store
) -> None:
    run_id = store.start_run("crm")
    store.save_record_events(
        [
            RecordEvent(run_id, "crm", "awaiting approval", location="contact 7", error="over"),
            RecordEvent(
                run_id, "crm", "enriched", location="contact 7", route="batch", credits=1.0
            ),
        ]
    )
    store.finish_run(run_id, {"records": 1}, credits_spent=1.0)
    folded = client.get(f"/api/runs/{run_id}/records", headers=auth()).get_json()
    assert [r["status"] for r in folded["records"]] == ["enriched"] and folded["adds_up"]
    steps = client.get(f"/api/runs/{run_id}/records?steps=1", headers=auth()).get_json()
    assert [r["status"] for r in steps["records"]] == ["awaiting approval", "enriched"]
    text = client.get(f"/api/runs/{run_id}/records.csv?steps=1", headers=auth()).get_data(
        as_text=True
    )
    assert len(list(csv.DictReader(io.StringIO(text)))) == 2
    login(client)
    assert "show every step" in client.get(f"/runs/{run_id}").get_data(as_text=True)


def test_api_run_records_are_paginated_and_add_up(client: FlaskClient, store: Store) -> None:
    run_id = paid_run(store)
    first = client.get(f"/api/runs/{run_id}/records?limit=3", headers=auth()).get_json()
    assert (first["total"], first["next_offset"], first["records_credits"]) == (7, 3, 2.0)
    assert first["adds_up"] is True and first["run"]["credits_spent"] == 2.0
    assert [r["route"] for r in first["records"]] == ["single", "duplicate", "batch"]
    rest = client.get(f"/api/runs/{run_id}/records?offset=3&limit=10", headers=auth()).get_json()
    assert rest["next_offset"] is None and len(rest["records"]) == 4
    records = first["records"] + rest["records"]
    assert sum(r["credits"] for r in records) == 2.0
    assert records[0]["fields"] == {"Followers": 1200, "Bio": "=HYPERLINK(1)"}
    assert records[0]["link"] == "https://docs.google.com/spreadsheets/d/sheet-key/edit"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/runs/nope/records", 404),
        ("/api/runs/nope/records.csv", 404),
        ("/api/runs/{run}/records?limit=0", 400),
        ("/api/runs/{run}/records?limit=501", 400),
        ("/api/runs/{run}/records?offset=-1", 400),
    ],
)
def test_api_run_records_refuse_unknown_runs_and_bad_pages(
    client: FlaskClient, store: Store, path: str, status: int
) -> None:
    run_id = paid_run(store)
    response = client.get(path.format(run=run_id), headers=auth())
    assert response.status_code == status and response.get_json()["status"] == status


def test_the_records_csv_sums_to_the_run_and_defuses_formulas(
    client: FlaskClient, store: Store
) -> None:
    run_id = paid_run(store)
    response = client.get(f"/api/runs/{run_id}/records.csv", headers=auth())
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 7
    assert sum(float(r["credits"]) for r in rows) == 2.0
    assert rows[0]["location"] == "Sheet1!A2" and rows[0]["route"] == "single"
    assert '"Bio": "=HYPERLINK(1)"' in rows[0]["fields"]
    assert not any(value.startswith("=") for row in rows for value in row.values())


def test_the_run_page_lists_its_records_and_says_they_add_up(
    client: FlaskClient, store: Store
) -> None:
    run_id = paid_run(store)
    login(client)
    page = client.get(f"/runs/{run_id}").get_data(as_text=True)
    assert page.count('class="record"') == 7
    assert 'data-route="duplicate"' in page and "adds up to the run" in page
    assert f"/api/runs/{run_id}/records.csv" in page
    assert "Re-enrich…" in page and "retry-button" in page
    assert escape(NO_GID) in page
    assert client.get("/runs/nope").status_code == 404


# --- needs attention ----------------------------------------------------------------------------


def test_api_attention_groups_errors_and_tells_the_alert_text(
    client: FlaskClient, store: Store
) -> None:
    paid_run(store)
    store.transition_alert("low_balance", "ok", "warn", 450.0)
    store.save_delivery(
        "slack",
        "low_balance",
        "warn",
        {"title": "WARN: Low credits", "text": "The balance is 450 credits, below 500."},
        True,
    )
    for available in (900.0, 450.0):
        store.save_credit_snapshot(available)
    store.record_source_failure("crm", "list 42 not found")
    held = store.start_run("crm")
    store.hold_run(held, "costs 900 credits", quote=900, status="awaiting_approval")
    data = client.get("/api/attention", headers=auth()).get_json()
    [alert] = data["alerts"]
    assert alert["text"] == "The balance is 450 credits, below 500."
    assert alert["title"] == "Low influencers.club credits" and alert["state"] == "warn"
    groups = {(g["status"], g["count"]) for g in data["errors"]}
    assert groups == {("invalid handle", 2), ("error", 1)}
    assert data["error_records"] == 3
    assert [r["run_id"] for r in data["held_runs"]] == [held]
    assert [s["name"] for s in data["failing_sources"]] == ["crm"]
    assert data["balance"]["level"] == "warn" and data["balance"]["value"] == 450.0


def test_the_attention_panel_shows_errors_with_retry_and_a_low_balance(
    client: FlaskClient, store: Store
) -> None:
    run_id = paid_run(store)
    store.save_credit_snapshot(80.0)
    login(client)
    page = client.get("/").get_data(as_text=True)
    attention = page[page.index('id="attention"') : page.index('id="sources"')]
    assert 'data-level="critical"' in attention and "below the critical threshold" in attention
    assert attention.count('class="error-record"') == 3
    assert "Retry all 2" in attention and "contains spaces" in attention
    assert f"/runs/{run_id}" in attention


def test_a_record_retried_and_enriched_leaves_the_panel(client: FlaskClient, store: Store) -> None:
    paid_run(store)
    later = store.start_run("leads")
    store.save_record_events(
        [RecordEvent(later, "leads", "enriched", location="Sheet1!A8", identity="zed")]
    )
    data = client.get("/api/attention", headers=auth()).get_json()
    assert data["error_records"] == 2


# --- links, errors, usage ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "location", "url", "note"),
    [
        (
            {"spreadsheet": "https://docs.google.com/spreadsheets/d/abc123/edit#gid=42"},
            "Leads!B7",
            "https://docs.google.com/spreadsheets/d/abc123/edit#gid=42&range=B7",
            "",
        ),
        (
            {"spreadsheet": "abc123"},
            "Leads!B7",
            "https://docs.google.com/spreadsheets/d/abc123/edit",
            NO_GID,
        ),
        ({"type": "hubspot", "list": "7"}, "contact 901", None, NO_PORTAL),
    ],
)
def test_record_links_come_from_the_settings(
    tmp_path: Path, source: dict[str, str], location: str, url: str | None, note: str
) -> None:
    config = {"name": "s", "type": "sheets", **source}
    settings = parse_settings({"data_dir": str(tmp_path), "sources": [config]}, environ={})
    link = build_record_link(settings, "s", location)
    assert (link.url, link.note) == (url, note)


def test_a_known_portal_links_the_contact(tmp_path: Path) -> None:
    settings = parse_settings(
        {
            "data_dir": str(tmp_path),
            "hubspot": {"portal_id": 4512},
            "sources": [{"name": "crm", "type": "hubspot", "list": "7"}],
        },
        environ={},
    )
    link = build_record_link(settings, "crm", "contact 901")
    assert link.url == "https://app.hubspot.com/contacts/4512/record/0-1/901"


def test_browsers_get_error_pages_and_api_clients_json(client: FlaskClient) -> None:
    login(client)
    page = client.get("/runs/nope", headers=BROWSER)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "no run" in page.get_data(as_text=True)
    missing = client.get("/nope", headers=BROWSER)
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    api = client.get("/api/runs/nope/records", headers=auth())
    assert api.mimetype == "application/json" and api.get_json()["status"] == 404


def test_usage_by_day_and_source_and_as_csv(client: FlaskClient, store: Store) -> None:
    paid_run(store)
    other = store.start_run("crm")
    store.finish_run(other, {"records": 3}, credits_spent=3.0)
    usage = client.get("/api/credits/usage?days=7", headers=auth()).get_json()
    assert usage["total_spent"] == 5.0
    assert [(s["source"], s["credits_spent"]) for s in usage["by_source"]] == [
        ("crm", 3.0),
        ("leads", 2.0),
    ]
    assert len(usage["by_day"]) == 7
    rows = list(
        csv.DictReader(
            io.StringIO(client.get("/api/credits/usage.csv", headers=auth()).get_data(as_text=True))
        )
    )
    assert [(r["source"], r["credits_spent"], r["runs"]) for r in rows] == [
        ("crm", "3", "1"),
        ("leads", "2", "1"),
    ]
    assert client.get("/api/credits/usage?days=0", headers=auth()).status_code == 400


def test_the_burn_rate_waits_for_min_history(client: FlaskClient, store: Store) -> None:
    for available in (650.0, 640.0, 500.0):
        store.save_credit_snapshot(available)
    login(client)
    page = client.get("/").get_data(as_text=True)
    assert 'id="burn-rate">—' in page
    assert "needs 24 h of balance readings" in page
