"""The HubSpot sandbox's auth, rate limits, injected faults, files API and control routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, PublicObjectSearchRequest
from hubspot.crm.lists import ApiException as ListsApiException
from hubspot.crm.lists.exceptions import ServiceException, UnauthorizedException
from hubspot.files import ApiException as FilesApiException
from urllib3.util.retry import Retry

from connector.sandbox.hubspot import HubSpotSandbox

TIMEOUT = (2, 5)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


@pytest.fixture(scope="module")
def running() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(limit=5, interval=10.0) as started:
        yield started


@pytest.fixture
def sandbox(running: HubSpotSandbox) -> HubSpotSandbox:
    running.reset()
    return running


def _client(sandbox: HubSpotSandbox, **kwargs: object) -> HubSpot:
    kwargs.setdefault("access_token", sandbox.access_token)
    return HubSpot(host=sandbox.url, base_url=sandbox.url, **kwargs)


def _read(client: HubSpot, ids: list[str]) -> object:
    body = BatchReadInputSimplePublicObjectId(inputs=[{"id": i} for i in ids])
    return client.crm.contacts.batch_api.read(body, _request_timeout=TIMEOUT)


def test_a_wrong_or_missing_token_is_401_invalid_authentication(sandbox: HubSpotSandbox) -> None:
    list_id = sandbox.create_list("Any")

    with pytest.raises(UnauthorizedException) as caught:
        _client(sandbox, access_token="pat-wrong").crm.lists.lists_api.get_by_id(list_id)
    bare = httpx.get(f"{sandbox.url}/crm/v3/lists/{list_id}")

    body = json.loads(caught.value.body)
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found")
    assert body["correlationId"]
    assert bare.status_code == 401
    assert bare.headers["content-type"] == "application/json;charset=utf-8"


def test_responses_carry_rate_limit_headers(sandbox: HubSpotSandbox) -> None:
    headers = {"Authorization": f"Bearer {sandbox.access_token}"}

    first = httpx.get(f"{sandbox.url}/crm/v3/properties/contacts/email", headers=headers)
    second = httpx.get(f"{sandbox.url}/crm/v3/properties/contacts/email", headers=headers)

    assert first.headers["X-HubSpot-RateLimit-Max"] == "5"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    remaining = [int(r.headers["X-HubSpot-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining[0] - remaining[1] == 1


def test_the_moving_window_answers_429_with_hubspots_body(sandbox: HubSpotSandbox) -> None:
    ids = sandbox.create_contacts([{"email": "a@example.com"}])
    client = _client(sandbox)
    for _ in range(5):
        _read(client, ids)

    with pytest.raises(ContactsApiException) as caught:
        _read(client, ids)

    body = json.loads(caught.value.body)
    assert caught.value.status == 429
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert caught.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert sandbox.stats()["http_429"] == 1


def test_a_retrying_client_absorbs_an_injected_429_burst(sandbox: HubSpotSandbox) -> None:
    ids = sandbox.create_contacts([{"email": "a@example.com"}])
    retry = Retry(
        total=5,
        backoff_factor=0.01,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    sandbox.inject_faults(429, 3, path_prefix="/crm/v3/objects/contacts")

    response = _read(_client(sandbox, retry=retry), ids)

    assert [r.id for r in response.results] == ids  # type: ignore[attr-defined]
    stats = sandbox.stats()
    assert stats["http_429"] == 3
    assert stats["by_endpoint"]["contacts.batch_read"] == 4
    assert stats["requests"] == 4


def test_injected_daily_429_5xx_and_delays(sandbox: HubSpotSandbox) -> None:
    list_id = sandbox.create_list("Any")
    api = _client(sandbox).crm.lists.lists_api
    sandbox.inject_faults(429, policy="DAILY")
    sandbox.inject_faults(503)
    sandbox.inject_faults(200, delay=0.2)

    with pytest.raises(ListsApiException) as daily:
        api.get_by_id(list_id, _request_timeout=TIMEOUT)
    with pytest.raises(ServiceException) as unavailable:
        api.get_by_id(list_id, _request_timeout=TIMEOUT)
    delayed = api.get_by_id(list_id, _request_timeout=TIMEOUT)

    assert json.loads(daily.value.body)["policyName"] == "DAILY"
    assert unavailable.value.status == 503
    assert json.loads(unavailable.value.body)["correlationId"]
    assert delayed.list.list_id == list_id
    assert sandbox.requests()[-1]["at"] - sandbox.requests()[-2]["at"] >= 0.2


def test_search_has_its_own_five_per_second_limit_without_rate_headers(
    sandbox: HubSpotSandbox,
) -> None:
    api = _client(sandbox).crm.contacts.search_api
    answers = []
    for _ in range(6):
        try:
            answers.append(api.do_search(PublicObjectSearchRequest(limit=1)).total)
        except ContactsApiException as exc:
            answers.append(json.loads(exc.body)["policyName"])
            headers = exc.headers

    assert answers == [0, 0, 0, 0, 0, "SECONDLY"]
    assert "X-HubSpot-RateLimit-Remaining" not in headers
    assert sandbox.stats()["by_endpoint"]["contacts.search"] == 6


def test_search_refuses_to_page_past_10000_results(sandbox: HubSpotSandbox) -> None:
    with pytest.raises(ContactsApiException) as caught:
        _client(sandbox).crm.contacts.search_api.do_search(
            PublicObjectSearchRequest(limit=20, after="9990")
        )

    assert caught.value.status == 400


def test_files_upload_is_201_and_the_url_serves_the_bytes(
    sandbox: HubSpotSandbox, tmp_path: Path
) -> None:
    picture = tmp_path / "upload.png"
    picture.write_bytes(PNG)
    api = _client(sandbox).files.files_api
    options = json.dumps({"access": "PUBLIC_NOT_INDEXABLE", "overwrite": False})

    first = api.upload(
        file=str(picture),
        folder_path="/creator-avatars",
        file_name="alice.png",
        options=options,
        _request_timeout=TIMEOUT,
    )
    second = api.upload(
        file=str(picture), folder_path="/creator-avatars", file_name="alice.png", options=options
    )
    fetched = httpx.get(first.url)

    assert first is not None and first.path == "/creator-avatars/alice.png"
    assert (first.access, first.extension, first.type, first.size) == (
        "PUBLIC_NOT_INDEXABLE",
        "png",
        "IMG",
        len(PNG),
    )
    assert second.path == "/creator-avatars/alice-1.png" and second.id != first.id
    assert fetched.status_code == 200 and fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"
    assert api.get_by_id(first.id).url == first.url
    assert [f["data"] for f in sandbox.uploaded_files()] == [PNG, PNG]


def test_files_overwrite_keeps_the_id_and_return_existing_dedupes(
    sandbox: HubSpotSandbox, tmp_path: Path
) -> None:
    picture = tmp_path / "upload.png"
    picture.write_bytes(PNG)
    api = _client(sandbox).files.files_api

    def upload(name: str, **options: object) -> object:
        encoded = json.dumps({"access": "PUBLIC_NOT_INDEXABLE", **options})
        return api.upload(file=str(picture), folder_path="/a", file_name=name, options=encoded)

    first = upload("x.png")
    replaced = upload("x.png", overwrite=True)
    existing = upload("y.png", duplicateValidationStrategy="RETURN_EXISTING")

    assert replaced.id == first.id  # type: ignore[attr-defined]
    assert existing.id == first.id  # type: ignore[attr-defined]
    assert len(sandbox.uploaded_files()) == 1


def test_files_upload_requires_options_access_and_private_files_are_not_served(
    sandbox: HubSpotSandbox, tmp_path: Path
) -> None:
    picture = tmp_path / "upload.png"
    picture.write_bytes(PNG)
    api = _client(sandbox).files.files_api

    with pytest.raises(FilesApiException) as caught:
        api.upload(file=str(picture), folder_path="/a", options="{}")
    private = api.upload(file=str(picture), folder_path="/a", options='{"access": "PRIVATE"}')

    assert caught.value.status == 400
    assert httpx.get(private.url).status_code == 404


def test_control_routes_seed_data_and_report_stats(sandbox: HubSpotSandbox) -> None:
    control = httpx.Client(base_url=f"{sandbox.url}/_sandbox")
    ids = control.post("/contacts", json={"contacts": [{"email": "a@example.com"}]}).json()["ids"]
    list_id = control.post("/lists", json={"name": "Demo", "memberIds": ids}).json()["listId"]
    control.patch(f"/contacts/{ids[0]}", json={"properties": {"firstname": "Ann"}})
    control.post("/faults", json={"status": 500, "pathPrefix": "/crm/v3/lists"})

    with pytest.raises(ServiceException):
        _client(sandbox).crm.lists.lists_api.get_by_id(list_id)
    page = _client(sandbox).crm.lists.memberships_api.get_page(list_id)

    assert [r.record_id for r in page.results] == ids
    assert control.get(f"/contacts/{ids[0]}").json()["firstname"] == "Ann"
    assert control.get("/stats").json()["by_endpoint"] == {
        "lists.get": 1,
        "memberships.get_page": 1,
    }
    assert control.delete("/stats").status_code == 204
    assert control.get("/requests").json() == []
    assert control.post("/reset").status_code == 204
    assert control.get(f"/contacts/{ids[0]}").status_code == 404
    control.close()
