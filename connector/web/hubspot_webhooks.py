"""Flask blueprint receiving HubSpot app webhooks and workflow "Send a webhook" calls."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from connector.sources.hubspot.signature import (
    InvalidSignatureError,
    verify_v1,
    verify_v2,
    verify_v3,
)

log = logging.getLogger(__name__)

bp = Blueprint("hubspot_webhooks", __name__, url_prefix="/webhooks/hubspot")

CREATION = frozenset({"contact.creation", "contact.restore", "object.creation", "object.restore"})
PROPERTY_CHANGE = frozenset({"contact.propertyChange", "object.propertyChange"})
# Changes made through an app's token arrive with one of these sources.
APP_SOURCES = frozenset({"INTEGRATION", "API", "APP"})
SECRET_HEADERS = ("X-Connector-Secret", "X-Webhook-Secret")
ID_KEYS = ("objectId", "hs_object_id", "canonical-vid", "vid", "recordId", "contact_id", "id")


def _fail(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"ok": False, "error": message, "status": status}), status


def _services() -> Any:
    return current_app.extensions["connector"]


def _hubspot_sources() -> list[tuple[str, Any]]:
    sources = getattr(_services(), "sources", None) or {}
    return [
        (name, src.settings)
        for name, src in sources.items()
        if getattr(src, "kind", None) == "hubspot"
        or getattr(getattr(src, "settings", None), "type", None) == "hubspot"
    ]


def _read_body() -> bytes | None:
    # The app refuses larger bodies up front (any transfer encoding); this guards direct use.
    body = request.get_data(cache=True)
    return None if len(body) > _services().settings.web.max_body_bytes else body


def get_public_uri() -> str:
    """The URL HubSpot called: ``public_base_url`` + raw path and query, else the request URL."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        query = request.query_string.decode("latin-1")
        raw = request.script_root + request.path + (f"?{query}" if query else "")
    if raw.startswith(("http://", "https://")):
        return raw
    base = _services().settings.public_base_url
    if base:
        return base.rstrip("/") + raw
    return request.host_url.rstrip("/") + raw


def _secret(value: Any) -> str | None:
    text = value.get_secret_value() if value is not None else ""
    return text or None


def _verify_signature(body: bytes, *, versions: list[str], setting: str) -> None:
    hubspot = _services().settings.hubspot
    client_secret = _secret(hubspot.client_secret)
    headers = request.headers
    if client_secret is None:
        raise InvalidSignatureError("hubspot.client_secret is not configured")
    given = "v3" if "X-HubSpot-Signature-v3" in headers else None
    given = given or headers.get("X-HubSpot-Signature-Version", "v1").lower()
    if given not in versions:
        raise InvalidSignatureError(
            f"{given} signatures are not accepted here (hubspot.{setting} lists "
            f"{', '.join(versions)}): sign with X-HubSpot-Signature-v3 and "
            "X-HubSpot-Request-Timestamp"
        )
    if given == "v3":
        verify_v3(
            headers["X-HubSpot-Signature-v3"],
            client_secret=client_secret,
            method=request.method,
            uri=get_public_uri(),
            body=body,
            timestamp=headers.get("X-HubSpot-Request-Timestamp"),
        )
    elif given == "v2":
        verify_v2(
            headers.get("X-HubSpot-Signature"),
            client_secret=client_secret,
            method=request.method,
            uri=get_public_uri(),
            body=body,
        )
    elif given == "v1":
        verify_v1(headers.get("X-HubSpot-Signature"), client_secret=client_secret, body=body)
    else:
        raise InvalidSignatureError(f"unsupported signature version {given!r}")


def _check_shared_secret() -> bool:
    """True when the workflow's shared-secret header matches; raises when it is wrong."""
    shared = _secret(_services().settings.hubspot.workflow_secret)
    if shared is None:
        return False
    headers = request.headers
    given = next((headers[h] for h in SECRET_HEADERS if h in headers), None)
    auth = headers.get("Authorization", "")
    given = given or (auth[7:] if auth.startswith("Bearer ") else None)
    if given is None:
        return False
    if hmac.compare_digest(given.encode(), shared.encode()):
        return True
    raise InvalidSignatureError("shared secret does not match")


def _authenticate(*, workflow: bool) -> tuple[bytes | None, tuple[Response, int] | None]:
    body = _read_body()
    if body is None:
        return None, _fail(413, "request body too large")
    hubspot = _services().settings.hubspot
    setting = "workflow_webhook_signatures" if workflow else "app_webhook_signatures"
    versions = list(
        hubspot.workflow_webhook_signatures if workflow else hubspot.app_webhook_signatures
    )
    try:
        if not (workflow and _check_shared_secret()):
            _verify_signature(body, versions=versions, setting=setting)
    except InvalidSignatureError as exc:
        log.warning("hubspot webhook rejected: %s", exc)
        return None, _fail(401, f"invalid HubSpot signature: {exc}")
    return body, None


def _event_key(event: dict[str, Any]) -> str:
    parts = [
        event.get(k)
        for k in ("portalId", "subscriptionId", "objectId", "propertyName", "occurredAt", "eventId")
    ]
    return "hubspot:event:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _is_echo(event: dict[str, Any]) -> bool:
    if str(event.get("changeSource", "")).upper() not in APP_SOURCES:
        return False
    app_id, source_id = str(event.get("appId", "")), str(event.get("sourceId", ""))
    return bool(app_id) and source_id.rpartition(":")[2] == app_id


def _targets(event: dict[str, Any], sources: Iterable[tuple[str, Any]]) -> list[str]:
    kind = str(event.get("subscriptionType") or event.get("eventType") or "")
    if kind.startswith("object.") and str(event.get("objectTypeId", "0-1")) != "0-1":
        return []
    if kind in CREATION:
        return [name for name, _ in sources]
    if kind in PROPERTY_CHANGE and not _is_echo(event):
        # The handle, platform or (for sources identifying by it) e-mail changed, or a human
        # typed retry into the status.
        prop = event.get("propertyName")
        return [name for name, s in sources if prop in _watched(s)]
    return []


def _watched(settings: Any) -> tuple[Any, ...]:
    """The properties whose change may make a contact of this source pending."""
    email = settings.email_property if settings.identify_by != "handle" else None
    return (
        settings.handle_property,
        getattr(settings, "platform_property", None),
        settings.status_property,
        email,
    )


def store_hints(events: list[tuple[str, dict[str, list[str]]]]) -> set[str]:
    """Remember the events and store their hints and poll requests in one transaction.

    Returns the keys of the events seen for the first time. Raises when the store fails, so
    HubSpot gets an error and delivers again: nothing was remembered, nothing is lost.
    """
    return set(_services().store.save_event_hints(events))


@bp.post("")
def receive_app_webhook() -> tuple[Response, int]:
    """App webhooks: a signed JSON array of up to 100 events; answered 200 once persisted."""
    body, failure = _authenticate(workflow=False)
    if failure is not None or body is None:
        return failure or _fail(401, "unauthenticated")
    try:
        payload = json.loads(body or b"[]")
    except ValueError:
        return _fail(400, "body is not JSON")
    if isinstance(payload, dict) and "subscriptionType" not in payload:
        return _handle_workflow(payload, body)
    events = payload if isinstance(payload, list) else [payload]
    sources = _hubspot_sources()
    hinted: list[tuple[str, dict[str, list[str]]]] = []
    for event in events:
        targets = _targets(event, sources) if isinstance(event, dict) else []
        if targets and event.get("objectId") is not None:
            record_id = str(event["objectId"])
            hinted.append((_event_key(event), {name: [record_id] for name in targets}))
    accepted = len(store_hints(hinted))
    return jsonify({"ok": True, "accepted": accepted, "skipped": len(events) - accepted}), 200


@bp.post("/workflow")
def receive_workflow_webhook() -> tuple[Response, int]:
    """Workflow "Send a webhook": v2/v3 signature or the shared secret; default or custom body."""
    body, failure = _authenticate(workflow=True)
    if failure is not None or body is None:
        return failure or _fail(401, "unauthenticated")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return _fail(400, "body is not JSON")
    if not isinstance(payload, dict):
        return _fail(400, "expected a JSON object with the contact (e.g. hs_object_id)")
    return _handle_workflow(payload, body)


def get_workflow_contact_id(payload: dict[str, Any]) -> str | None:
    """Find the enrolled contact's id in a default or customised workflow body."""
    properties = payload.get("properties")
    scopes = [payload, properties if isinstance(properties, dict) else {}]
    for scope in scopes:
        for key in ID_KEYS:
            value = scope.get(key)
            if isinstance(value, dict):
                value = value.get("value")
            if value not in (None, "") and str(value).strip().isdigit():
                return str(value).strip()
    return None


def _handle_workflow(payload: dict[str, Any], body: bytes) -> tuple[Response, int]:
    contact_id = get_workflow_contact_id(payload)
    if contact_id is None:
        return _fail(400, "no contact id in the body (include hs_object_id or objectId)")
    wanted = request.args.get("source")
    sources = [(n, s) for n, s in _hubspot_sources() if wanted in (None, n)]
    key = "hubspot:workflow:" + hashlib.sha256(body).hexdigest()
    if not sources or not store_hints([(key, {name: [contact_id] for name, _ in sources})]):
        return jsonify({"ok": True, "accepted": 0, "skipped": 1}), 200
    return jsonify({"ok": True, "accepted": 1, "skipped": 0}), 200
