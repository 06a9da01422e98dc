"""Contact property and property-group routes of the HubSpot sandbox (create answers 201)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from connector.sandbox.hubspot_common import (
    ApiError,
    get_iso,
    get_now,
    json_response,
    parse_batch_inputs,
    parse_object_body,
)
from connector.sandbox.hubspot_state import get_portal

bp = Blueprint("properties", __name__)


def _check_object_type(object_type: str) -> None:
    if object_type not in ("contacts", "contact", "0-1"):
        raise ApiError(400, "VALIDATION_ERROR", f"Unable to infer object type from: {object_type}")


@bp.get("/crm/v3/properties/<object_type>", endpoint="get_all")
def get_all(object_type: str) -> Response:
    """All contact properties."""
    _check_object_type(object_type)
    portal = get_portal()
    with portal.lock:
        return json_response({"results": list(portal.properties.values())})


@bp.get("/crm/v3/properties/<object_type>/<property_name>", endpoint="get")
def get_by_name(object_type: str, property_name: str) -> Response:
    """One property or 404."""
    _check_object_type(object_type)
    portal = get_portal()
    with portal.lock:
        found = portal.properties.get(property_name)
        if found is None:
            raise ApiError(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property {property_name} for object type 0-1",
            )
        return json_response(found)


@bp.post("/crm/v3/properties/<object_type>", endpoint="create")
def create(object_type: str) -> Response:
    """Create a property: 201, 409 on a duplicate, 400 on an unknown group or a bad type pair."""
    _check_object_type(object_type)
    return json_response(get_portal().create_property(parse_object_body()), 201)


@bp.post("/crm/v3/properties/<object_type>/batch/create", endpoint="batch_create")
def batch_create(object_type: str) -> Response:
    """Create several properties: 201, or 207 with per-input errors."""
    _check_object_type(object_type)
    portal = get_portal()
    started = get_iso(get_now())
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for spec in parse_batch_inputs(parse_object_body()):
        try:
            results.append(portal.create_property(spec))
        except ApiError as exc:
            errors.append(
                {
                    "status": "error",
                    "category": exc.category,
                    "message": exc.message,
                    "context": {"name": [str(spec.get("name"))]},
                }
            )
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": get_iso(get_now()),
    }
    if errors:
        body.update(numErrors=len(errors), errors=errors)
    return json_response(body, 207 if errors else 201)


@bp.post("/crm/v3/properties/<object_type>/batch/read", endpoint="batch_read")
def batch_read(object_type: str) -> Response:
    """Read several properties by name: 200, or 207 naming the missing ones."""
    _check_object_type(object_type)
    portal = get_portal()
    started = get_iso(get_now())
    names = [str(i.get("name")) for i in parse_batch_inputs(parse_object_body())]
    with portal.lock:
        results = [portal.properties[n] for n in names if n in portal.properties]
    missing = [n for n in names if n not in portal.properties]
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": get_iso(get_now()),
    }
    if missing:
        body.update(
            numErrors=1,
            errors=[
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not find some properties",
                    "context": {"names": missing},
                }
            ],
        )
    return json_response(body, 207 if missing else 200)


@bp.get("/crm/v3/properties/<object_type>/groups", endpoint="groups_get_all")
def groups_get_all(object_type: str) -> Response:
    """All contact property groups."""
    _check_object_type(object_type)
    portal = get_portal()
    with portal.lock:
        return json_response({"results": list(portal.groups.values())})


@bp.get("/crm/v3/properties/<object_type>/groups/<group_name>", endpoint="groups_get")
def groups_get(object_type: str, group_name: str) -> Response:
    """One property group or 404."""
    _check_object_type(object_type)
    portal = get_portal()
    with portal.lock:
        found = portal.groups.get(group_name)
        if found is None:
            raise ApiError(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property group {group_name} for object type 0-1",
            )
        return json_response(found)


@bp.post("/crm/v3/properties/<object_type>/groups", endpoint="groups_create")
def groups_create(object_type: str) -> Response:
    """Create a property group: 201, 409 on a duplicate name."""
    _check_object_type(object_type)
    return json_response(get_portal().create_group(parse_object_body()), 201)
