"""The HubSpot webhook blueprint: signatures, body shapes, dedupe, echoes and what gets enqueued."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.config import Settings
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.server import LoopbackServer
from connector.sources.hubspot.signature import build_v1, build_v2, build_v3
from connector.store import Store
from connector.web.hubspot_webhooks import bp, get_workflow_contact_id

SECRET = "sandbox-client-secret"
SHARED = "workflow-shared-secret"
BASE = "https://connector.example.com"
APP_ID = 777


def build_settings(**overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "public_base_url": BASE,
        "hubspot": {"client_secret": SECRET, "workflow_secret": SHARED},
        "web": {"max_body_bytes": 65536},
        "sources": [
            {"name": "leads", "type": "hubspot", "list": "42", "handle_property": "ig"},
            {"name": "vip", "type": "hubspot", "list": "43", "handle_property": "tiktok"},
        ],
    }
    data.update(overrides)
    return Settings.model_validate(data)


@pytest.fixture
def store(sqlite_url: str) -> Store:
    return Store.open(sqlite_url)


def build_client(store: Store, settings: Settings | None = None) -> FlaskClient:
    settings = settings or build_settings()
    app = Flask("test")
    sources = {
        s.name: SimpleNamespace(kind="hubspot", name=s.name, settings=s) for s in settings.sources
    }
    app.extensions["connector"] = SimpleNamespace(settings=settings, store=store, sources=sources)
    app.register_blueprint(bp)
    return app.test_client()


def event(object_id: int = 1001, **extra: Any) -> dict[str, Any]:
    base = {
        "eventId": object_id * 10,
        "subscriptionId": 5,
        "portalId": 12345,
        "appId": APP_ID,
        "occurredAt": 1_700_000_000_000,
        "subscriptionType": "contact.creation",
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM_UI",
    }
    return {**base, **extra}


def post_v3(
    client: FlaskClient,
    events: Any,
    *,
    path: str = "/webhooks/hubspot",
    secret: str = SECRET,
    ts: int | None = None,
    signed_uri: str | None = None,
) -> Any:
    body = json.dumps(events).encode()
    timestamp = str(ts if ts is not None else int(time.time() * 1000))
    signature = build_v3(secret, "POST", signed_uri or BASE + path, body, timestamp)
    headers = {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp}
    return client.post(path, data=body, headers=headers, content_type="application/json")


def enqueued(store: Store, source: str = "leads") -> list[str]:
    return store.take_record_hints(source)


def test_signed_creation_events_are_hinted_to_every_hubspot_source(store: Store) -> None:
    response = post_v3(build_client(store), [event(1001), event(1002)])
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "accepted": 2, "skipped": 0}
    assert enqueued(store, "leads") == ["1001", "1002"]
    assert enqueued(store, "vip") == ["1001", "1002"]
    assert store.take_poll_requests() == {"leads", "vip"}


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"secret": "wrong-secret"}, "does not match"),
        ({"ts_offset": -400}, "old"),
        ({"ts_offset": 120}, "future"),
        ({"signed_uri": "http://internal:8000/webhooks/hubspot"}, "does not match"),
    ],
)
def test_bad_or_stale_signatures_get_401_and_enqueue_nothing(
    store: Store, kwargs: dict[str, Any], reason: str
) -> None:
    # Timestamps are taken when the test runs, not at collection, or a slow suite ages them.
    if "ts_offset" in kwargs:
        kwargs = {"ts": int((time.time() + kwargs.pop("ts_offset")) * 1000)}
    response = post_v3(build_client(store), [event()], **kwargs)
    assert response.status_code == 401
    payload = response.get_json()
    assert payload["ok"] is False and payload["status"] == 401 and reason in payload["error"]
    assert enqueued(store) == []
    assert store.take_poll_requests() == set()


def test_tampered_body_is_rejected(store: Store) -> None:
    client = build_client(store)
    ts = str(int(time.time() * 1000))
    signature = build_v3(SECRET, "POST", BASE + "/webhooks/hubspot", b"[]", ts)
    response = client.post(
        "/webhooks/hubspot",
        data=json.dumps([event()]),
        headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": ts},
    )
    assert response.status_code == 401
    assert enqueued(store) == []


def test_unsigned_request_is_rejected(store: Store) -> None:
    response = build_client(store).post("/webhooks/hubspot", json=[event()])
    assert response.status_code == 401


def test_redeliveries_are_deduplicated(store: Store) -> None:
    client = build_client(store)
    assert post_v3(client, [event(1001)]).get_json()["accepted"] == 1
    enqueued(store)
    store.take_poll_requests()
    retry = post_v3(client, [event(1001, attemptNumber=1)])
    assert retry.status_code == 200
    assert retry.get_json() == {"ok": True, "accepted": 0, "skipped": 1}
    assert enqueued(store) == []
    assert store.take_poll_requests() == set()


@pytest.mark.parametrize(
    ("extra", "leads", "vip"),
    [
        ({"subscriptionType": "contact.propertyChange", "propertyName": "ig"}, ["1001"], []),
        ({"subscriptionType": "contact.propertyChange", "propertyName": "tiktok"}, [], ["1001"]),
        # a human typed retry into the status: every source reading that status looks again
        (
            {"subscriptionType": "contact.propertyChange", "propertyName": "ic_status"},
            ["1001"],
            ["1001"],
        ),
        (
            {
                "subscriptionType": "contact.propertyChange",
                "propertyName": "ic_status",
                "changeSource": "INTEGRATION",
                "sourceId": str(APP_ID),
            },
            [],
            [],
        ),
        (
            {
                "subscriptionType": "object.propertyChange",
                "objectTypeId": "0-1",
                "propertyName": "ig",
                "sourceId": "userId:1",
            },
            ["1001"],
            [],
        ),
        ({"subscriptionType": "object.creation", "objectTypeId": "0-1"}, ["1001"], ["1001"]),
        ({"subscriptionType": "object.creation", "objectTypeId": "0-3"}, [], []),
        ({"subscriptionType": "contact.deletion"}, [], []),
        (
            {
                "subscriptionType": "contact.propertyChange",
                "propertyName": "ig",
                "changeSource": "INTEGRATION",
                "sourceId": str(APP_ID),
            },
            [],
            [],
        ),
        (
            {
                "subscriptionType": "object.propertyChange",
                "objectTypeId": "0-1",
                "propertyName": "ig",
                "changeSource": "INTEGRATION",
                "sourceId": f"app:{APP_ID}",
            },
            [],
            [],
        ),
        (
            {
                "subscriptionType": "contact.propertyChange",
                "propertyName": "ig",
                "changeSource": "INTEGRATION",
                "sourceId": "999",
            },
            ["1001"],
            [],
        ),
    ],
)
def test_event_kinds_and_echoes_route_to_the_right_sources(
    store: Store, extra: dict[str, Any], leads: list[str], vip: list[str]
) -> None:
    response = post_v3(build_client(store), [event(1001, **extra)])
    assert response.status_code == 200
    assert enqueued(store, "leads") == leads
    assert enqueued(store, "vip") == vip


def test_skipped_only_batches_still_get_200(store: Store) -> None:
    events = [event(i, subscriptionType="contact.deletion") for i in range(1, 101)]
    response = post_v3(build_client(store), events)
    assert response.status_code == 200
    assert response.get_json()["skipped"] == 100


def test_query_string_uri_with_encoded_characters_verifies(store: Store) -> None:
    path = "/webhooks/hubspot?tag=a%3Ab%2Fc&x=%2520"
    signed = BASE + "/webhooks/hubspot?tag=a:b/c&x=%2520"
    response = post_v3(build_client(store), [event()], path=path, signed_uri=signed)
    assert response.status_code == 200, response.get_json()


def test_without_public_base_url_the_request_url_is_used(store: Store) -> None:
    client = build_client(store, build_settings(public_base_url=None))
    uri = "http://localhost/webhooks/hubspot"
    assert post_v3(client, [event()], signed_uri=uri).status_code == 200


def test_v1_signed_app_webhooks_need_the_setting(store: Store) -> None:
    body = json.dumps([event(1005)]).encode()
    headers = {"X-HubSpot-Signature": build_v1(SECRET, body), "X-HubSpot-Signature-Version": "v1"}
    refused = build_client(store).post("/webhooks/hubspot", data=body, headers=headers)
    assert refused.status_code == 401
    assert "hubspot.app_webhook_signatures" in refused.get_json()["error"]
    hubspot = {"client_secret": SECRET, "app_webhook_signatures": ["v3", "v1"]}
    legacy = build_client(store, build_settings(hubspot=hubspot))
    response = legacy.post("/webhooks/hubspot", data=body, headers=headers)
    assert response.status_code == 200
    assert enqueued(store) == ["1005"]


def test_oversized_bodies_are_refused(store: Store) -> None:
    events = [event(i) for i in range(100)]
    client = build_client(store, build_settings(web={"max_body_bytes": 2048}))
    response = post_v3(client, events)
    assert response.status_code == 413
    assert enqueued(store) == []


DEFAULT_WORKFLOW_BODY = {
    "vid": 1007,
    "canonical-vid": 1007,
    "portal-id": 12345,
    "properties": {
        "ig": {"value": "@creator", "versions": [{"value": "@creator", "timestamp": 1}]},
        "hs_object_id": {"value": "1007"},
    },
}


def test_workflow_default_body_with_v2_signature_is_hinted(store: Store) -> None:
    body = json.dumps(DEFAULT_WORKFLOW_BODY).encode()
    path = "/webhooks/hubspot/workflow"
    signature = build_v2(SECRET, "POST", BASE + path, body)
    response = build_client(store).post(
        path,
        data=body,
        headers={"X-HubSpot-Signature": signature, "X-HubSpot-Signature-Version": "v2"},
    )
    assert response.status_code == 200
    assert enqueued(store, "leads") == ["1007"]


def test_workflow_custom_body_with_shared_secret_targets_one_source(store: Store) -> None:
    client = build_client(store)
    response = client.post(
        "/webhooks/hubspot/workflow?source=vip",
        json={"hs_object_id": "1008", "tiktok": "someone"},
        headers={"X-Connector-Secret": SHARED},
    )
    assert response.status_code == 200
    assert enqueued(store, "vip") == ["1008"]
    assert enqueued(store, "leads") == []


@pytest.mark.parametrize(
    "headers",
    [{"X-Connector-Secret": "nope"}, {"Authorization": "Bearer nope"}, {}],
)
def test_workflow_with_a_wrong_secret_is_401(store: Store, headers: dict[str, str]) -> None:
    response = build_client(store).post(
        "/webhooks/hubspot/workflow", json={"hs_object_id": "1"}, headers=headers
    )
    assert response.status_code == 401
    assert enqueued(store) == []


def test_workflow_redelivery_is_deduplicated(store: Store) -> None:
    client = build_client(store)
    headers = {"Authorization": f"Bearer {SHARED}"}
    for _ in range(2):
        response = client.post(
            "/webhooks/hubspot/workflow", json={"objectId": 1009}, headers=headers
        )
        assert response.status_code == 200
    assert enqueued(store) == ["1009"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (DEFAULT_WORKFLOW_BODY, "1007"),
        ({"objectId": 12}, "12"),
        ({"id": "13", "properties": {"ig": "x"}}, "13"),
        ({"properties": {"hs_object_id": "14"}}, "14"),
        ({"email": "a@b.c"}, None),
    ],
)
def test_workflow_contact_id_is_found_in_every_body_shape(
    body: dict[str, Any], expected: str | None
) -> None:
    assert get_workflow_contact_id(body) == expected


def test_workflow_body_without_a_contact_id_is_a_400(store: Store) -> None:
    response = build_client(store).post(
        "/webhooks/hubspot/workflow",
        json={"email": "a@b.c"},
        headers={"X-Connector-Secret": SHARED},
    )
    assert response.status_code == 400
    assert response.get_json()["ok"] is False


@pytest.mark.parametrize("style", ["legacy", "object"])
def test_sandbox_deliveries_over_http_behind_a_proxy(store: Store, style: str) -> None:
    settings = build_settings()
    app = Flask("live")
    sources = {s.name: SimpleNamespace(kind="hubspot", settings=s) for s in settings.sources}
    app.extensions["connector"] = SimpleNamespace(settings=settings, store=store, sources=sources)
    app.register_blueprint(bp)
    path = "/webhooks/hubspot?tag=a%3Ab%20c"
    with HubSpotSandbox() as sandbox, LoopbackServer(app) as server:
        events = sandbox.build_contact_events(["1001", "1002"], style=style)
        events += sandbox.build_contact_events(
            ["1003"], "contact.propertyChange", property_name="ig", property_value="@x", style=style
        )
        statuses = sandbox.fire_webhook(server.url + path, events, public_url=BASE + path)
        assert statuses == [200]
        assert enqueued(store, "leads") == ["1001", "1002", "1003"]
        assert enqueued(store, "vip") == ["1001", "1002"]
        assert sandbox.fire_webhook(server.url + path, events, public_url=BASE + path) == [200]
        assert enqueued(store, "leads") == []
        wrong = sandbox.fire_webhook(server.url + path, events, public_url="https://other" + path)
        assert wrong == [401]
