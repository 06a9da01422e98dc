"""The JSON API's actions: sync, pause, resume, dry run, approve, retry and re-enrich."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from connector.pipeline.plan import build_plan_summary
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
from connector.web.api import answer_error, bp
from connector.web.context import get_services


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.post("/sources/<name>/sync")
def sync(name: str) -> tuple[Response, int] | Response:
    """Ask the worker to poll source ``name`` soon (202)."""
    try:
        sync_source(get_services(), name)
    except ActionError as exc:
        return answer_error(exc)
    return jsonify({"ok": True, "source": name, "requested": True}), 202


@bp.post("/sources/<name>/pause")
def pause(name: str) -> Response:
    """Stop polling source ``name`` until it is resumed."""
    return _set_paused(name, paused=True)


@bp.post("/sources/<name>/resume")
def resume(name: str) -> Response:
    """Poll source ``name`` again, starting now."""
    return _set_paused(name, paused=False)


def _set_paused(name: str, *, paused: bool) -> Response:
    act = pause_source if paused else resume_source
    try:
        message = act(get_services(), name)
    except ActionError as exc:
        return answer_error(exc)
    return jsonify({"ok": True, "source": name, "paused": paused, "message": message})


@bp.post("/sources/<name>/dry-run")
def plan(name: str) -> Response:
    """The plan and quote of source ``name`` (reads only: nothing written, nothing paid)."""
    try:
        report = dry_run(get_services(), name)
    except ActionError as exc:
        return answer_error(exc)
    return jsonify(
        {
            "ok": report.error is None,
            "report": report.as_dict(),
            "plan": report.plan,
            "summary": build_plan_summary(report),
        }
    )


@bp.post("/runs/<run_id>/approve")
def approve(run_id: str) -> Response:
    """Approve a run awaiting approval; the worker releases it on its next tick."""
    try:
        approve_run(get_services(), run_id)
    except ActionError as exc:
        return answer_error(exc)
    return jsonify({"ok": True, "run_id": run_id, "status": "approved"})


@bp.post("/records/retry")
def retry() -> Response:
    """Set records to ``retry`` (``{"ids": [record ids]}``), as a human typing it would."""
    body = _body()
    raw = body.get("ids", request.form.getlist("ids"))
    values = [str(v) for v in raw] if isinstance(raw, list) else [str(raw)]
    try:
        outcome = retry_records(get_services(), parse_event_ids(values))
    except ActionError as exc:
        return answer_error(exc)
    return jsonify(
        {"ok": bool(outcome.marked), "marked": outcome.marked, "skipped": outcome.skipped}
    )


@bp.get("/records/<event_id>/reenrich")
def reenrich_quote(event_id: str) -> Response:
    """What enriching the record again costs; send ``confirm`` back to go ahead."""
    try:
        quote = quote_reenrich(get_services(), parse_event_id(event_id))
    except ActionError as exc:
        return answer_error(exc)
    entry = quote.entry
    return jsonify(
        {
            "ok": True,
            "record": event_id,
            "creator": f"{quote.key.platform}:{quote.key.handle_key}",
            "price": quote.price,
            "balance": quote.balance,
            "fetched_at": entry.fetched_at.isoformat() if entry else None,
            "pending": quote.pending,
            "confirm": quote.confirm,
        }
    )


@bp.post("/records/<event_id>/reenrich")
def reenrich(event_id: str) -> tuple[Response, int] | Response:
    """Pay again for the record's creator (``{"confirm": …}`` from the quote); once only."""
    confirm = str(_body().get("confirm") or request.form.get("confirm", ""))
    try:
        message = request_reenrich(get_services(), parse_event_id(event_id), confirm)
    except ActionError as exc:
        return answer_error(exc)
    return jsonify({"ok": True, "record": event_id, "requested": True, "message": message}), 202
