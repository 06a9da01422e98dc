"""The dashboard's actions on the sandboxes: retry, re-enrich once, pause and resume, dry run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from connector.pipeline.cycle import run_cycle
from connector.sandbox.stack import SandboxStack
from connector.services import Services, build_services
from connector.web import create_app

TOKEN = "actions-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(balance=1000.0, ic_config={"not_found_rate": 0.0}) as running:
        yield running


@pytest.fixture
def services(stack: SandboxStack, tmp_path: Path) -> Iterator[Services]:
    key = stack.seed_sheet(
        [
            ["found_ana", "instagram", ""],
            ["two words", "instagram", ""],
            ["found_ben", "tiktok", ""],
        ]
    )
    list_id = stack.seed_hubspot_list(["found_cleo"])
    sources = [
        {"name": "leads", "type": "sheets", "spreadsheet": key, "platform_column": "Platform"},
        {"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"},
    ]
    settings = stack.build_settings(
        data_dir=tmp_path, sources=sources, media={"backend": "none"}, web={"auth_token": TOKEN}
    )
    built = build_services(settings)
    built.sheet_key = key  # type: ignore[attr-defined]
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> FlaskClient:
    return create_app(services=services).test_client()


def login(client: FlaskClient, path: str = "/") -> str:
    assert client.get(f"/?token={TOKEN}").status_code == 302
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def status_of(stack: SandboxStack, key: str, row: int) -> str:
    values = stack.sheets.get_values(key, "Sheet1")
    header = [str(h) for h in values[0]]
    cells = values[row - 1] + [""] * len(header)
    return str(cells[header.index("IC Status")])


def record_id(services: Services, location: str) -> int:
    found = [
        e
        for run in services.store.fetch_runs(50)
        for e in services.store.fetch_run_records(run.run_id)
        if e.location == location
    ]
    assert found and found[-1].id is not None
    return found[-1].id


def charges(stack: SandboxStack) -> float:
    return float(stack.ic.stats()["credits_charged"])


# --- retry --------------------------------------------------------------------------------------


def test_retry_from_the_page_writes_retry_and_the_next_poll_enriches_the_fixed_row(
    stack: SandboxStack, services: Services, client: FlaskClient
) -> None:
    key = services.sheet_key  # type: ignore[attr-defined]
    run_cycle(services, "leads")
    assert status_of(stack, key, 3).startswith("invalid handle")
    event = record_id(services, "Sheet1!A3")
    csrf = login(client)
    page = client.get("/").get_data(as_text=True)
    assert f'data-record-id="{event}"' in page
    # The user fixes the handle, then presses Retry.
    stack.sheets.set_cells(key, "Sheet1", {"A3": "found_two_words"})
    response = client.post("/records/retry", data={"csrf_token": csrf, "ids": str(event)})
    assert response.status_code == 302 and response.headers["Location"].endswith("#attention")
    assert status_of(stack, key, 3) == "retry"
    assert services.store.take_poll_requests() == {"leads"}, "the worker is nudged"
    flash = client.get("/").get_data(as_text=True)
    assert "Retry requested for 1 record(s) (Sheet1!A3)" in flash
    run_cycle(services, "leads")
    assert status_of(stack, key, 3) == "enriched"
    assert f'data-record-id="{event}"' not in client.get("/").get_data(as_text=True)


def test_retry_through_the_api_names_what_it_skipped(
    stack: SandboxStack, services: Services, client: FlaskClient
) -> None:
    run_cycle(services, "leads")
    event = record_id(services, "Sheet1!A3")
    response = client.post("/api/records/retry", json={"ids": [event, 99999]}, headers=AUTH)
    body = response.get_json()
    assert body["marked"] == ["Sheet1!A3"] and body["skipped"] == ["no record 99999"]
    bad = client.post("/api/records/retry", json={"ids": ["x"]}, headers=AUTH)
    assert bad.status_code == 400


def test_retry_of_a_hubspot_contact_sets_its_status(
    stack: SandboxStack, services: Services, client: FlaskClient
) -> None:
    run_cycle(services, "crm")
    [event] = services.store.fetch_run_records(services.store.fetch_runs(1)[0].run_id)
    assert event.id is not None and event.location.startswith("contact ")
    body = client.post("/api/records/retry", json={"ids": [event.id]}, headers=AUTH).get_json()
    assert body["marked"] == [event.location]
    contact = stack.hubspot.get_contact(event.location.split()[1])
    assert contact["ic_status"] == "retry"


# --- re-enrich ----------------------------------------------------------------------------------


def test_re_enrich_shows_the_price_then_pays_exactly_once(
    stack: SandboxStack, services: Services, client: FlaskClient
) -> None:
    key = services.sheet_key  # type: ignore[attr-defined]
    run_cycle(services, "leads")
    assert charges(stack) == 2.0
    event = record_id(services, "Sheet1!A2")
    csrf = login(client)
    confirm_page = client.get(f"/records/{event}/reenrich").get_data(as_text=True)
    assert "Pay 1 credit and re-enrich" in confirm_page
    token = re.search(r'name="confirm" value="([^"]+)"', confirm_page)
    assert token is not None
    form = {"csrf_token": csrf, "confirm": token.group(1)}
    # Two clicks of the same confirmation, before the worker polls.
    first = client.post(f"/records/{event}/reenrich", data=form)
    second = client.post(f"/records/{event}/reenrich", data=form)
    assert first.status_code == second.status_code == 302
    assert status_of(stack, key, 2) == "retry"
    page = client.get("/").get_data(as_text=True)
    assert "Re-enrich of found_ana requested (1 credit)" in page
    assert "already on its way" in page
    report = run_cycle(services, "leads")
    assert report.credits_spent == 1.0 and charges(stack) == 3.0
    assert status_of(stack, key, 2) == "enriched"
    # The same confirmation once more, after the new answer: nothing happens.
    again = client.post(
        f"/api/records/{event}/reenrich", json={"confirm": token.group(1)}, headers=AUTH
    )
    assert again.status_code == 409 and "enriched again" in again.get_json()["error"]
    run_cycle(services, "leads")
    assert charges(stack) == 3.0


def test_the_api_quotes_re_enrich_and_needs_the_quote_back(
    stack: SandboxStack, services: Services, client: FlaskClient
) -> None:
    run_cycle(services, "leads")
    event = record_id(services, "Sheet1!A2")
    quote = client.get(f"/api/records/{event}/reenrich", headers=AUTH).get_json()
    assert (quote["price"], quote["creator"], quote["pending"]) == (
        1.0,
        "instagram:found_ana",
        False,
    )
    refused = client.post(f"/api/records/{event}/reenrich", json={}, headers=AUTH)
    assert refused.status_code == 409
    done = client.post(
        f"/api/records/{event}/reenrich", json={"confirm": quote["confirm"]}, headers=AUTH
    )
    assert done.status_code == 202 and done.get_json()["requested"] is True
    assert client.get(f"/api/records/{event}/reenrich", headers=AUTH).get_json()["pending"]
    invalid = record_id(services, "Sheet1!A3")
    assert client.get(f"/api/records/{invalid}/reenrich", headers=AUTH).status_code == 409
    assert client.get("/api/records/nope/reenrich", headers=AUTH).status_code == 404


# --- pause, resume, sync, dry run ---------------------------------------------------------------


def test_pause_and_resume_from_the_page(services: Services, client: FlaskClient) -> None:
    csrf = login(client)
    paused = client.post("/sources/leads/pause", data={"csrf_token": csrf})
    assert paused.status_code == 302 and paused.headers["Location"].endswith("#sources")
    assert services.store.is_source_paused("leads")
    page = client.get("/").get_data(as_text=True)
    assert 'data-paused="yes"' in page and "leads is paused" in page and "resume-button" in page
    sync = client.post("/api/sources/leads/sync", headers=AUTH)
    assert sync.status_code == 409 and "paused" in sync.get_json()["error"]
    assert client.get("/api/status", headers=AUTH).get_json()["sources"][0]["paused"] is True
    client.post("/sources/leads/resume", data={"csrf_token": csrf})
    assert not services.store.is_source_paused("leads")
    assert services.store.take_poll_requests() == {"leads"}


def test_pause_and_resume_through_the_api(services: Services, client: FlaskClient) -> None:
    body = client.post("/api/sources/crm/pause", headers=AUTH).get_json()
    assert body["paused"] is True and services.store.is_source_paused("crm")
    assert client.post("/api/sources/crm/resume", headers=AUTH).get_json()["paused"] is False
    assert client.post("/api/sources/nope/pause", headers=AUTH).status_code == 404


def test_a_dry_run_from_the_page_shows_the_plan_and_quote(
    stack: SandboxStack, services: Services, client: FlaskClient
) -> None:
    csrf = login(client)
    page = client.post("/sources/leads/dry-run", data={"csrf_token": csrf}).get_data(as_text=True)
    assert "nothing written, nothing paid" in page
    assert "records 3 · invalid 1 · duplicates 0 · cached 0 · to enrich 2 single + 0 batch" in page
    assert "quote 2 credits" in page and page.count('class="plan-row"') == 4
    assert charges(stack) == 0.0
    data: dict[str, Any] = client.post("/api/sources/leads/dry-run", headers=AUTH).get_json()
    assert data["report"]["quote"] == 2.0 and data["summary"].startswith("records 3")
    assert [row["kind"] for row in data["plan"]][-1] == "quote"
