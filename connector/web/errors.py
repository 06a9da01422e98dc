"""Errors: the one JSON shape (`{"ok": false, "error": …, "status": N}`) for API clients, an
HTML page for browsers (content negotiation on ``Accept``), and the app's error handlers."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request, url_for
from jinja2 import TemplateNotFound
from werkzeug.exceptions import HTTPException, SecurityError
from werkzeug.routing import BuildError

from connector.errors import ConnectorError, RetryableError

log = logging.getLogger(__name__)

HOST_MESSAGE = (
    "unknown host: this app answers only the host of public_base_url, localhost and the names "
    "in web.trusted_hosts"
)

_MESSAGES = {
    400: "bad request",
    401: "authentication required",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}


def wants_html() -> bool:
    """True when the client prefers HTML to JSON (a browser navigating), by its ``Accept``."""
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


def error_response(status: int, message: str | None = None) -> Response:
    """An error in the one JSON shape every endpoint uses, or as a page for a browser."""
    text = message or _MESSAGES.get(status, "error")
    if wants_html():
        try:
            page = render_template(
                "error.html", status=status, message=text, home=url_for("dashboard.index")
            )
        except (TemplateNotFound, BuildError):
            pass  # an app without the dashboard (a test's bare blueprint): JSON it is
        else:
            return Response(page, status=status, mimetype="text/html")
    response = jsonify({"ok": False, "error": text, "status": status})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer every HTTP error and uncaught exception with the JSON error shape."""

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException) -> Response:
        if isinstance(exc.response, Response):
            return exc.response
        if isinstance(exc, SecurityError):
            host = request.headers.get("Host", "")[:100]
            log.info("request for an untrusted host refused", extra={"host": host})
            return error_response(400, HOST_MESSAGE)
        status = exc.code or 500
        # werkzeug's descriptions are HTML-flavoured prose; keep the terse, stable message.
        response = error_response(status, _MESSAGES.get(status, exc.name.lower()))
        if status == 405 and (allowed := exc.get_headers()):
            for name, value in allowed:
                if name.lower() == "allow":
                    response.headers["Allow"] = value
        return response

    @app.errorhandler(ConnectorError)
    def handle_connector_error(exc: ConnectorError) -> Response:
        status = 503 if isinstance(exc, RetryableError) else 500
        log.warning("request failed: %s", exc)
        return error_response(status, str(exc).splitlines()[0][:300])

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        log.exception("unhandled error in the web app")
        return error_response(500)
