"""The JSON API under ``/api``: who may call it, and what it reads (status, runs and their
records, credits and their usage, alerts, what needs attention), with CSV exports.

Its actions (sync, pause, dry run, approve, retry, re-enrich) are in ``api_actions.py``, on the
same blueprint and behind the same gate.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, Response, jsonify, request

from connector.services import Services
from connector.web.actions import ActionError, get_source_settings
from connector.web.attention import build_attention
from connector.web.auth import (
    NO_CREDENTIALS,
    check_csrf,
    check_headers,
    check_session,
    has_basic_auth,
    is_auth_configured,
    is_local_access,
)
from connector.web.context import get_services
from connector.web.errors import error_response
from connector.web.hosts import check_same_origin
from connector.web.records import RECORD_COLUMNS, build_record_csv_rows, build_run_detail
from connector.web.status import (
    build_delivery_row,
    build_run_row,
    build_status,
    get_credit_report,
)
from connector.web.usage import USAGE_COLUMNS, build_csv, build_usage_rows, build_usage_summary

bp = Blueprint("api", __name__, url_prefix="/api")

DEFAULT_LIMIT = 20
MAX_LIMIT = 200
RECORDS_LIMIT = 100
MAX_RECORDS_LIMIT = 500
USAGE_DAYS = 30
MAX_USAGE_DAYS = 90
_SAFE = ("GET", "HEAD", "OPTIONS")


@bp.before_request
def require_auth() -> Response | None:
    """Every API call presents the token or basic auth, or comes from a signed-in browser
    (whose changes carry the page's CSRF token); without credentials configured: loopback only.
    """
    settings = get_services().settings
    if request.method not in _SAFE and not check_same_origin():
        return error_response(403, "cross-site requests are not allowed")
    if is_local_access(settings) or check_headers(settings):
        return None
    if is_auth_configured(settings.web) and check_session():
        token = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
        if request.method in _SAFE or check_csrf(token):
            return None
        return error_response(
            403, "missing or invalid CSRF token (send the page's token as X-CSRF-Token)"
        )
    if is_auth_configured(settings.web):
        response = error_response(401, "missing or invalid credentials")
    else:
        response = error_response(401, f"authentication required: {NO_CREDENTIALS}")
    scheme = "Basic" if has_basic_auth(settings.web) else "Bearer"
    response.headers["WWW-Authenticate"] = f'{scheme} realm="connector"'
    return response


def get_number(name: str, default: int, low: int, high: int) -> int:
    """The integer query parameter ``name`` from ``low`` to ``high`` (400 otherwise)."""
    raw = request.args.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ActionError(400, f"{name} must be an integer from {low} to {high}")
    return value


def answer_error(exc: ActionError) -> Response:
    """An ``ActionError`` in the one error shape."""
    return error_response(exc.status, exc.message)


def _csv(text: str, filename: str) -> Response:
    response = Response(text, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/status")
def status() -> Response:
    """Sources with poll state and work counts, open batches, credits, held runs, outbox."""
    return jsonify(build_status(get_services()))


@bp.get("/runs")
def runs() -> Response:
    """Runs that did something, newest first (``?limit=``, ``?source=``; ``?all=1`` adds the
    idle polls)."""
    services = get_services()
    try:
        limit = get_number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        source = request.args.get("source")
        if source is not None:
            get_source_settings(services, source, enabled=False)
    except ActionError as exc:
        return answer_error(exc)
    idle = request.args.get("all") in ("1", "true", "yes")
    rows = services.store.fetch_runs(limit, source=source, idle=idle)
    return jsonify({"ok": True, "runs": [build_run_row(r) for r in rows]})


def _steps() -> bool:
    return request.args.get("steps") in ("1", "true", "yes")


@bp.get("/runs/<run_id>/records")
def run_records(run_id: str) -> Response:
    """The records run ``run_id`` touched, oldest first (``?offset=``, ``?limit=``; ``?steps=1``
    adds the steps a later one superseded, e.g. held before enriched)."""
    services = get_services()
    run = services.store.get_run(run_id)
    if run is None:
        return error_response(404, f"no run {run_id!r}")
    try:
        limit = get_number("limit", RECORDS_LIMIT, 1, MAX_RECORDS_LIMIT)
        offset = get_number("offset", 0, 0, 10**9)
    except ActionError as exc:
        return answer_error(exc)
    detail = build_run_detail(services, run, offset=offset, limit=limit, steps=_steps())
    return jsonify({"ok": True, **detail})


@bp.get("/runs/<run_id>/records.csv")
def run_records_csv(run_id: str) -> Response:
    """Every record of run ``run_id`` as CSV: location, link, route, credits, status, fields."""
    services = get_services()
    if services.store.get_run(run_id) is None:
        return error_response(404, f"no run {run_id!r}")
    events = services.store.fetch_run_records(run_id, steps=_steps())
    text = build_csv(RECORD_COLUMNS, build_record_csv_rows(services, events))
    return _csv(text, f"run-{run_id[:8]}-records.csv")


@bp.get("/credits")
def credits() -> Response:
    """The credit report (balance, burn rate, run-out, queued and held cost) with its history."""
    report = get_credit_report(get_services()).as_dict()
    history = report.pop("history")
    return jsonify({"ok": True, "report": report, "history": history})


def _usage_rows(services: Services, days: int) -> list[dict[str, object]]:
    now = services.clock()
    since = datetime.combine(now.date(), datetime.min.time(), now.tzinfo) - timedelta(days=days - 1)
    return build_usage_rows(services.store.fetch_spending_runs(since))


@bp.get("/credits/usage")
def credit_usage() -> Response:
    """Credits spent and saved per UTC day and source (``?days=``, default 30)."""
    services = get_services()
    try:
        days = get_number("days", USAGE_DAYS, 1, MAX_USAGE_DAYS)
    except ActionError as exc:
        return answer_error(exc)
    rows = _usage_rows(services, days)
    summary = build_usage_summary(rows, today=services.clock().date(), days=days)
    return jsonify({"ok": True, "days": days, "rows": rows, **summary})


@bp.get("/credits/usage.csv")
def credit_usage_csv() -> Response:
    """The same per day and source, as CSV."""
    services = get_services()
    try:
        days = get_number("days", USAGE_DAYS, 1, MAX_USAGE_DAYS)
    except ActionError as exc:
        return answer_error(exc)
    return _csv(build_csv(USAGE_COLUMNS, _usage_rows(services, days)), "credit-usage.csv")


@bp.get("/alerts")
def alerts() -> Response:
    """Alert deliveries, newest first (``?limit=``)."""
    try:
        limit = get_number("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    except ActionError as exc:
        return answer_error(exc)
    rows = get_services().store.fetch_deliveries(limit)
    return jsonify({"ok": True, "alerts": [build_delivery_row(d) for d in rows]})


@bp.get("/attention")
def attention() -> Response:
    """Active alerts, records in error by error, held runs, failing sources, the balance."""
    services = get_services()
    return jsonify({"ok": True, **build_attention(services, get_credit_report(services))})
