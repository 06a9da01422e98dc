"""The dashboard's buttons: sync, pause, resume, dry run, approve, retry and re-enrich.

Each posts a form carrying the session's CSRF token and answers with a redirect back to the
section it came from, where the confirmation is shown (post-redirect-get, no JavaScript).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import render_template, request
from werkzeug.wrappers import Response as BaseResponse

from connector.pipeline.plan import build_plan_summary
from connector.services import Services
from connector.web.actions import (
    ActionError,
    approve_run,
    dry_run,
    parse_event_id,
    parse_event_ids,
    pause_source,
    quote_reenrich,
    request_reenrich,
    resume_source,
    retry_records,
    sync_source,
)
from connector.web.attention import build_record_row
from connector.web.auth import get_csrf_token
from connector.web.context import get_services
from connector.web.errors import error_response
from connector.web.pages import bp, redirect_to, require_csrf


def _back(message: str) -> BaseResponse:
    """Back to the run page the form came from (its ``run_id`` field), else "Needs attention"."""
    run_id = request.form.get("run_id", "")
    if run_id and get_services().store.get_run(run_id) is not None:
        return redirect_to("records", message, "dashboard.run_page", run_id=run_id)
    return redirect_to("attention", message)


def _source_form(name: str, act: Callable[[Services, str], str]) -> BaseResponse:
    if (failure := require_csrf()) is not None:
        return failure
    try:
        return redirect_to("sources", act(get_services(), name))
    except ActionError as exc:
        return error_response(exc.status, exc.message)


@bp.post("/sources/<name>/sync")
def sync_source_form(name: str) -> BaseResponse:
    """The "Sync now" button: ask the worker to poll ``name`` soon."""
    return _source_form(name, sync_source)


@bp.post("/sources/<name>/pause")
def pause_source_form(name: str) -> BaseResponse:
    """The "Pause" button of a source."""
    return _source_form(name, pause_source)


@bp.post("/sources/<name>/resume")
def resume_source_form(name: str) -> BaseResponse:
    """The "Resume" button of a paused source."""
    return _source_form(name, resume_source)


@bp.post("/sources/<name>/dry-run")
def dry_run_form(name: str) -> BaseResponse | str:
    """The "Dry run" button: the plan and quote, read-only (nothing written, nothing paid)."""
    if (failure := require_csrf()) is not None:
        return failure
    try:
        report = dry_run(get_services(), name)
    except ActionError as exc:
        return error_response(exc.status, exc.message)
    return render_template(
        "plan.html", report=report, summary=build_plan_summary(report), source=name
    )


@bp.post("/runs/<run_id>/approve")
def approve_run_form(run_id: str) -> BaseResponse:
    """The "Approve" button of a run held for approval."""
    if (failure := require_csrf()) is not None:
        return failure
    try:
        return redirect_to("attention", approve_run(get_services(), run_id))
    except ActionError as exc:
        return error_response(exc.status, exc.message)


@bp.post("/records/retry")
def retry_form() -> BaseResponse:
    """The "Retry" buttons: one record (``ids``) or every record of an error group."""
    if (failure := require_csrf()) is not None:
        return failure
    try:
        outcome = retry_records(get_services(), parse_event_ids(request.form.getlist("ids")))
    except ActionError as exc:
        return error_response(exc.status, exc.message)
    parts = []
    if outcome.marked:
        parts.append(
            f"Retry requested for {len(outcome.marked)} record(s) ({', '.join(outcome.marked)}); "
            "the worker enriches them within seconds."
        )
    if outcome.skipped:
        parts.append(f"Not retried: {'; '.join(outcome.skipped)}.")
    return _back(" ".join(parts))


@bp.get("/records/<event_id>/reenrich")
def reenrich_page(event_id: str) -> BaseResponse | str:
    """The confirmation step of "Re-enrich": what it costs and what it replaces."""
    try:
        quote = quote_reenrich(get_services(), parse_event_id(event_id))
    except ActionError as exc:
        return error_response(exc.status, exc.message)
    return render_template(
        "reenrich.html",
        quote=quote,
        record=build_record_row(get_services(), quote.event),
        csrf_token=get_csrf_token(),
    )


@bp.post("/records/<event_id>/reenrich")
def reenrich_form(event_id: str) -> BaseResponse:
    """The confirmed "Re-enrich": pays once, however often it is clicked."""
    if (failure := require_csrf()) is not None:
        return failure
    confirm = request.form.get("confirm", "")
    try:
        message = request_reenrich(get_services(), parse_event_id(event_id), confirm)
    except ActionError as exc:
        if exc.status != 409:
            return error_response(exc.status, exc.message)
        message = exc.message
    return _back(message)
