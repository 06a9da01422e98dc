"""HubSpot sandbox webhooks: signatures checked by the library's Signature, batching, retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, request
from hubspot.utils.signature import Signature

from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.hubspot_webhooks import apply_v3_uri_decoding, build_signature
from connector.sandbox.server import LoopbackServer, serve_in_thread

DOCS_V1_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOCS_V1_BODY = (
    '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    '"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    '"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)


class Receiver:
    """A loopback webhook endpoint that records deliveries and answers queued statuses."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        app = Flask(__name__)
        app.add_url_rule("/hooks/hubspot", "hook", self._hook, methods=["POST"])
        self.server: LoopbackServer = serve_in_thread(app)

    def _hook(self) -> tuple[str, int]:
        with self._lock:
            self.deliveries.append(
                {"headers": dict(request.headers), "body": request.get_data(as_text=True)}
            )
            status = self.statuses.pop(0) if self.statuses else 204
        return "", status

    @property
    def url(self) -> str:
        return f"{self.server.url}/hooks/hubspot"


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.stop()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.deliveries.clear()
    receiver_server.statuses.clear()
    return receiver_server


@pytest.fixture(scope="module")
def sandbox() -> HubSpotSandbox:
    return HubSpotSandbox(client_secret="shh-secret")


def test_v1_signature_matches_hubspots_documented_example() -> None:
    ours = build_signature("v1", DOCS_V1_SECRET, DOCS_V1_BODY)

    assert ours.startswith("232db261") and ours.endswith("7de")
    assert ours == Signature.get_signature(DOCS_V1_SECRET, DOCS_V1_BODY, "v1")


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_v2_and_v3_signatures_match_the_librarys(version: str) -> None:
    uri = "https://example.com/hooks?x=1"

    ours = build_signature(version, "secret", "[]", uri=uri, timestamp="1700000000000")

    assert ours == Signature.get_signature(
        "secret", "[]", version, http_uri=uri, timestamp="1700000000000"
    )


def test_v3_uri_decoding_covers_exactly_the_documented_escapes() -> None:
    uri = "https://h.example/p%3Aa%2Fb%3F%40%21%24%27%28%29%2A%2C%3B?q=%20%2b%3a"

    assert apply_v3_uri_decoding(uri) == "https://h.example/p:a/b?@!$'()*,;?q=%20%2b%3a"


def test_v3_delivery_verifies_with_the_library_against_the_public_url(
    sandbox: HubSpotSandbox, receiver: Receiver
) -> None:
    public = "https://connector.example.com/hooks/hubspot?token=a%3Ab"
    events = sandbox.build_contact_events(["1001", "1002"])

    statuses = sandbox.fire_webhook(receiver.url, events, public_url=public)

    assert statuses == [204]
    (delivery,) = receiver.deliveries
    headers, body = delivery["headers"], delivery["body"]
    assert abs(int(headers["X-Hubspot-Request-Timestamp"]) - time.time() * 1000) < 5_000
    assert Signature.is_valid(
        headers["X-Hubspot-Signature-V3"],
        "shh-secret",
        body,
        http_uri=apply_v3_uri_decoding(public),
        signature_version="v3",
        timestamp=headers["X-Hubspot-Request-Timestamp"],
    )
    assert [e["objectId"] for e in json.loads(body)] == [1001, 1002]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_v1_and_v2_deliveries_verify_with_the_library(
    sandbox: HubSpotSandbox, receiver: Receiver, version: str
) -> None:
    sandbox.fire_webhook(
        receiver.url, sandbox.build_contact_events(["1001"]), signature_version=version
    )

    (delivery,) = receiver.deliveries
    headers = delivery["headers"]
    assert headers["X-Hubspot-Signature-Version"] == version
    assert Signature.is_valid(
        headers["X-Hubspot-Signature"],
        "shh-secret",
        delivery["body"],
        http_uri=receiver.url,
        signature_version=version,
    )


def test_more_than_100_events_are_split_into_batches(
    sandbox: HubSpotSandbox, receiver: Receiver
) -> None:
    events = sandbox.build_contact_events([str(1000 + i) for i in range(250)])

    statuses = sandbox.fire_webhook(receiver.url, events)

    assert statuses == [204, 204, 204]
    assert [len(json.loads(d["body"])) for d in receiver.deliveries] == [100, 100, 50]


def test_failed_deliveries_are_retried_with_attempt_number_incremented(
    sandbox: HubSpotSandbox, receiver: Receiver
) -> None:
    receiver.statuses[:] = [500, 429]

    statuses = sandbox.fire_webhook(
        receiver.url, sandbox.build_contact_events(["1001"]), max_retries=3
    )

    assert statuses == [500, 429, 204]
    attempts = [json.loads(d["body"])[0]["attemptNumber"] for d in receiver.deliveries]
    assert attempts == [0, 1, 2]
    event_ids = {json.loads(d["body"])[0]["eventId"] for d in receiver.deliveries}
    assert len(event_ids) == 1


def test_unreachable_targets_report_status_zero(sandbox: HubSpotSandbox) -> None:
    statuses = sandbox.fire_webhook("http://127.0.0.1:9/hook", [{"objectId": 1}], max_retries=1)

    assert statuses == [0, 0]


def test_property_change_events_in_legacy_and_object_styles(sandbox: HubSpotSandbox) -> None:
    sandbox.create_property("instagram_handle")
    (contact_id,) = sandbox.create_contacts([{"instagram_handle": "@neo"}])

    legacy = sandbox.build_contact_events(
        [contact_id], "contact.propertyChange", property_name="instagram_handle"
    )
    modern = sandbox.build_contact_events(
        [contact_id], "contact.propertyChange", "instagram_handle", "@trinity", style="object"
    )

    assert legacy[0]["subscriptionType"] == "contact.propertyChange"
    assert legacy[0]["propertyValue"] == "@neo" and "objectTypeId" not in legacy[0]
    assert modern[0]["subscriptionType"] == "object.propertyChange"
    assert (modern[0]["objectTypeId"], modern[0]["propertyValue"]) == ("0-1", "@trinity")
    for event in (*legacy, *modern):
        assert {"eventId", "subscriptionId", "portalId", "appId", "occurredAt"} <= set(event)
        assert (event["portalId"], event["appId"], event["objectId"]) == (
            12345,
            777,
            int(contact_id),
        )
        assert event["attemptNumber"] == 0 and event["changeSource"]


def test_the_control_route_builds_and_fires_signed_events(receiver: Receiver) -> None:
    with HubSpotSandbox(client_secret="shh-secret") as running:
        running.create_property("instagram_handle")
        ids = running.create_contacts([{"instagram_handle": "@a"}, {"instagram_handle": "@b"}])

        answer = httpx.post(
            f"{running.url}/_sandbox/webhooks",
            json={
                "targetUrl": receiver.url,
                "contactIds": ids,
                "subscriptionType": "contact.propertyChange",
                "propertyName": "instagram_handle",
                "signatureVersion": "v1",
            },
        ).json()

    assert answer == {"statuses": [204], "events": 2}
    (delivery,) = receiver.deliveries
    assert [e["propertyValue"] for e in json.loads(delivery["body"])] == ["@a", "@b"]
    assert delivery["headers"]["X-Hubspot-Signature"] == build_signature(
        "v1", "shh-secret", delivery["body"]
    )
