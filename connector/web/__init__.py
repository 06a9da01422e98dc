"""The Flask application factory: settings → services → blueprints, auth and JSON errors."""

from __future__ import annotations

import io
import os
import sys
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, request
from gunicorn.errors import AppImportError
from werkzeug.middleware.proxy_fix import ProxyFix

from connector.config import Settings, load_settings
from connector.errors import ConnectorError, format_error
from connector.services import Services, build_services
from connector.web import (
    api,
    api_actions,
    dashboard,
    forms,
    health,
    hubspot_webhooks,
    media,
    pages,
    run_pages,
    sheets_webhooks,
)
from connector.web.auth import build_secret_key
from connector.web.context import install_services
from connector.web.errors import register_error_handlers
from connector.web.exposure import check_exposure, get_gunicorn_hosts, is_gunicorn
from connector.web.hosts import build_trusted_hosts
from connector.web.throttle import install_throttle

__all__ = ["create_app", "get_blueprints"]

_READ_SIZE = 65536
# Modules whose routes hang off the api and dashboard blueprints (imported for those routes).
VIEW_MODULES = (api_actions, dashboard, forms, run_pages)


def get_blueprints() -> list[Blueprint]:
    """Every blueprint the app serves (add new ones here, e.g. media rehosting)."""

    return [
        health.bp,
        hubspot_webhooks.bp,
        sheets_webhooks.bp,
        media.bp,
        api.bp,
        pages.bp,
    ]


def read_bounded_body() -> None:
    """Refuse a body over ``MAX_CONTENT_LENGTH`` with 413 up front, whatever its encoding.

    A ``Content-Length`` is compared at once. A chunked body has none, and werkzeug would
    silently cut it at the limit, so it is read here, up to one byte past the limit, and handed
    to the views as if it had been sent with a length.
    """
    limit = request.max_content_length
    if limit is None:
        return
    length = request.content_length
    if length is not None:
        if length > limit:
            abort(413)
        return
    environ = request.environ
    if "wsgi.input_terminated" not in environ:
        return
    body = bytearray()
    while chunk := environ["wsgi.input"].read(min(_READ_SIZE, limit + 1 - len(body))):
        body += chunk
        if len(body) > limit:
            abort(413)
    environ["wsgi.input"] = io.BytesIO(bytes(body))
    environ["CONTENT_LENGTH"] = str(len(body))


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the web app; loads settings and builds services when not given (never at import).

    The scheduler never runs here: it lives in the ``connector worker`` process. Under gunicorn
    a configuration problem is one ``error: …`` line and gunicorn stops ("App failed to load",
    exit 4) instead of printing a traceback for every worker.
    """
    try:
        return _build_app(settings, services)
    except ConnectorError as exc:
        if not is_gunicorn(os.environ):
            raise
        raise AppImportError(format_error(exc)) from exc


def _build_app(settings: Settings | None, services: Services | None) -> Flask:
    if services is not None:
        settings = services.settings
    elif settings is None:
        settings = load_settings()
    if services is None:
        services = build_services(settings)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(
        SECRET_KEY=build_secret_key(settings),
        MAX_CONTENT_LENGTH=settings.web.max_body_bytes,
        TRUSTED_HOSTS=build_trusted_hosts(settings),
        SESSION_COOKIE_NAME="connector_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=urlsplit(settings.public_base_url or "").scheme == "https",
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
    )
    if settings.web.trusted_proxies:
        hops = settings.web.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops)  # type: ignore[method-assign]
    install_services(app, services)
    register_error_handlers(app)
    app.before_request(read_bounded_body)
    install_throttle(app, settings, [api.bp, pages.bp])
    for blueprint in get_blueprints():
        app.register_blueprint(blueprint)
    if is_gunicorn(os.environ):
        check_exposure(settings, get_gunicorn_hosts(sys.argv, os.environ))
    return app
