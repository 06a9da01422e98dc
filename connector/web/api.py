"""The token-protected JSON API under ``/api``: status, runs, credits, alerts, sync and approve."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from connector.errors import ConfigError
from connector.services import Services
from connector.web.auth import (
    NO_CREDENTIALS,
    check_headers,
    has_basic_auth,
    is_auth_configured,
    is_local_access,
)
from connector.web.context import get_services
from connector.web.errors import error_response
from connector.web.hosts import check_same_origin
from connector.web.status import (
    build_delivery_row,
    build_run_row,
    build_status,
    get_credit_report,
)

bp = Blueprint("api", __name__, url_prefix="/api")

DEFAULT_LIMIT = 20
MAX_LIMIT = 200


@bp.before_request
def require_auth() -> Response | None:
    """Every API call presents the token or basic auth (without any configured: loopback only)."""
    settings = get_services().settings
    if request.method not in ("GET", "HEAD", "OPTIONS") and not check_same_origin():
        return error_response(403, "cross-site requests are not allowed")
    if is_local_access(settings) or check_headers(settings):
        return None
    if is_auth_configured(settings.web):
        response = error_response(401, "missing or invalid credentials")
    else:
        response = error_response(401, f"authentication required: {NO_CREDENTIALS}")
    scheme = "Basic" if has_basic_auth(settings.web) else "Bearer"
    response.headers["WWW-Authenticate"] = f'{scheme} realm="connector"'
    return response


def _limit() -> int | Response:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    try:
        value = int(raw)
    except ValueError:
        return error_response(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    if not 1 <= value <= MAX_LIMIT:
        return error_response(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return value


def _known_source(services: Services, name: str, *, enabled: bool = True) -> Response | None:
    try:
        config = services.settings.get_source(name)
    except ConfigError:
        return error_response(404, f"unknown source {name!r}")
    if enabled and not config.enabled:
        return error_response(409, f"source {name!r} is disabled")
    return None


@bp.get("/status")
def status() -> Response:
    """Sources with poll state and work counts, open batches, credits, held runs, outbox."""
    return jsonify(build_status(get_services()))


@bp.get("/runs")
def runs() -> Response:
    """The most recent runs, newest first (``?limit=``, ``?source=``)."""
    services = get_services()
    limit = _limit()
    if isinstance(limit, Response):
        return limit
    source = request.args.get("source")
    if source is not None and (missing := _known_source(services, source, enabled=False)):
        return missing
    rows = services.store.fetch_runs(limit, source=source)
    return jsonify({"ok": True, "runs": [build_run_row(r) for r in rows]})


@bp.get("/credits")
def credits() -> Response:
    """The credit report (balance, burn rate, run-out, queued and held cost) with its history."""
    report = get_credit_report(get_services()).as_dict()
    history = report.pop("history")
    return jsonify({"ok": True, "report": report, "history": history})


@bp.get("/alerts")
def alerts() -> Response:
    """Alert deliveries, newest first (``?limit=``)."""
    limit = _limit()
    if isinstance(limit, Response):
        return limit
    rows = get_services().store.fetch_deliveries(limit)
    return jsonify({"ok": True, "alerts": [build_delivery_row(d) for d in rows]})


@bp.post("/sources/<name>/sync")
def sync_source(name: str) -> tuple[Response, int] | Response:
    """Ask the worker to poll source ``name`` soon (202)."""
    services = get_services()
    if (missing := _known_source(services, name)) is not None:
        return missing
    services.store.request_poll(name)
    return jsonify({"ok": True, "source": name, "requested": True}), 202


@bp.post("/runs/<run_id>/approve")
def approve_run(run_id: str) -> Response:
    """Approve a run awaiting approval; the worker releases it on its next tick."""
    services = get_services()
    if services.store.approve_run(run_id):
        return jsonify({"ok": True, "run_id": run_id, "status": "approved"})
    run = services.store.get_run(run_id)
    if run is None:
        return error_response(404, f"no run {run_id!r}")
    return error_response(404, f"run {run_id!r} is {run.status}, not awaiting approval")
