"""A run's page: what it did, every record it touched, what each cost, and what was written."""

from __future__ import annotations

from flask import render_template, request
from werkzeug.wrappers import Response as BaseResponse

from connector.web.auth import get_csrf_token
from connector.web.context import get_services
from connector.web.errors import error_response
from connector.web.pages import bp
from connector.web.records import build_run_detail

PER_PAGE = 100


@bp.get("/runs/<run_id>")
def run_page(run_id: str) -> BaseResponse | str:
    """The run's figures and its records, ``PER_PAGE`` at a time (``?page=``)."""
    services = get_services()
    run = services.store.get_run(run_id)
    if run is None:
        return error_response(404, f"no run {run_id!r}")
    raw = request.args.get("page", "1")
    page = int(raw) if raw.isdigit() and int(raw) >= 1 else 1
    steps = request.args.get("steps") == "1"
    offset = (page - 1) * PER_PAGE
    detail = build_run_detail(services, run, offset=offset, limit=PER_PAGE, steps=steps)
    pages = max(1, -(-detail["total"] // PER_PAGE))
    return render_template(
        "run.html",
        run=run,
        detail=detail,
        page=page,
        pages=pages,
        per_page=PER_PAGE,
        steps=steps,
        csrf_token=get_csrf_token(),
    )
