"""``/_sandbox`` control routes mirroring ``HubSpotSandbox``'s Python API for the demo and curl."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any, cast

from flask import Blueprint, Response, current_app

from connector.sandbox.hubspot_common import ApiError, json_response, parse_object_body

if TYPE_CHECKING:
    from connector.sandbox.hubspot import HubSpotSandbox

bp = Blueprint("sandbox", __name__, url_prefix="/_sandbox")


def _sandbox() -> HubSpotSandbox:
    return cast("HubSpotSandbox", current_app.extensions["hubspot_sandbox"])


def _run(action: Any) -> Any:
    try:
        return action()
    except (KeyError, ValueError) as exc:
        status = 404 if isinstance(exc, KeyError) else 400
        raise ApiError(status, "SANDBOX", str(exc.args[0] if exc.args else exc)) from None


@bp.post("/contacts")
def create_contacts() -> Response:
    """Body ``{"contacts": [{prop: value}]}`` → ``{"ids": [...]}``."""
    body = parse_object_body()
    ids = _run(lambda: _sandbox().create_contacts(list(body.get("contacts") or [])))
    return json_response({"ids": ids}, 201)


@bp.get("/contacts/<contact_id>")
def get_contact(contact_id: str) -> Response:
    """All properties of one contact."""
    return json_response(_run(lambda: _sandbox().get_contact(contact_id)))


@bp.patch("/contacts/<contact_id>")
def set_properties(contact_id: str) -> Response:
    """Body ``{"properties": {name: value-or-null}}``: a human edit."""
    body = parse_object_body()
    for name, value in (body.get("properties") or {}).items():
        _run(lambda n=name, v=value: _sandbox().set_property(contact_id, n, v))
    return json_response(_run(lambda: _sandbox().get_contact(contact_id)))


@bp.delete("/contacts/<contact_id>")
def delete_contact(contact_id: str) -> Response:
    """Archive a contact."""
    _run(lambda: _sandbox().delete_contact(contact_id))
    return Response(status=204)


@bp.post("/contacts/merge")
def merge_contacts() -> Response:
    """Body ``{"primaryId": ..., "mergedId": ...}``."""
    body = parse_object_body()
    _run(lambda: _sandbox().merge_contacts(str(body["primaryId"]), str(body["mergedId"])))
    return Response(status=204)


@bp.post("/lists")
def create_list() -> Response:
    """Body ``{"name", "processingType"?, "memberIds"?}`` → ``{"listId"}``."""
    body = parse_object_body()
    list_id = _run(
        lambda: _sandbox().create_list(
            str(body["name"]),
            processing_type=str(body.get("processingType", "MANUAL")),
            member_ids=[str(i) for i in body.get("memberIds") or []],
        )
    )
    return json_response({"listId": list_id}, 201)


@bp.post("/lists/<list_id>/<action>")
def change_members(list_id: str, action: str) -> Response:
    """``add`` or ``remove`` with body ``{"ids": [...]}``."""
    ids = [str(i) for i in parse_object_body().get("ids") or []]
    if action == "add":
        _run(lambda: _sandbox().add_members(list_id, ids))
    elif action == "remove":
        _run(lambda: _sandbox().remove_members(list_id, ids))
    else:
        raise ApiError(404, "SANDBOX", f"unknown list action {action!r}")
    return Response(status=204)


@bp.delete("/lists/<list_id>")
def delete_list(list_id: str) -> Response:
    """Delete a list."""
    _run(lambda: _sandbox().delete_list(list_id))
    return Response(status=204)


@bp.get("/properties")
def properties() -> Response:
    """All property definitions by name."""
    return json_response(_sandbox().properties())


@bp.post("/properties")
def create_property() -> Response:
    """Body ``{"name", "type"?, "fieldType"?, "groupName"?, "label"?, "options"?}``."""
    body = parse_object_body()
    _run(
        lambda: _sandbox().create_property(
            str(body["name"]),
            type=str(body.get("type", "string")),
            field_type=str(body.get("fieldType", "text")),
            group=str(body.get("groupName", "contactinformation")),
            label=body.get("label"),
            options=body.get("options"),
        )
    )
    return json_response(_sandbox().properties()[str(body["name"])], 201)


@bp.post("/faults")
def inject_faults() -> Response:
    """Body ``{"status", "count"?, "policy"?, "pathPrefix"?, "delay"?}``."""
    body = parse_object_body()
    _sandbox().inject_faults(
        int(body["status"]),
        int(body.get("count", 1)),
        policy=str(body.get("policy", "TEN_SECONDLY_ROLLING")),
        path_prefix=body.get("pathPrefix"),
        delay=float(body.get("delay", 0.0)),
    )
    return Response(status=204)


@bp.get("/stats")
def stats() -> Response:
    """Request counters."""
    return json_response(_sandbox().stats())


@bp.delete("/stats")
def reset_stats() -> Response:
    """Zero the counters and the request log."""
    _sandbox().reset_stats()
    return Response(status=204)


@bp.get("/requests")
def requests_log() -> Response:
    """The request log."""
    return json_response(_sandbox().requests())


@bp.get("/files")
def files() -> Response:
    """Uploaded files, bytes base64-encoded."""
    listed = [
        {**f, "data": base64.b64encode(f["data"]).decode()} for f in _sandbox().uploaded_files()
    ]
    return json_response(listed)


@bp.post("/webhooks")
def fire_webhooks() -> Response:
    """Body ``{"targetUrl", "events"? | "contactIds" + "subscriptionType"?, "propertyName"?,
    "propertyValue"?, "style"?, "signatureVersion"?, "publicUrl"?, "maxRetries"?}``."""
    body = parse_object_body()
    sandbox = _sandbox()
    events = body.get("events")
    if events is None:
        events = sandbox.build_contact_events(
            [str(i) for i in body.get("contactIds") or []],
            str(body.get("subscriptionType", "contact.creation")),
            body.get("propertyName"),
            body.get("propertyValue"),
            str(body.get("style", "legacy")),
        )
    statuses = sandbox.fire_webhook(
        str(body["targetUrl"]),
        list(events),
        signature_version=str(body.get("signatureVersion", "v3")),
        public_url=body.get("publicUrl"),
        max_retries=int(body.get("maxRetries", 0)),
    )
    return json_response({"statuses": statuses, "events": len(events)})


@bp.post("/reset")
def reset() -> Response:
    """Forget all data, faults and counters."""
    _sandbox().reset()
    return Response(status=204)
