"""Loopback alert receivers: a Slack incoming-webhook emulator and a generic webhook endpoint."""

from __future__ import annotations

import json
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from connector.sandbox.server import ServedSandbox

SLACK_PATH = "/services/T0SANDBOX/B0SANDBOX/sandboxsandboxsandbox"
WEBHOOK_PATH = "/hooks/alerts"

# The HTTP status Slack pairs with each incoming-webhook error string.
SLACK_ERROR_STATUS = {
    "invalid_payload": 400,
    "no_text": 400,
    "user_not_found": 400,
    "too_many_attachments": 400,
    "invalid_token": 403,
    "action_prohibited": 403,
    "posting_to_general_channel_denied": 403,
    "team_disabled": 403,
    "no_service": 404,
    "no_service_id": 404,
    "no_team": 404,
    "channel_not_found": 404,
    "channel_is_archived": 410,
    "rollup_error": 500,
}


class _Receiver(ServedSandbox):
    """Shared plumbing: a loopback server, a request log and a queue of canned failures."""

    def __init__(self, app: Flask, path: str, port: int) -> None:
        super().__init__(app, port=port)
        self.path = path
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []
        self._faults: deque[tuple[int, str, dict[str, str]]] = deque()

    @property
    def url(self) -> str:
        """The full URL to configure as the channel's endpoint."""
        return self.base_url + self.path

    def requests(self) -> list[dict[str, Any]]:
        """Every request received (accepted or not), oldest first."""
        with self._lock:
            return [dict(r) for r in self._received]

    def messages(self) -> list[dict[str, Any]]:
        """The accepted messages' JSON bodies, oldest first."""
        with self._lock:
            return [r["body"] for r in self._received if r["accepted"]]

    def clear(self) -> None:
        """Forget what was received and any queued failures."""
        with self._lock:
            self._received.clear()
            self._faults.clear()

    def _queue(self, status: int, body: str, headers: dict[str, str], count: int) -> None:
        with self._lock:
            self._faults.extend([(status, body, headers)] * count)

    def _next_fault(self) -> tuple[int, str, dict[str, str]] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _record(self, body: Any, status: int, **extra: Any) -> None:
        with self._lock:
            self._received.append(
                {
                    "received_at": datetime.now(UTC).isoformat(),
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                    "body": body,
                    "status": status,
                    "accepted": 200 <= status < 300,
                    **extra,
                }
            )


class SlackReceiver(_Receiver):
    """Answers like a Slack incoming webhook: ``200 ok``, error strings, or 429."""

    def __init__(self, *, port: int = 0) -> None:
        app = Flask("slack-receiver")
        app.add_url_rule(SLACK_PATH, "hook", self._handle, methods=["POST"])
        super().__init__(app, SLACK_PATH, port)

    def fail_next(self, error: str, count: int = 1, *, status: int | None = None) -> None:
        """Answer the next ``count`` posts with Slack's ``error`` string (e.g. ``no_service``)."""
        self._queue(status or SLACK_ERROR_STATUS.get(error, 400), error, {}, count)

    def rate_limit_next(self, count: int = 1, *, retry_after: int = 1) -> None:
        """Answer the next ``count`` posts with ``429`` and ``Retry-After``."""
        self._queue(429, "rate_limited", {"Retry-After": str(retry_after)}, count)

    def _handle(self) -> Response:
        raw = request.get_data(as_text=True)
        try:
            body = json.loads(raw)
        except ValueError:
            self._record(raw, 400)
            return Response("invalid_payload", 400, mimetype="text/plain")
        fault = self._next_fault()
        if fault is not None:
            status, text, headers = fault
            self._record(body, status)
            return Response(text, status, headers=headers, mimetype="text/plain")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            self._record(body, 400)
            return Response("no_text", 400, mimetype="text/plain")
        self._record(body, 200)
        return Response("ok", 200, mimetype="text/plain")


class WebhookReceiver(_Receiver):
    """A generic webhook endpoint that verifies Standard Webhooks signatures when given the
    secret (bad signatures get 401) and can be told to fail."""

    def __init__(self, *, secret: str | None = None, port: int = 0) -> None:
        app = Flask("webhook-receiver")
        app.add_url_rule(WEBHOOK_PATH, "hook", self._handle, methods=["POST"])
        super().__init__(app, WEBHOOK_PATH, port)
        self.secret = secret

    def fail_next(self, status: int, count: int = 1, *, retry_after: int | None = None) -> None:
        """Answer the next ``count`` posts with ``status`` (and ``Retry-After`` when given)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        self._queue(status, f"sandbox fault {status}", headers, count)

    def _handle(self) -> Response:
        raw = request.get_data(as_text=True)
        verified: bool | None = None
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(raw, dict(request.headers))
                verified = True
            except WebhookVerificationError as exc:
                self._record(_parse(raw), 401, verified=False, error=str(exc))
                return Response(json.dumps({"error": str(exc)}), 401, mimetype="application/json")
        fault = self._next_fault()
        if fault is not None:
            status, text, headers = fault
            self._record(_parse(raw), status, verified=verified)
            return Response(text, status, headers=headers, mimetype="text/plain")
        self._record(_parse(raw), 200, verified=verified)
        return Response(json.dumps({"ok": True}), 200, mimetype="application/json")


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
