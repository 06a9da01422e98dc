"""The server-rendered status dashboard, its login and its two form actions (sync, approve)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from connector.alerts.credits import CreditReport
from connector.errors import ConfigError
from connector.web.auth import (
    NO_CREDENTIALS,
    check_csrf,
    check_headers,
    check_session,
    check_token,
    get_csrf_token,
    get_token,
    has_basic_auth,
    is_auth_configured,
    is_local_access,
    start_session,
)
from connector.web.chart import Threshold, build_credit_chart
from connector.web.context import get_services
from connector.web.errors import error_response
from connector.web.hosts import check_same_origin
from connector.web.status import build_batch_row, build_source_rows, get_credit_report

bp = Blueprint("dashboard", __name__, template_folder="templates")

RECENT = 20
_PUBLIC_ENDPOINTS = frozenset({"dashboard.login", "dashboard.login_form"})


def _login_page(status: int, message: str | None = None) -> Response:
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
        return _login_page(401, f"Sign-in is not set up: {NO_CREDENTIALS}.")
    if check_session() or check_headers(settings):
        return None
    token = request.args.get("token")
    if request.method == "GET" and token is not None:
        if check_token(settings, token):
            start_session()
            return redirect(request.path)
        return _login_page(401, "That token is not valid.")
    return _login_page(401)


@bp.get("/login")
def login_form() -> Response:
    """The login page (a token field)."""
    return _login_page(200)


@bp.post("/login")
def login() -> BaseResponse:
    """Check the submitted token and start a session."""
    settings = get_services().settings
    if not is_auth_configured(settings.web):
        return _login_page(401, f"Sign-in is not set up: {NO_CREDENTIALS}.")
    if check_token(settings, request.form.get("token", "")):
        start_session()
        return redirect(url_for("dashboard.index"))
    return _login_page(401, "That token is not valid.")


@bp.post("/logout")
def logout() -> BaseResponse:
    """Forget this browser's session."""
    session.clear()
    return redirect(url_for("dashboard.login_form"))


def _require_csrf() -> Response | None:
    if not check_csrf(request.form.get("csrf_token")):
        return error_response(403, "missing or invalid CSRF token (reload the page)")
    return None


@bp.post("/sources/<name>/sync")
def sync_source(name: str) -> BaseResponse:
    """The "sync now" button: ask the worker to poll ``name`` soon."""
    if (failure := _require_csrf()) is not None:
        return failure
    services = get_services()
    try:
        config = services.settings.get_source(name)
    except ConfigError:
        return error_response(404, f"unknown source {name!r}")
    if not config.enabled:
        return error_response(409, f"source {name!r} is disabled")
    services.store.request_poll(name)
    flash(f"Sync of {name} requested; the worker polls it within seconds.")
    return redirect(url_for("dashboard.index") + "#sources")


@bp.post("/runs/<run_id>/approve")
def approve_run(run_id: str) -> BaseResponse:
    """The "approve" button of a held run."""
    if (failure := _require_csrf()) is not None:
        return failure
    services = get_services()
    if not services.store.approve_run(run_id):
        return error_response(404, f"no run {run_id!r} awaiting approval")
    flash(f"Run {run_id} approved; the worker resumes it shortly.")
    return redirect(url_for("dashboard.index") + "#held-runs")


def _chart(report: CreditReport) -> str:
    points = [(datetime.fromisoformat(p["taken_at"]), p["available"]) for p in report.history]
    thresholds = [Threshold(t["level"], float(t["below"])) for t in report.thresholds]
    return build_credit_chart(points, thresholds, report.runout_date)


@bp.get("/")
def index() -> str:
    """Sources, batches, the credit chart, recent runs, alerts and held runs."""
    services = get_services()
    store = services.store
    report = get_credit_report(services)
    return render_template(
        "dashboard.html",
        now=services.clock(),
        sources=build_source_rows(services),
        batches=[build_batch_row(b) for b in store.fetch_open_batches()],
        report=report,
        chart=_chart(report),
        runs=store.fetch_runs(RECENT),
        alerts=store.fetch_deliveries(RECENT),
        held_runs=store.fetch_held_runs(),
        outbox=store.count_outbox(),
        csrf_token=get_csrf_token(),
        can_logout=check_session(),
    )


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
