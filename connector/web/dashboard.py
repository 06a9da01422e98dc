"""The status page (what needs attention, sources, credits, runs, alerts) and signing in and out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Response, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from connector.alerts.credits import CreditReport
from connector.services import Services
from connector.web.attention import build_attention
from connector.web.auth import (
    NO_CREDENTIALS,
    check_session,
    check_token,
    get_csrf_token,
    is_auth_configured,
    start_session,
)
from connector.web.chart import Threshold, build_credit_chart
from connector.web.context import get_services
from connector.web.pages import bp, render_login
from connector.web.status import build_batch_row, build_source_rows, get_credit_report
from connector.web.usage import build_usage_rows, build_usage_summary

RECENT = 20
USAGE_DAYS = 14


def build_chart(report: CreditReport) -> str:
    """The credit chart of ``report``'s history, thresholds and forecast."""
    points = [(datetime.fromisoformat(p["taken_at"]), p["available"]) for p in report.history]
    thresholds = [Threshold(t["level"], float(t["below"])) for t in report.thresholds]
    return build_credit_chart(points, thresholds, report.runout_date)


def get_burn_note(services: Services, report: CreditReport) -> str:
    """Why there is no burn rate yet (too little history), or ``""``."""
    if report.burn_rate_per_day is not None:
        return ""
    hours = services.settings.credits.min_history / 3600
    return f"needs {hours:g} h of balance readings (credits.min_history)"


def build_usage(services: Services, days: int = USAGE_DAYS) -> dict[str, Any]:
    """Credits spent by day and by source over the last ``days`` days."""
    now = services.clock()
    since = datetime.combine(now.date(), datetime.min.time(), now.tzinfo) - timedelta(days=days - 1)
    rows = build_usage_rows(services.store.fetch_spending_runs(since))
    return build_usage_summary(rows, today=now.date(), days=days)


@bp.get("/")
def index() -> str:
    """What needs attention, sources, credits, runs that did something, alerts."""
    services = get_services()
    store = services.store
    report = get_credit_report(services)
    show_idle = request.args.get("all") in ("1", "true", "yes")
    return render_template(
        "dashboard.html",
        now=services.clock(),
        attention=build_attention(services, report),
        sources=build_source_rows(services),
        batches=[build_batch_row(b) for b in store.fetch_open_batches()],
        report=report,
        burn_note=get_burn_note(services, report),
        chart=build_chart(report),
        usage=build_usage(services),
        runs=store.fetch_runs(RECENT, idle=show_idle),
        show_idle=show_idle,
        alerts=store.fetch_deliveries(RECENT),
        outbox=store.count_outbox(),
        csrf_token=get_csrf_token(),
        can_logout=check_session(),
    )


@bp.get("/login")
def login_form() -> Response:
    """The login page (a token field)."""
    return render_login(200)


@bp.post("/login")
def login() -> BaseResponse:
    """Check the submitted token and start a session."""
    settings = get_services().settings
    if not is_auth_configured(settings.web):
        return render_login(401, f"Sign-in is not set up: {NO_CREDENTIALS}.")
    if check_token(settings, request.form.get("token", "")):
        start_session()
        return redirect(url_for("dashboard.index"))
    return render_login(401, "That token is not valid.")


@bp.post("/logout")
def logout() -> BaseResponse:
    """Forget this browser's session."""
    session.clear()
    return redirect(url_for("dashboard.login_form"))
