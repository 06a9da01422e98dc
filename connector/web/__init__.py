"""The Flask application factory: settings → services → blueprints, auth and JSON errors."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, request

from connector.config import Settings, load_settings
from connector.services import Services, build_services
from connector.web import api, dashboard, health, hubspot_webhooks, media, sheets_webhooks
from connector.web.auth import build_secret_key, log_access_rule
from connector.web.context import install_services
from connector.web.errors import register_error_handlers

__all__ = ["create_app", "get_blueprints"]


def get_blueprints() -> list[Blueprint]:
    """Every blueprint the app serves (add new ones here, e.g. media rehosting)."""

    return [
        health.bp,
        hubspot_webhooks.bp,
        sheets_webhooks.bp,
        media.bp,
        api.bp,
        dashboard.bp,
    ]


def _refuse_large_bodies() -> None:
    # Flask only enforces MAX_CONTENT_LENGTH when a view reads the body; refuse up front.
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        abort(413)


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Build the web app; loads settings and builds services when not given (never at import).

    The scheduler never runs here: it lives in the ``connector worker`` process.
    """
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
        SESSION_COOKIE_NAME="connector_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=urlsplit(settings.public_base_url or "").scheme == "https",
        PERMANENT_SESSION_LIFETIME=timedelta(days=7),
    )
    install_services(app, services)
    register_error_handlers(app)
    app.before_request(_refuse_large_bodies)
    for blueprint in get_blueprints():
        app.register_blueprint(blueprint)
    log_access_rule(settings)
    return app
