"""HubSpot-style webhook deliveries: event payloads, v1/v2/v3 signatures, batching and retries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import httpx

MAX_EVENTS_PER_REQUEST = 100
DELIVERY_TIMEOUT = 5.0
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon"
# HubSpot decodes exactly these escapes before signing a v3 request URI.
_V3_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip


def apply_v3_uri_decoding(uri: str) -> str:
    """Decode exactly the (upper-case) escapes HubSpot's v3 signature scheme lists."""
    out: list[str] = []
    index = 0
    while index < len(uri):
        chunk = uri[index : index + 3]
        if chunk in _V3_DECODE:
            out.append(_V3_DECODE[chunk])
            index += 3
        else:
            out.append(uri[index])
            index += 1
    return "".join(out)


def build_signature(
    version: str,
    client_secret: str,
    body: str,
    *,
    method: str = "POST",
    uri: str = "",
    timestamp: str = "",
) -> str:
    """The signature HubSpot puts in the header for ``version`` (v1, v2 or v3)."""
    if version == "v1":
        return hashlib.sha256(f"{client_secret}{body}".encode()).hexdigest()
    if version == "v2":
        return hashlib.sha256(f"{client_secret}{method}{uri}{body}".encode()).hexdigest()
    if version == "v3":
        source = f"{method}{apply_v3_uri_decoding(uri)}{body}{timestamp}"
        digest = hmac.new(client_secret.encode(), source.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()
    raise ValueError(f"unknown signature version {version!r}")


def build_headers(
    version: str, client_secret: str, body: str, uri: str, *, now_ms: int | None = None
) -> dict[str, str]:
    """The request headers of one signed delivery."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if version == "v3":
        timestamp = str(int(time.time() * 1000) if now_ms is None else now_ms)
        headers["X-HubSpot-Signature-v3"] = build_signature(
            "v3", client_secret, body, uri=uri, timestamp=timestamp
        )
        headers["X-HubSpot-Request-Timestamp"] = timestamp
    else:
        headers["X-HubSpot-Signature"] = build_signature(version, client_secret, body, uri=uri)
        headers["X-HubSpot-Signature-Version"] = version
    return headers


def build_contact_events(
    contact_ids: Iterable[str],
    subscription_type: str,
    *,
    portal_id: int,
    app_id: int,
    property_name: str | None = None,
    property_value: Callable[[str], str | None] | str | None = None,
    style: str = "legacy",
) -> list[dict[str, Any]]:
    """Events in the legacy ``contact.*`` or the new-platform ``object.*`` form."""
    if style not in ("legacy", "object"):
        raise ValueError(f"style must be 'legacy' or 'object', not {style!r}")
    kind = subscription_type.split(".", 1)[-1]
    subscription = "object." + kind if style == "object" else "contact." + kind
    subscription_id = zlib.crc32(f"{app_id}:{subscription}:{property_name}".encode()) % 10_000_000
    now = int(time.time() * 1000)
    events: list[dict[str, Any]] = []
    for offset, contact_id in enumerate(contact_ids):
        event: dict[str, Any] = {
            "eventId": random.randrange(10**9, 10**10),
            "subscriptionId": subscription_id,
            "portalId": portal_id,
            "appId": app_id,
            "occurredAt": now + offset,
            "subscriptionType": subscription,
            "attemptNumber": 0,
            "objectId": int(contact_id),
            "changeSource": "CRM_UI",
        }
        if style == "object":
            event.update(objectTypeId="0-1", sourceId="userId:1", isSensitive=False)
        if kind == "propertyChange":
            value = property_value(str(contact_id)) if callable(property_value) else property_value
            event.update(propertyName=property_name, propertyValue=value)
        elif kind == "creation":
            event["changeFlag"] = "CREATED"
        events.append(event)
    return events


def fire_webhook(
    target_url: str,
    events: list[dict[str, Any]],
    *,
    client_secret: str,
    signature_version: str = "v3",
    public_url: str | None = None,
    max_retries: int = 0,
    client: httpx.Client | None = None,
) -> list[int]:
    """POST ``events`` in signed batches of up to 100, retrying non-2xx answers.

    Returns the status of every attempt in order; 0 stands for a connection failure or timeout.
    Each retry re-signs the batch with a fresh timestamp and ``attemptNumber`` incremented.
    """
    statuses: list[int] = []
    owned = client is None
    http = client or httpx.Client(timeout=DELIVERY_TIMEOUT)
    try:
        for start in range(0, len(events), MAX_EVENTS_PER_REQUEST):
            batch = events[start : start + MAX_EVENTS_PER_REQUEST]
            for attempt in range(max_retries + 1):
                payload = [{**event, "attemptNumber": attempt} for event in batch]
                body = json.dumps(payload, separators=(",", ":"))
                headers = build_headers(
                    signature_version, client_secret, body, public_url or target_url
                )
                try:
                    status = http.post(
                        target_url, content=body.encode(), headers=headers
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                statuses.append(status)
                if 200 <= status < 300:
                    break
    finally:
        if owned:
            http.close()
    return statuses
