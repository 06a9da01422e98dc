"""A loopback HubSpot emulator that the real ``hubspot-api-client`` talks to unmodified."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from connector.sandbox import (
    hubspot_control,
    hubspot_crm,
    hubspot_files,
    hubspot_lists,
    hubspot_properties,
)
from connector.sandbox.hubspot_common import (
    AUTH_MESSAGE,
    ApiError,
    error_response,
    get_now,
    json_response,
)
from connector.sandbox.hubspot_files import FileStore
from connector.sandbox.hubspot_state import Portal
from connector.sandbox.hubspot_traffic import Fault, Traffic
from connector.sandbox.hubspot_webhooks import build_contact_events, fire_webhook
from connector.sandbox.server import LoopbackServer

T = TypeVar("T")
_UNTRACKED_BLUEPRINTS = ("sandbox", "hubfs")
_RATE_LIMIT_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "DAILY": "You have reached your daily limit.",
    "SECONDLY": "You have reached your secondly limit.",
}
_FAULT_CATEGORIES = {
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    423: "LOCKED",
    477: "MIGRATION_IN_PROGRESS",
}


def _is_api_request() -> bool:
    return request.blueprint not in _UNTRACKED_BLUEPRINTS and not request.path.startswith(
        "/_sandbox"
    )


def _rate_limited(sandbox: HubSpotSandbox, policy: str) -> Response:
    body = {
        "status": "error",
        "message": _RATE_LIMIT_MESSAGES.get(
            policy, f"You have reached your {policy.lower()} limit."
        ),
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "groupName": f"publicapi:app-private:{sandbox.app_id}:{sandbox.portal_id}",
    }
    headers = {} if policy == "SECONDLY" else sandbox.rate_headers(0)
    return json_response(body, 429, headers)


def _fault_response(sandbox: HubSpotSandbox, fault: Fault) -> Response:
    if fault.status == 429:
        return _rate_limited(sandbox, fault.policy)
    category = _FAULT_CATEGORIES.get(
        fault.status, "INTERNAL_ERROR" if fault.status >= 500 else "ERROR"
    )
    error = ApiError(fault.status, category, f"Injected fault: HTTP {fault.status}")
    # 477 Migration in Progress is the one HubSpot answer documented to carry Retry-After.
    return error_response(error, {"Retry-After": "1"} if fault.status == 477 else None)


def create_app(sandbox: HubSpotSandbox) -> Flask:
    """The Flask app serving ``sandbox``'s portal on HubSpot's paths plus ``/_sandbox`` controls."""
    app = Flask(__name__)
    app.extensions["hubspot_sandbox"] = sandbox
    for blueprint in (
        hubspot_lists.lists_bp,
        hubspot_lists.memberships_bp,
        hubspot_crm.bp,
        hubspot_properties.bp,
        hubspot_files.bp,
        hubspot_files.hosting_bp,
        hubspot_control.bp,
    ):
        app.register_blueprint(blueprint)

    @app.before_request
    def check_request() -> Response | None:
        if not _is_api_request():
            return None
        if request.headers.get("Authorization", "") != f"Bearer {sandbox.access_token}":
            raise ApiError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)
        fault = sandbox.traffic.take_fault(request.path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status >= 400:
                return _fault_response(sandbox, fault)
        if request.endpoint == "contacts.search":
            return None if sandbox.traffic.admit_search() else _rate_limited(sandbox, "SECONDLY")
        admission = sandbox.traffic.admit()
        if not admission.allowed:
            return _rate_limited(sandbox, admission.policy)
        g.rate_remaining = admission.remaining
        return None

    @app.after_request
    def account(response: Response) -> Response:
        if not _is_api_request():
            return response
        if "rate_remaining" in g:
            response.headers.update(sandbox.rate_headers(g.rate_remaining))
        endpoint = (request.endpoint or "unknown").removesuffix("_no_slash")
        body = request.get_json(silent=True) if request.is_json else None
        sandbox.traffic.record(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string.decode(),
                "endpoint": endpoint,
                "status": response.status_code,
                "json": body,
                "headers": dict(request.headers),
                "at": time.time(),
            }
        )
        return response

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        category = "OBJECT_NOT_FOUND" if status == 404 else "VALIDATION_ERROR"
        return error_response(ApiError(status, category, error.description or error.name))

    return app


class HubSpotSandbox:
    """The HubSpot emulator plus a Python API to seed data, inject faults and fire webhooks."""

    def __init__(
        self,
        *,
        access_token: str = "pat-sandbox",
        client_secret: str = "sandbox-client-secret",
        limit: int = 100,
        interval: float = 10.0,
        portal_id: int = 12345,
        app_id: int = 777,
    ) -> None:
        self.access_token = access_token
        self.client_secret = client_secret
        self.portal_id = portal_id
        self.app_id = app_id
        self.portal = Portal(portal_id=portal_id)
        self.traffic = Traffic(limit=limit, interval=interval)
        self.files = FileStore(portal_id=portal_id)
        self.app = create_app(self)
        self._server: LoopbackServer | None = None

    def reset(self) -> None:
        """Forget every record, list, custom property, file, fault and counter; keep serving."""
        self.portal = Portal(portal_id=self.portal_id)
        self.traffic = Traffic(limit=self.traffic.limit, interval=self.traffic.interval)
        self.files = FileStore(portal_id=self.portal_id)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:53123``; pass it as both ``host`` and ``base_url``."""
        if self._server is None:
            raise RuntimeError("HubSpotSandbox not started")
        return self._server.url

    def start(self) -> HubSpotSandbox:
        """Serve on a free loopback port."""
        if self._server is None:
            self._server = LoopbackServer(self.app).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def rate_headers(self, remaining: int) -> dict[str, str]:
        """The ``X-HubSpot-RateLimit-*`` headers for a response."""
        return {
            "X-HubSpot-RateLimit-Max": str(self.traffic.limit),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.traffic.interval * 1000)),
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.traffic.daily_remaining()),
        }

    def create_contacts(self, contacts: list[dict[str, str]]) -> list[str]:
        """Create contacts (validated like the API); returns their ids in ascending order."""
        checked = [_checked(partial(self.portal.check_values, c)) for c in contacts]
        return [str(self.portal.create_contact(values).id) for values in checked]

    def set_property(self, contact_id: str, name: str, value: str | None) -> None:
        """Edit one property as a human in the UI would; ``None`` clears it."""
        values = _checked(lambda: self.portal.check_values({name: "" if value is None else value}))
        self.portal.update_contact(self.portal.require_contact(contact_id), values)

    def delete_contact(self, contact_id: str) -> None:
        """Archive a contact; it stays in lists, as HubSpot's membership lag allows."""
        self.portal.archive_contact(contact_id)

    def merge_contacts(self, primary_id: str, merged_id: str) -> None:
        """Merge ``merged_id`` into ``primary_id``; the merged id then reads as not found."""
        self.portal.merge_contacts(primary_id, merged_id)

    def get_contact(self, contact_id: str) -> dict[str, str | None]:
        """Every property of a contact (live or archived), ``None`` where unset."""
        contact = self.portal.find_contact(contact_id) or self.portal.find_contact(
            contact_id, archived=True
        )
        if contact is None:
            raise KeyError(f"no contact {contact_id}")
        return self.portal.all_values(contact)

    def create_list(
        self, name: str, *, processing_type: str = "MANUAL", member_ids: Iterable[str] = ()
    ) -> str:
        """Create a list of any processing type with initial members; returns its ILS id."""
        created = _checked(lambda: self.portal.create_list(name, processing_type))
        self.portal.change_members(created, add=member_ids)
        return str(created.id)

    def add_members(self, list_id: str, ids: Iterable[str]) -> None:
        """Add members (any list type: this is HubSpot re-evaluating or a UI edit)."""
        self.portal.change_members(_checked(lambda: self.portal.require_list(list_id)), add=ids)

    def remove_members(self, list_id: str, ids: Iterable[str]) -> None:
        """Remove members from a list."""
        self.portal.change_members(_checked(lambda: self.portal.require_list(list_id)), remove=ids)

    def delete_list(self, list_id: str) -> None:
        """Delete a list; the API then answers 404 for it."""
        with self.portal.lock:
            found = _checked(lambda: self.portal.require_list(list_id))
            found.deleted_at = found.updated_at = get_now()

    def create_property(
        self,
        name: str,
        *,
        type: str = "string",
        field_type: str = "text",
        group: str = "contactinformation",
        label: str | None = None,
        options: list[dict[str, Any]] | None = None,
    ) -> None:
        """Define a contact property (creating ``group`` when missing)."""
        with self.portal.lock:
            if group not in self.portal.groups:
                self.portal.create_group({"name": group, "label": group})
            spec = {
                "name": name,
                "label": label or name,
                "type": type,
                "fieldType": field_type,
                "groupName": group,
                "options": options or [],
            }
            _checked(lambda: self.portal.create_property(spec))

    def properties(self) -> dict[str, dict[str, Any]]:
        """Every contact property definition by name (``ModelProperty`` JSON)."""
        with self.portal.lock:
            return {name: dict(definition) for name, definition in self.portal.properties.items()}

    def inject_faults(
        self,
        status: int,
        count: int = 1,
        *,
        policy: str = "TEN_SECONDLY_ROLLING",
        path_prefix: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``count`` matching API requests with ``status`` after ``delay`` s.

        A status below 400 only delays the request, which is then served normally.
        """
        self.traffic.add_faults(Fault(status, policy, path_prefix, delay), count)

    def stats(self) -> dict[str, Any]:
        """``{"requests": n, "by_endpoint": {"lists.get": n, ...}, "http_429": n}``."""
        return self.traffic.stats()

    def reset_stats(self) -> None:
        """Zero the counters and the request log."""
        self.traffic.reset()

    def requests(self) -> list[dict[str, Any]]:
        """Every API request since the last reset: method, path, query, endpoint, status, json."""
        return self.traffic.requests()

    def fire_webhook(
        self,
        target_url: str,
        events: list[dict[str, Any]],
        *,
        signature_version: str = "v3",
        public_url: str | None = None,
        max_retries: int = 0,
    ) -> list[int]:
        """Sign and POST ``events`` (≤100 per request); returns every attempt's status."""
        return fire_webhook(
            target_url,
            events,
            client_secret=self.client_secret,
            signature_version=signature_version,
            public_url=public_url,
            max_retries=max_retries,
        )

    def build_contact_events(
        self,
        contact_ids: Iterable[str],
        subscription_type: str = "contact.creation",
        property_name: str | None = None,
        property_value: str | None = None,
        style: str = "legacy",
    ) -> list[dict[str, Any]]:
        """Contact events; a property change without a value carries the contact's current one."""

        def current(contact_id: str) -> str | None:
            if property_value is not None or property_name is None:
                return property_value
            contact = self.portal.find_contact(contact_id)
            return None if contact is None else self.portal.all_values(contact).get(property_name)

        return build_contact_events(
            contact_ids,
            subscription_type,
            portal_id=self.portal_id,
            app_id=self.app_id,
            property_name=property_name,
            property_value=current,
            style="object" if style in ("object", "new") else style,
        )

    def uploaded_files(self) -> list[dict[str, Any]]:
        """Every uploaded file: the ``File`` JSON plus ``data`` (bytes) and ``content_type``."""
        base = self.url if self._server is not None else "http://127.0.0.1"
        return [
            {**self.files.render(f, base), "data": f.data, "content_type": f.content_type}
            for f in self.files.all()
        ]


def _checked(action: Callable[[], T]) -> T:
    """Run ``action`` and turn a sandbox ``ApiError`` into ``ValueError`` for Python callers."""
    try:
        return action()
    except ApiError as exc:
        raise ValueError(exc.message) from None
