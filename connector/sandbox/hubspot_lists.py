"""Lists v3 routes of the HubSpot sandbox: lists by id/name, search, create, memberships paging."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from connector.sandbox.hubspot_common import (
    ApiError,
    get_iso,
    get_now,
    json_response,
    parse_bool,
    parse_int_arg,
    parse_json_body,
    parse_object_body,
)
from connector.sandbox.hubspot_state import ContactList, get_portal

lists_bp = Blueprint("lists", __name__)
memberships_bp = Blueprint("memberships", __name__)
MAX_PAGE = 250
DEFAULT_PAGE = 100


def _encode_cursor(key: tuple[Any, ...]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(token: str) -> tuple[Any, ...]:
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if (
            not isinstance(decoded, list)
            or not decoded
            or not all(isinstance(x, int) for x in decoded)
        ):
            raise ValueError(token)
        return tuple(decoded)
    except ValueError:
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid paging token '{token}'") from None


@lists_bp.get("/crm/v3/lists/<list_id>", endpoint="get")
def get_by_id(list_id: str) -> Response:
    """``{"list": PublicObjectList}`` or 404 ``OBJECT_NOT_FOUND``."""
    portal = get_portal()
    with portal.lock:
        found = portal.require_list(list_id)
        include = parse_bool(request.args.get("includeFilters"))
        return json_response({"list": portal.render_list(found, include)})


@lists_bp.get(
    "/crm/v3/lists/object-type-id/<object_type_id>/name/<path:list_name>", endpoint="get_by_name"
)
def get_by_name(object_type_id: str, list_name: str) -> Response:
    """A list by its case-insensitive name; only contact lists (``0-1``) exist here."""
    portal = get_portal()
    found = portal.find_list_by_name(list_name) if object_type_id == "0-1" else None
    if found is None:
        raise ApiError(
            404,
            "OBJECT_NOT_FOUND",
            f"List with name {list_name} and objectTypeId {object_type_id} does not exist.",
        )
    include = parse_bool(request.args.get("includeFilters"))
    return json_response({"list": portal.render_list(found, include)})


@lists_bp.get("/crm/v3/lists/", endpoint="get_all")
@lists_bp.get("/crm/v3/lists", endpoint="get_all_no_slash")
def get_all() -> Response:
    """Several lists by repeated ``listIds``; unknown ids are left out."""
    portal = get_portal()
    include = parse_bool(request.args.get("includeFilters"))
    with portal.lock:
        found = [portal.find_list(i) for i in request.args.getlist("listIds")]
        return json_response({"lists": [portal.render_list(f, include) for f in found if f]})


@lists_bp.post("/crm/v3/lists/", endpoint="create")
@lists_bp.post("/crm/v3/lists", endpoint="create_no_slash")
def create() -> Response:
    """Create a contact list; HubSpot answers 200 (not 201) here."""
    portal = get_portal()
    body = parse_object_body()
    if not body.get("name") or not body.get("processingType") or not body.get("objectTypeId"):
        raise ApiError(
            400, "VALIDATION_ERROR", "name, objectTypeId and processingType are required"
        )
    if body["objectTypeId"] != "0-1":
        raise ApiError(400, "VALIDATION_ERROR", f"Unsupported objectTypeId {body['objectTypeId']}")
    created = portal.create_list(
        str(body["name"]), str(body["processingType"]), body.get("filterBranch")
    )
    return json_response({"list": portal.render_list(created, True)})


@lists_bp.delete("/crm/v3/lists/<list_id>", endpoint="delete")
def delete(list_id: str) -> Response:
    """Soft-delete a list (204)."""
    portal = get_portal()
    with portal.lock:
        portal.require_list(list_id).deleted_at = get_now()
    return Response(status=204)


@lists_bp.post("/crm/v3/lists/search", endpoint="search")
def search() -> Response:
    """Search lists by name substring, ids and processing types with offset paging."""
    portal = get_portal()
    body = parse_object_body()
    offset = int(body.get("offset") or 0)
    count = int(body.get("count") or 20)
    if not 1 <= count <= 500:
        raise ApiError(400, "VALIDATION_ERROR", f"count must be between 1 and 500, got {count}")
    query = str(body.get("query") or "").lower()
    ids = {str(i) for i in body.get("listIds") or []}
    types = set(body.get("processingTypes") or [])
    with portal.lock:
        matched = [
            found
            for found in sorted(portal.lists.values(), key=lambda f: f.id)
            if found.deleted_at is None
            and query in found.name.lower()
            and (not ids or str(found.id) in ids)
            and (not types or found.processing_type in types)
        ]
        page = [_search_result(portal.render_list(f), f) for f in matched[offset : offset + count]]
    return json_response(
        {
            "lists": page,
            "offset": offset + len(page),
            "hasMore": offset + len(page) < len(matched),
            "total": len(matched),
        }
    )


def _search_result(rendered: dict[str, Any], found: ContactList) -> dict[str, Any]:
    size = rendered.pop("size")
    last_added = max(found.members.values(), default=None)
    rendered["additionalProperties"] = {
        "hs_list_size": str(size),
        "hs_last_record_added_at": str(int(last_added.timestamp() * 1000)) if last_added else None,
        "hs_last_record_removed_at": None,
        "hs_folder_name": None,
        "hs_list_reference_count": "0",
    }
    return rendered


def _membership_page(list_id: str, *, by_join_time: bool) -> Response:
    portal = get_portal()
    limit = parse_int_arg("limit", DEFAULT_PAGE)
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"limit must be between 1 and {MAX_PAGE} (inclusive), got {limit}",
        )
    after, before = request.args.get("after"), request.args.get("before")
    with portal.lock:
        found = portal.require_list(list_id)
        entries = sorted(
            (
                (_key(rid, joined, by_join_time), rid, joined)
                for rid, joined in found.members.items()
            ),
            key=lambda entry: entry[0],
        )
    if after:
        cursor = _decode_cursor(after)
        window = [e for e in entries if e[0] > cursor][:limit]
    elif before:
        cursor = _decode_cursor(before)
        window = [e for e in reversed(entries) if e[0] < cursor][:limit]
    else:
        window = entries[:limit]
    body: dict[str, Any] = {
        "results": [
            {"recordId": str(rid), "membershipTimestamp": get_iso(joined)}
            for _, rid, joined in window
        ],
        "total": len(entries),
    }
    paging: dict[str, Any] = {}
    if window:
        ascending = not (before and not after)
        low, high = (window[0][0], window[-1][0]) if ascending else (window[-1][0], window[0][0])
        if any(e[0] > high for e in entries):
            token = _encode_cursor(high)
            paging["next"] = {
                "after": token,
                "link": f"{request.base_url}?after={token}&limit={limit}",
            }
        if any(e[0] < low for e in entries):
            paging["prev"] = {"before": _encode_cursor(low)}
    if paging:
        body["paging"] = paging
    return json_response(body)


def _key(record_id: int, joined: datetime, by_join_time: bool) -> tuple[Any, ...]:
    if by_join_time:
        return (int(joined.timestamp() * 1000), record_id)
    return (record_id,)


@memberships_bp.get("/crm/v3/lists/<list_id>/memberships", endpoint="get_page")
def get_page(list_id: str) -> Response:
    """Members ascending by record id (descending with only ``before``), opaque cursors."""
    return _membership_page(list_id, by_join_time=False)


@memberships_bp.get(
    "/crm/v3/lists/<list_id>/memberships/join-order", endpoint="get_page_join_order"
)
def get_page_join_order(list_id: str) -> Response:
    """Members ordered by the time they joined the list."""
    return _membership_page(list_id, by_join_time=True)


def _id_array() -> list[str]:
    body = parse_json_body()
    if not isinstance(body, list):
        raise ApiError(
            400, "VALIDATION_ERROR", "Invalid input JSON: expected an array of record ids"
        )
    return [str(i) for i in body]


def _manual_list(list_id: str) -> ContactList:
    found = get_portal().require_list(list_id)
    if found.processing_type not in ("MANUAL", "SNAPSHOT"):
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"List {list_id} is a {found.processing_type} list; memberships can only be changed "
            "on MANUAL or SNAPSHOT lists.",
        )
    return found


@memberships_bp.put("/crm/v3/lists/<list_id>/memberships/add", endpoint="add")
def add(list_id: str) -> Response:
    """Add record ids to a MANUAL/SNAPSHOT list."""
    ids = _id_array()
    return json_response(get_portal().change_members(_manual_list(list_id), add=ids))


@memberships_bp.put("/crm/v3/lists/<list_id>/memberships/remove", endpoint="remove")
def remove(list_id: str) -> Response:
    """Remove record ids from a MANUAL/SNAPSHOT list."""
    ids = _id_array()
    return json_response(get_portal().change_members(_manual_list(list_id), remove=ids))


@memberships_bp.put("/crm/v3/lists/<list_id>/memberships/add-and-remove", endpoint="add_and_remove")
def add_and_remove(list_id: str) -> Response:
    """Add and remove in one call."""
    body = parse_object_body()
    return json_response(
        get_portal().change_members(
            _manual_list(list_id),
            add=[str(i) for i in body.get("recordIdsToAdd") or []],
            remove=[str(i) for i in body.get("recordIdsToRemove") or []],
        )
    )
