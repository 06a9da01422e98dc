"""Contact object routes of the HubSpot sandbox: batch read/update/create/upsert, paging, search."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, request

from connector.sandbox.hubspot_common import (
    NOT_FOUND_MESSAGE,
    ApiError,
    get_iso,
    get_now,
    json_response,
    parse_batch_inputs,
    parse_bool,
    parse_int_arg,
    parse_object_body,
)
from connector.sandbox.hubspot_state import Contact, Portal, get_portal

bp = Blueprint("contacts", __name__)
UNIQUE_ID_PROPERTIES = ("hs_object_id", "email")
SEARCH_CAP = 10_000


def _batch_body(
    status: int, results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str | None
) -> Response:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": get_iso(get_now()),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    return json_response(body, status)


def _not_found(ids: list[str], trace_id: str | None = None) -> dict[str, Any]:
    context: dict[str, list[str]] = {"ids": ids}
    if trace_id is not None:
        context["objectWriteTraceId"] = [trace_id]
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": NOT_FOUND_MESSAGE,
        "context": context,
    }


def _check_id_property(id_property: Any) -> str | None:
    if id_property is None:
        return None
    if id_property not in UNIQUE_ID_PROPERTIES:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"Unable to perform update/upsert by non-unique 0-1 property {id_property}",
        )
    return str(id_property)


def _with_history(portal: Portal, contact: Contact, rendered: dict[str, Any], names: Any) -> None:
    if not isinstance(names, list) or not names:
        return
    history: dict[str, list[dict[str, Any]]] = {}
    for name in names:
        if name in portal.properties:
            value = portal.select_values(contact, [name]).get(name)
            history[name] = (
                []
                if value is None
                else [
                    {"value": value, "timestamp": get_iso(contact.updated_at), "sourceType": "API"}
                ]
            )
    rendered["propertiesWithHistory"] = history


@bp.post("/crm/v3/objects/contacts/batch/read", endpoint="batch_read")
def batch_read() -> Response:
    """Read up to 100 contacts; 207 with one ``OBJECT_NOT_FOUND`` error naming missing ids."""
    portal = get_portal()
    started = get_iso(get_now())
    archived = parse_bool(request.args.get("archived"))
    body = parse_object_body()
    inputs = parse_batch_inputs(body)
    id_property = body.get("idProperty")
    names = body.get("properties") or None
    results: list[dict[str, Any]] = []
    missing: list[str] = []
    for key in dict.fromkeys(str(item.get("id")) for item in inputs):
        contact = portal.find_contact(key, id_property, archived=archived)
        if contact is None:
            missing.append(key)
            continue
        rendered = portal.render_contact(contact, names)
        _with_history(portal, contact, rendered, body.get("propertiesWithHistory"))
        results.append(rendered)
    errors = [_not_found(missing)] if missing else []
    return _batch_body(207 if errors else 200, results, errors, started)


@bp.post("/crm/v3/objects/contacts/batch/update", endpoint="batch_update")
def batch_update() -> Response:
    """Update up to 100 contacts; 400 on any invalid value, 207 for unknown or merged ids."""
    portal = get_portal()
    started = get_iso(get_now())
    inputs = parse_batch_inputs(parse_object_body())
    seen: set[str] = set()
    duplicates = []
    for item in inputs:
        _check_id_property(item.get("idProperty"))
        key = str(item.get("id"))
        if key in seen:
            duplicates.append(key)
        seen.add(key)
    if duplicates:
        raise ApiError(400, "VALIDATION_ERROR", f"Duplicate IDs found in batch input: {duplicates}")
    checked = [portal.check_values(item.get("properties") or {}) for item in inputs]
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with portal.lock:
        for item, values in zip(inputs, checked, strict=True):
            trace = item.get("objectWriteTraceId")
            contact = portal.find_contact(str(item.get("id")), item.get("idProperty"))
            if contact is None:
                errors.append(_not_found([str(item.get("id"))], trace))
                continue
            portal.update_contact(contact, values)
            results.append(portal.render_contact(contact, values.keys(), trace))
    return _batch_body(207 if errors else 200, results, errors, started)


@bp.post("/crm/v3/objects/contacts/batch/create", endpoint="batch_create")
def batch_create() -> Response:
    """Create up to 100 contacts; a duplicate email is 409, or 207 when every input is traced."""
    portal = get_portal()
    started = get_iso(get_now())
    inputs = parse_batch_inputs(parse_object_body())
    checked = [portal.check_values(item.get("properties") or {}) for item in inputs]
    all_traced = all(item.get("objectWriteTraceId") is not None for item in inputs)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with portal.lock:
        for item, values in zip(inputs, checked, strict=True):
            email = values.get("email")
            existing = portal.find_contact(email, "email") if email else None
            if existing is not None:
                message = f"Contact already exists. Existing ID: {existing.id}"
                if not all_traced:
                    raise ApiError(409, "CONFLICT", message)
                errors.append(
                    {
                        "status": "error",
                        "category": "CONFLICT",
                        "message": message,
                        "context": {"objectWriteTraceId": [str(item["objectWriteTraceId"])]},
                    }
                )
                continue
            contact = portal.create_contact(values)
            results.append(
                portal.render_contact(contact, values.keys(), item.get("objectWriteTraceId"))
            )
    return _batch_body(207 if errors else 201, results, errors, started)


@bp.post("/crm/v3/objects/contacts/batch/upsert", endpoint="batch_upsert")
def batch_upsert() -> Response:
    """Create or update up to 100 contacts by a unique property (``email``)."""
    portal = get_portal()
    started = get_iso(get_now())
    inputs = parse_batch_inputs(parse_object_body())
    for item in inputs:
        if _check_id_property(item.get("idProperty")) is None:
            raise ApiError(400, "VALIDATION_ERROR", "idProperty is required for upsert")
    checked = [portal.check_values(item.get("properties") or {}) for item in inputs]
    results: list[dict[str, Any]] = []
    with portal.lock:
        for item, values in zip(inputs, checked, strict=True):
            key, id_property = str(item.get("id")), str(item["idProperty"])
            contact = portal.find_contact(key, id_property)
            if contact is None:
                seeded = values if id_property == "hs_object_id" else {**values, id_property: key}
                contact, new = portal.create_contact(seeded), True
            else:
                portal.update_contact(contact, values)
                new = False
            rendered = portal.render_contact(contact, values.keys(), item.get("objectWriteTraceId"))
            results.append({**rendered, "new": new})
    return _batch_body(200, results, [], started)


@bp.get("/crm/v3/objects/contacts", endpoint="get_page")
def get_page() -> Response:
    """Page through contacts by ascending id; ``after`` is the next record id."""
    portal = get_portal()
    limit = parse_int_arg("limit", 10)
    if not 1 <= limit <= 100:
        raise ApiError(400, "VALIDATION_ERROR", f"limit must be between 1 and 100, got {limit}")
    after = parse_int_arg("after", 0)
    archived = parse_bool(request.args.get("archived"))
    names = request.args.getlist("properties") or None
    with portal.lock:
        pool = [
            c
            for c in sorted(portal.contacts.values(), key=lambda c: c.id)
            if (c.archived_at is not None) == archived and c.id >= after
        ]
        page = [portal.render_contact(c, names) for c in pool[:limit]]
    body: dict[str, Any] = {"results": page}
    if len(pool) > limit:
        next_after = str(pool[limit].id)
        body["paging"] = {
            "next": {
                "after": next_after,
                "link": f"{request.host_url}crm/v3/objects/contacts?after={next_after}",
            }
        }
    return json_response(body)


@bp.get("/crm/v3/objects/contacts/<contact_id>", endpoint="get")
def get_by_id(contact_id: str) -> Response:
    """One contact; a merged-away id resolves to the surviving record."""
    portal = get_portal()
    id_property = request.args.get("idProperty")
    archived = parse_bool(request.args.get("archived"))
    with portal.lock:
        if id_property is None and contact_id.isdigit():
            contact_id = str(portal.merged_into.get(int(contact_id), contact_id))
        contact = portal.find_contact(contact_id, id_property, archived=archived)
        if contact is None:
            raise ApiError(
                404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric."
            )
        return json_response(
            portal.render_contact(contact, request.args.getlist("properties") or None)
        )


def _matches(contact_values: dict[str, str | None], flt: dict[str, Any]) -> bool:
    value = contact_values.get(str(flt.get("propertyName")))
    operator = flt.get("operator", "EQ")
    target = flt.get("value")
    if operator == "HAS_PROPERTY":
        return value is not None
    if operator == "NOT_HAS_PROPERTY":
        return value is None
    if operator in ("IN", "NOT_IN"):
        options = {str(v).lower() for v in flt.get("values") or []}
        inside = value is not None and value.lower() in options
        return inside if operator == "IN" else not inside
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(target or "").lower().strip("*")
        inside = value is not None and token in value.lower()
        return inside if operator == "CONTAINS_TOKEN" else not inside
    if operator == "NEQ":
        return value is None or value.lower() != str(target).lower()
    if value is None:
        return False
    if operator == "EQ":
        return value.lower() == str(target).lower()
    left, right, high = _numeric(value), _numeric(target), _numeric(flt.get("highValue"))
    comparisons = {
        "GT": lambda: left > right,
        "GTE": lambda: left >= right,
        "LT": lambda: left < right,
        "LTE": lambda: left <= right,
        "BETWEEN": lambda: right <= left <= high,
    }
    return operator in comparisons and comparisons[operator]()


def _numeric(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


@bp.post("/crm/v3/objects/contacts/search", endpoint="search")
def search() -> Response:
    """Filter groups are ORed, filters ANDed; 10k result cap; sorted by id unless told."""
    portal = get_portal()
    body = parse_object_body()
    limit = int(body.get("limit") or 10)
    after = int(body.get("after") or 0)
    if not 1 <= limit <= 200:
        raise ApiError(400, "VALIDATION_ERROR", f"limit must be between 1 and 200, got {limit}")
    if after + limit > SEARCH_CAP:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            "There was a problem with the request.",
            subCategory="PAGING_LIMIT",
        )
    groups = body.get("filterGroups") or []
    query = str(body.get("query") or "").lower()
    matched: list[Contact] = []
    for contact in portal.live_contacts():
        values = portal.all_values(contact)
        if groups and not any(
            all(_matches(values, f) for f in group.get("filters") or []) for group in groups
        ):
            continue
        if query and not any(
            query in (values.get(n) or "").lower() for n in ("email", "firstname", "lastname")
        ):
            continue
        matched.append(contact)
    for sort in reversed(body.get("sorts") or []):
        name = sort.get("propertyName", "hs_object_id") if isinstance(sort, dict) else str(sort)
        descending = isinstance(sort, dict) and sort.get("direction") == "DESCENDING"
        matched.sort(key=partial(_sort_key, portal, name=name), reverse=descending)
    page = matched[after : after + limit]
    result: dict[str, Any] = {
        "total": len(matched),
        "results": [portal.render_contact(c, body.get("properties") or None) for c in page],
    }
    if after + limit < len(matched):
        result["paging"] = {"next": {"after": str(after + limit)}}
    return json_response(result)


def _sort_key(portal: Portal, contact: Contact, *, name: str) -> tuple[int, float, str]:
    value = portal.select_values(contact, [name]).get(name) or ""
    number = _numeric(value)
    return (0, number, "") if number == number else (1, 0.0, value.lower())
