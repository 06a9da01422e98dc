"""Batch enrichment of the influencers.club sandbox: CSV upload, lazy progress, results.

Progress is computed from elapsed time whenever a batch is looked at (no background threads):
``batch_queued_seconds`` in ``queued``, then ``batch_rows_per_second`` rows in ``processing``.
Each row that yields data is billed when it is processed; a row the balance cannot pay pauses the
batch in ``paused_insufficient_credits`` until ``resume/``. Create answers 201 (DRF's create).
"""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from connector.sandbox.ic_emails import build_email_result
from connector.sandbox.ic_state import SandboxState
from connector.sandbox.images import (
    ImageRef,
    ImageTokenError,
    build_image_token,
    parse_image_token,
)
from connector.sandbox.payloads import build_profile, build_raw_profile
from connector.sandbox.profiles import get_charge_key

BATCH_PLATFORMS = ("instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans")
MODES = ("raw", "full", "basic", "advanced")
# Per row that yields data: a creator in a handle mode, a creator found in basic (e-mail) mode.
PRICES = {"full": 1.0, "raw": 0.03, "basic": 0.05}
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000
DOWNLOAD_LIFETIME = 3600
_PREFIX = "/public/v1/enrichment/batch/"


def format_time(epoch: float | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, or ``None``."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Batch:
    """One uploaded CSV and how far the sandbox has got with it."""

    batch_id: str
    created: float
    platform: str
    mode: str
    email_required: str
    include_audience_data: bool
    include_lookalikes: bool
    metadata: Any
    rows: list[str]
    image_base_url: str
    status: str = "queued"
    processed: int = 0
    success: int = 0
    failed: int = 0
    credits_used: float = 0.0
    results: list[dict[str, Any]] = field(default_factory=list)
    segment_start: float | None = None
    segment_base: int = 0
    started_at: float | None = None
    # When the last row was processed by the emulated clock (not when someone looked).
    finished_at: float | None = None
    status_message: str | None = None

    def advance(self, state: SandboxState, now: float) -> None:
        """Process every row that elapsed time allows, billing each row that yields data."""
        if self.status in ("finished", "failed", "paused_insufficient_credits"):
            return
        config = state.config
        if self.segment_start is None:
            start = self.created + config["batch_queued_seconds"]
            if now < start:
                return
            self.segment_start = self.started_at = start
            self.status = "processing"
        elapsed = max(0.0, now - self.segment_start)
        target = min(
            len(self.rows), self.segment_base + int(elapsed * config["batch_rows_per_second"])
        )
        while self.processed < target:
            if not self._process_row(state, self.rows[self.processed]):
                self.status = "paused_insufficient_credits"
                self.status_message = (
                    f"Insufficient credits: processing paused after {self.processed} of "
                    f"{len(self.rows)} rows. Top up your balance and call resume."
                )
                return
            self.processed += 1
        if self.processed >= len(self.rows):
            self.status = "finished"
            rate = config["batch_rows_per_second"]
            self.finished_at = self.segment_start + (len(self.rows) - self.segment_base) / rate

    def _process_row(self, state: SandboxState, value: str) -> bool:
        handle = value.strip()
        if not handle or len(handle) > 200:
            self.failed += 1
            self.results.append({"input_value": value, "status": "failed", "enrichment_data": None})
            return True
        config = state.config
        options = {
            "image_base_url": self.image_base_url,
            "image_lifetime": config["image_lifetime"],
            "not_found_rate": config["not_found_rate"],
        }
        if self.mode == "basic":
            data = build_email_result(handle, **options)
        elif self.mode == "raw":
            data = build_raw_profile(self.platform, handle, **options)
        else:
            data = build_profile(
                self.platform,
                handle,
                include_audience_data=self.include_audience_data,
                include_lookalikes=self.include_lookalikes,
                no_email_rate=config["no_email_rate"],
                **options,
            )
            if data is not None and self.email_required == "must_have" and not data.get("email"):
                data = None
        if data is None:
            self.failed += 1
            self.results.append(
                {"input_value": value, "status": "not_found", "enrichment_data": None}
            )
            return True
        price = PRICES[self.mode]
        if self.mode == "basic":
            key, kind = handle.lower(), "email"
        else:
            key, kind = get_charge_key(self.platform, handle), self.mode
        if not state.charge(price, key, f"batch:{self.batch_id}", kind=kind):
            return False
        self.success += 1
        self.credits_used = round(self.credits_used + price, 6)
        self.results.append({"input_value": value, "status": "success", "enrichment_data": data})
        return True

    def get_status(self, state: SandboxState) -> dict[str, Any]:
        """The body of ``GET …/{id}/status/``."""
        eta = None
        if self.status in ("queued", "processing"):
            start = self.segment_start or self.created + state.config["batch_queued_seconds"]
            remaining = len(self.rows) - self.segment_base
            eta = format_time(start + remaining / state.config["batch_rows_per_second"])
        return {
            "batch_id": self.batch_id,
            "status": self.status,
            "total_rows": len(self.rows),
            "processed_rows": self.processed,
            "success_count": self.success,
            "failed_count": self.failed,
            "started_at": format_time(self.started_at),
            "metadata": self.metadata,
            "credits_used": f"{self.credits_used:.2f}",
            "estimated_completion": eta,
            "status_message": self.status_message,
        }


def advance_all(state: SandboxState, now: float | None = None) -> None:
    """Bring every batch up to date (before reading the balance or the counters)."""
    now = time.time() if now is None else now
    with state.lock:
        for batch in list(state.batches.values()):
            batch.advance(state, now)


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)
    elif value is None:
        out[prefix] = ""
    else:
        out[prefix] = json.dumps(value) if isinstance(value, bool) else str(value)


def build_results_csv(results: list[dict[str, Any]]) -> str:
    """Flatten JSON result rows into CSV with dot-path columns (lists JSON-encoded)."""
    rows = []
    for row in results:
        flat: dict[str, str] = {"input_value": row["input_value"], "status": row["status"]}
        _flatten(row["enrichment_data"] or {}, "", flat)
        rows.append(flat)
    columns = ["input_value", "status"]
    columns += sorted({key for flat in rows for key in flat} - set(columns))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _bad(error: Any, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": error}), status


def _flag(value: str | None, default: bool) -> bool | None:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


def _parse_csv(data: bytes) -> tuple[str, list[str]] | str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "The file must be UTF-8 encoded CSV."
    lines = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not lines:
        return "The CSV file is empty."
    header = [cell.strip().lower() for cell in lines[0]]
    if len(header) != 1 or header[0] not in ("handle", "email"):
        return "The CSV must have exactly one column with the header 'handle' or 'email'."
    rows = [row[0] if row else "" for row in lines[1:]]
    if not rows:
        return "The CSV has no rows after the header."
    if len(rows) > MAX_ROWS:
        return f"The CSV has {len(rows)} rows; the limit is {MAX_ROWS:,}."
    return header[0], rows


def create_blueprint(state: SandboxState) -> Blueprint:
    """Routes under ``/public/v1/enrichment/batch/`` plus the presigned results file."""
    bp = Blueprint("ic_batches", __name__)

    def get_batch(batch_id: str) -> Batch | None:
        with state.lock:
            batch: Batch | None = state.batches.get(batch_id)
            if batch is not None:
                batch.advance(state, time.time())
            return batch

    def not_found() -> tuple[Response, int]:
        return jsonify({"detail": "Not found."}), 404

    @bp.post(_PREFIX)
    def batch_create() -> Any:
        upload = request.files.get("file")
        if upload is None:
            return _bad({"file": ["No file was submitted."]})
        data = upload.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return _bad("The file is larger than 10 MB.")
        form = request.form
        mode = (form.get("enrichment_mode") or "").strip()
        if mode not in MODES:
            message = "This field is required." if not mode else f'"{mode}" is not a valid choice.'
            return _bad({"enrichment_mode": [message]})
        if mode not in PRICES:
            return _bad(f"enrichment_mode {mode!r} is not emulated by the sandbox.")
        platform = (form.get("platform") or "").strip()
        if mode != "basic" and platform not in BATCH_PLATFORMS:
            message = "This field is required for full and raw modes."
            return _bad(
                {"platform": [f'"{platform}" is not a valid choice.' if platform else message]}
            )
        email_required = (form.get("email_required") or "preferred").strip()
        if email_required not in ("must_have", "preferred"):
            return _bad({"email_required": [f'"{email_required}" is not a valid choice.']})
        flags = {}
        for name, default in (("include_audience_data", True), ("include_lookalikes", False)):
            flags[name] = _flag(form.get(name), default)
            if flags[name] is None:
                return _bad({name: ["Must be a valid boolean."]})
        metadata = None
        if form.get("metadata"):
            try:
                metadata = json.loads(form["metadata"])
            except ValueError:
                return _bad({"metadata": ["Value must be valid JSON."]})
        parsed = _parse_csv(data)
        if isinstance(parsed, str):
            return _bad(parsed)
        column, rows = parsed
        wanted = "email" if mode == "basic" else "handle"
        if column != wanted:
            return _bad(f"enrichment_mode {mode!r} needs a {wanted!r} column, not {column!r}.")
        batch = Batch(
            batch_id=f"bch_{uuid.uuid4().hex}",
            created=time.time(),
            platform=platform,
            mode=mode,
            email_required=email_required,
            include_audience_data=bool(flags["include_audience_data"]),
            include_lookalikes=bool(flags["include_lookalikes"]),
            metadata=metadata,
            rows=rows,
            image_base_url=request.host_url.rstrip("/"),
        )
        with state.lock:
            state.batches[batch.batch_id] = batch
        body = {
            "batch_id": batch.batch_id,
            "status": "queued",
            "created_at": format_time(batch.created),
            "platform": platform or None,
            "metadata": metadata,
            "og_input_number": len(rows),
            "type_report": "ENRICH_BY_EMAIL" if mode == "basic" else "ENRICH_BY_HANDLE",
            "enrichment_mode": mode,
            "message": f"Batch created with {len(rows)} rows and queued for processing.",
        }
        return jsonify(body), 201

    @bp.get(_PREFIX + "<batch_id>/status/")
    def batch_status(batch_id: str) -> Any:
        batch = get_batch(batch_id)
        if batch is None:
            return not_found()
        with state.lock:
            return jsonify(batch.get_status(state))

    @bp.post(_PREFIX + "<batch_id>/resume/")
    def batch_resume(batch_id: str) -> Any:
        batch = get_batch(batch_id)
        if batch is None:
            return not_found()
        with state.lock:
            if batch.status != "paused_insufficient_credits":
                return jsonify(
                    {"error": "Batch is not paused", "current_status": batch.status}
                ), 400
            batch.status, batch.status_message = "processing", None
            batch.segment_start, batch.segment_base = time.time(), batch.processed
            return jsonify(
                {"batch_id": batch_id, "status": "processing", "message": "Batch resumed."}
            )

    @bp.get(_PREFIX + "<batch_id>/")
    def batch_results(batch_id: str) -> Any:
        batch = get_batch(batch_id)
        if batch is None:
            return not_found()
        if batch.status != "finished":
            return jsonify({"error": "Batch is not finished", "current_status": batch.status}), 400
        fmt = request.args.get("format", "csv")
        if fmt == "json":
            return jsonify(batch.results)
        if fmt != "csv":
            return _bad({"format": [f'"{fmt}" is not a valid choice.']})
        if state.config["batch_csv_results"] == "404":
            return not_found()
        return Response(build_results_csv(batch.results), content_type="text/csv; charset=utf-8")

    @bp.get(_PREFIX + "<batch_id>/download/")
    def batch_download(batch_id: str) -> Any:
        batch = get_batch(batch_id)
        if batch is None:
            return not_found()
        if batch.status != "finished":
            return jsonify({"error": "Batch is not finished", "current_status": batch.status}), 400
        expires = int(time.time() + DOWNLOAD_LIFETIME)
        token = build_image_token(
            ImageRef("batch", batch_id, "csv", expires), secret=state.image_secret
        )
        return jsonify(
            {
                "download_url": f"{request.host_url.rstrip('/')}/_sandbox/batch-files/{token}.csv",
                "filename": f"{batch_id}_results.csv",
                "expires_in": DOWNLOAD_LIFETIME,
                "expires_at": format_time(expires),
                "batch_id": batch_id,
                "total_results": len(batch.results),
                "invalid_records": batch.failed,
            }
        )

    @bp.get("/_sandbox/batch-files/<token>.csv")
    def batch_file(token: str) -> Any:
        try:
            ref = parse_image_token(token, secret=state.image_secret)
        except ImageTokenError as exc:
            return Response(
                f"<Error><Code>{exc.code}</Code><Message>{exc.message}</Message></Error>",
                status=403,
                content_type="application/xml",
            )
        batch = get_batch(ref.handle)
        if ref.platform != "batch" or batch is None:
            return Response(
                "<Error><Code>NoSuchKey</Code></Error>", status=404, content_type="application/xml"
            )
        return Response(build_results_csv(batch.results), content_type="text/csv; charset=utf-8")

    return bp
