"""The dashboard blueprint: who may see its pages, its template filters and form helpers.

Its views live in ``dashboard.py`` (status page, sign-in), ``forms.py`` (buttons) and
``run_pages.py`` (a run's records); they all hang off ``bp`` here, behind one sign-in gate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from connector.web.auth import (
    NO_CREDENTIALS,
    check_csrf,
    check_headers,
    check_session,
    check_token,
    get_token,
    has_basic_auth,
    is_auth_configured,
    is_local_access,
    start_session,
)
from connector.web.context import get_services
from connector.web.errors import error_response
from connector.web.hosts import check_same_origin

bp = Blueprint("dashboard", __name__, template_folder="templates")

_PUBLIC_ENDPOINTS = frozenset({"dashboard.login", "dashboard.login_form"})


def render_login(status: int, message: str | None = None) -> Response:
    """The login page with ``status`` (and the basic-auth challenge on a 401)."""
    settings = get_services().settings
    page = render_template(
        "login.html",
        message=message,
        token_login=bool(get_token(settings.web)) or has_basic_auth(settings.web),
        disabled=not is_auth_configured(settings.web),
    )
    response = Response(page, status=status, mimetype="text/html")
    if status == 401 and has_basic_auth(settings.web):
        response.headers["WWW-Authenticate"] = 'Basic realm="connector"'
    return response


@bp.before_request
def require_login() -> BaseResponse | None:
    """Let the browser in with the session, basic auth or a one-off ``?token=``."""
    settings = get_services().settings
    if request.method == "POST" and not check_same_origin():
        return error_response(403, "cross-site requests are not allowed")
    if request.endpoint in _PUBLIC_ENDPOINTS or is_local_access(settings):
        return None
    if not is_auth_configured(settings.web):
        return render_login(401, f"Sign-in is not set up: {NO_CREDENTIALS}.")
    if check_session() or check_headers(settings):
        return None
    token = request.args.get("token")
    if request.method == "GET" and token is not None:
        if check_token(settings, token):
            start_session()
            return redirect(request.path)
        return render_login(401, "That token is not valid.")
    return render_login(401)


def require_csrf() -> Response | None:
    """The 403 for a form posted without this session's CSRF token, else None."""
    if not check_csrf(request.form.get("csrf_token")):
        return error_response(403, "missing or invalid CSRF token (reload the page)")
    return None


def redirect_to(
    section: str, message: str, endpoint: str = "dashboard.index", **values: Any
) -> BaseResponse:
    """Post-redirect-get back to ``section`` of a page, with ``message`` shown inside it.

    The message is rendered at the top of the section the page scrolls to, so the
    confirmation is in view where the button was, not at the top of a long page.
    """
    flash(message, section)
    return redirect(url_for(endpoint, **values) + f"#{section}")


@bp.app_template_filter("when")
def format_when(value: Any) -> str:
    """A datetime (or ISO string) as ``YYYY-MM-DD HH:MM UTC``; ``—`` when missing."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


@bp.app_template_filter("credits")
def format_credits(value: Any) -> str:
    """A credit figure with thousands separators; ``—`` when missing."""
    if value is None:
        return "—"
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"
