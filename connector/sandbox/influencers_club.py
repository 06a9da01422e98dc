"""Loopback emulator of the influencers.club API, faithful to its observed wire behaviour.

``InfluencersClubSandbox`` serves ``create_app(state)`` on 127.0.0.1; the production client talks
to it over real HTTP by pointing ``influencers_club.base_url`` at ``sandbox.url``. The HTTP
control endpoints under ``/_sandbox/`` mirror the Python methods.
"""

from __future__ import annotations

import math
import select
import socket
import time
from email.utils import formatdate
from typing import Any

from flask import Flask, Response, g, jsonify, request

from connector.sandbox import ic_batches, ic_discovery, ic_emails
from connector.sandbox.ic_state import SandboxState, get_insufficient_body
from connector.sandbox.images import ImageTokenError, create_images_blueprint, parse_image_token
from connector.sandbox.payloads import build_profile, build_profile_tier, build_raw_profile
from connector.sandbox.profiles import (
    ENRICH_PLATFORMS,
    get_charge_key,
    parse_identity,
)
from connector.sandbox.server import ServedSandbox

# What each enrichment tier bills per creator found (reference §3); misses are free.
PRICES = {"full": 1.0, "raw": 0.03, "profile": 0.2}
MAX_HANDLE = 200
_MISS = {"error": "creator_not_found", "detail": "No data found for the provided input."}
_GATEWAY_TITLES = {
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def _gateway_page(status: int) -> Response:
    title = _GATEWAY_TITLES[status]
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1>"
        "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return Response(body, status=status, content_type="text/html")


def _throttled(state: SandboxState, seconds: int) -> Response:
    response = jsonify(
        {"detail": f"Request was throttled. Expected available in {seconds} seconds."}
    )
    response.status_code = 429
    if state.config["send_retry_after"]:
        # RFC 9110 allows both forms; a date is whole seconds, so round up to keep the promise.
        response.headers["Retry-After"] = (
            formatdate(math.ceil(time.time()) + seconds, usegmt=True)
            if state.use_http_date()
            else str(seconds)
        )
    return response


def _unauthorized(body: dict[str, str]) -> Response:
    response = jsonify(body)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _client_gone() -> bool:
    """True when the client's socket is closed (it read EOF), e.g. its process was killed."""
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _parse_flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def check_enrich_body(body: Any, mode: str) -> dict[str, Any]:
    """DRF-style field errors of an enrich-by-handle body (empty when valid)."""
    if not isinstance(body, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, list[str]] = {}
    handle = body.get("handle")
    if handle is None:
        errors["handle"] = ["This field is required."]
    elif not isinstance(handle, str) or not handle.strip():
        errors["handle"] = ["This field may not be blank."]
    elif len(handle.strip()) > MAX_HANDLE:
        errors["handle"] = [f"Ensure this field has no more than {MAX_HANDLE} characters."]
    platform = body.get("platform")
    if platform is None:
        errors["platform"] = ["This field is required."]
    elif platform not in ENRICH_PLATFORMS:
        errors["platform"] = [f'"{platform}" is not a valid choice.']
    if mode in ("full", "profile"):
        email_required = body.get("email_required", "preferred")
        if email_required not in ("must_have", "preferred"):
            errors["email_required"] = [f'"{email_required}" is not a valid choice.']
        for flag in ("include_lookalikes", "include_audience_data"):
            if mode == "full" and flag in body and _parse_flag(body[flag]) is None:
                errors[flag] = ["Must be a valid boolean."]
    return errors


def create_app(state: SandboxState) -> Flask:
    """The WSGI app: ``/public/v1/…`` as the real API, plus ``/_sandbox/…`` controls and files."""
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.register_blueprint(create_images_blueprint(state.image_secret))
    app.register_blueprint(ic_batches.create_blueprint(state))
    app.register_blueprint(ic_discovery.create_blueprint(state))
    app.register_blueprint(ic_emails.create_blueprint(state))

    @app.before_request
    def gate() -> Response | None:
        if request.path.startswith("/_sandbox/img/"):
            with state.lock:
                state.image_requests += 1
        if not request.path.startswith("/public/"):
            return None
        g.public, g.credits, g.start = True, 0.0, time.time()
        fault = state.take_fault(request.path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status == 429:
                return _throttled(state, 1)
            if fault.status in (402, 403):
                refused = jsonify(get_insufficient_body(fault.status))
                refused.status_code = fault.status
                return refused
            if fault.html:
                return _gateway_page(fault.status)
            response = jsonify({"detail": f"Sandbox fault {fault.status}."})
            response.status_code = fault.status
            return response
        random_fault = state.take_random_fault()
        if random_fault == 502:
            # In front of the app, so the backend did nothing: nothing created, nothing billed.
            return _gateway_page(502)
        if random_fault == 429:
            # Another key of the same account used the per-account minute.
            return _throttled(state, 1 + int(state.rng.random() * 2))
        if not request.path.endswith("/"):
            query = request.query_string.decode()
            location = request.path + "/" + (f"?{query}" if query else "")
            return Response(b"", status=301, headers={"Location": location})
        scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return _unauthorized({"detail": "Authentication credentials were not provided."})
        if token.strip() != state.api_key:
            return _unauthorized({"detail": "Token is invalid", "code": "authentication_failed"})
        wait = state.hit_rate_limit(token.strip())
        if wait is not None:
            return _throttled(state, wait)
        return None

    @app.after_request
    def log(response: Response) -> Response:
        if g.get("public"):
            endpoint = (request.endpoint or "").rpartition(".")[2] or None
            if response.status_code == 301:
                endpoint = "redirect"
            state.record(
                request.method,
                request.path,
                response.status_code,
                g.credits,
                endpoint,
                start=g.get("start"),
            )
        return response

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> Any:
        return jsonify({"detail": "Not found."}), 404

    @app.errorhandler(405)
    def not_allowed(_exc: Exception) -> Any:
        return jsonify({"detail": f'Method "{request.method}" not allowed.'}), 405

    def insufficient() -> Any:
        status = state.config["insufficient_credits_status"]
        return jsonify(get_insufficient_body(status)), status

    def enrich(mode: str) -> Any:
        body = request.get_json(silent=True)
        errors = check_enrich_body(body, mode)
        if errors or not isinstance(body, dict):
            return jsonify({"error": errors}), 400
        time.sleep(state.get_latency())
        platform, handle = body["platform"], body["handle"].strip()
        price, config = PRICES[mode], state.config
        key = get_charge_key(platform, handle)
        options = {
            "image_base_url": request.host_url.rstrip("/"),
            "image_lifetime": config["image_lifetime"],
            "not_found_rate": config["not_found_rate"],
        }
        if mode == "full" and state.take_cold(platform, parse_identity(handle)):
            time.sleep(config["cold_delay"])
            found = build_profile(platform, handle, **options) is not None
            if config["bill_cold_504"] and found and state.charge(price, key, mode, kind=mode):
                g.credits = price
            return _gateway_page(504)
        # The real order is unknown (reference §10.3): checking the balance before the lookup
        # means a miss at zero balance also answers insufficient_credits_status.
        if not state.can_pay(price):
            return insufficient()
        if mode == "raw":
            result = build_raw_profile(platform, handle, **options)
        elif mode == "profile":
            result = build_profile_tier(
                platform,
                handle,
                email_required=str(body.get("email_required") or "preferred"),
                no_email_rate=config["no_email_rate"],
                **options,
            )
        else:
            result = build_profile(
                platform,
                handle,
                include_audience_data=_parse_flag(body.get("include_audience_data")) or False,
                include_lookalikes=_parse_flag(body.get("include_lookalikes")) or False,
                no_email_rate=config["no_email_rate"],
                **options,
            )
            if result is not None and body.get("email_required") == "must_have":
                result = result if result.get("email") else None
        if result is None:
            return jsonify(_MISS), 400
        if mode == "full" and not config["bill_disconnected_full"] and _client_gone():
            # The live API did not bill a Full call cut off by its gateway (reference §4);
            # a client that hung up before the answer is treated the same way.
            with state.lock:
                state.disconnected += 1
            return jsonify({"detail": "client closed request"}), 499
        if not state.charge(price, key, mode, kind=mode):
            return insufficient()
        g.credits = price
        return jsonify({"result": result, "credits_cost": price, "trial_searches_left": 0})

    @app.post("/public/v1/creators/enrich/handle/full/")
    def enrich_full() -> Any:
        return enrich("full")

    @app.post("/public/v1/creators/enrich/handle/raw/")
    def enrich_raw() -> Any:
        return enrich("raw")

    @app.post("/public/v1/creators/enrich/handle/profile/")
    def enrich_profile() -> Any:
        return enrich("profile")

    def balance_body() -> dict[str, float]:
        ic_batches.advance_all(state)
        with state.lock:
            return {"credits_available": state.balance, "credits_used": state.credits_used}

    @app.get("/public/v1/accounts/credits/")
    def credits() -> Any:
        return jsonify(balance_body())

    @app.get("/public/v1/account/credits/")
    def credits_singular() -> Any:
        if state.config["singular_credits_path_404"]:
            return jsonify({"detail": "Not found."}), 404
        return jsonify(balance_body())

    register_controls(app, state)
    return app


def register_controls(app: Flask, state: SandboxState) -> None:
    """``/_sandbox/…``: stats, request log, config, faults, balance and reset (no auth)."""

    def payload() -> dict[str, Any]:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}

    @app.get("/_sandbox/stats")
    def sandbox_stats() -> Any:
        ic_batches.advance_all(state)
        return jsonify(state.get_stats())

    @app.get("/_sandbox/requests")
    def sandbox_requests() -> Any:
        return jsonify(state.get_requests())

    @app.post("/_sandbox/config")
    def sandbox_config() -> Any:
        try:
            state.configure(**payload())
        except (ValueError, TypeError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(state.config)

    @app.post("/_sandbox/faults")
    def sandbox_faults() -> Any:
        body = payload()
        try:
            state.inject_faults(
                int(body.get("status", 0)),
                int(body.get("count", 1)),
                delay=float(body.get("delay", 0.0)),
                html=bool(body.get("html", False)),
                path=str(body.get("path", "")),
            )
        except (ValueError, TypeError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({"pending_faults": len(state.faults)})

    @app.post("/_sandbox/balance")
    def sandbox_balance() -> Any:
        value = payload().get("credits_available")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return jsonify({"error": "credits_available must be a number"}), 400
        ic_batches.advance_all(state)
        state.set_balance(float(value))
        return jsonify({"credits_available": state.balance})

    @app.post("/_sandbox/reset")
    def sandbox_reset() -> Any:
        value = payload().get("credits_available")
        state.reset(float(value) if isinstance(value, int | float) else None)
        return jsonify({"ok": True})


class InfluencersClubSandbox(ServedSandbox):
    """The influencers.club emulator on a loopback port, with a Python control API."""

    def __init__(
        self, *, api_key: str = "sandbox-key", balance: float = 1000.0, port: int = 0, **config: Any
    ) -> None:
        self.api_key = api_key
        self.state = SandboxState(api_key=api_key, balance=balance, **config)
        self.app = create_app(self.state)
        super().__init__(self.app, port=port)

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:53123``."""
        return self.base_url

    def configure(self, **config: Any) -> None:
        """Change config keys (same as ``POST /_sandbox/config``); unknown key → ``ValueError``."""
        self.state.configure(**config)

    def inject_faults(
        self,
        status: int,
        count: int = 1,
        *,
        delay: float = 0.0,
        html: bool = False,
        path: str = "",
    ) -> None:
        """Make the next ``count`` /public/ responses fail with ``status`` after ``delay``.

        With ``path`` only requests to exactly that path fail (e.g. the batch upload).
        """
        self.state.inject_faults(status, count, delay=delay, html=html, path=path)

    def set_balance(self, credits: float) -> None:
        """Set ``credits_available`` (batches are brought up to date first)."""
        ic_batches.advance_all(self.state)
        self.state.set_balance(credits)

    def stats(self) -> dict[str, Any]:
        """Request, billing and 429 counters; ``charges`` counts paid calls per creator.

        ``credits_charged`` is the sandbox's own total of everything it billed, and
        ``credits_by_kind`` splits it (``full``, ``raw``, ``profile``, ``email``,
        ``discovery``); ``email_charges`` counts paid lookups per address.
        """
        ic_batches.advance_all(self.state)
        return self.state.get_stats()

    def requests(self) -> list[dict[str, Any]]:
        """The request log: ``{"t", "start", "method", "path", "status", "credits", "endpoint"}``.

        ``start`` is when the request arrived (what the account's rate limit counts), ``t``
        when it was answered.
        """
        return self.state.get_requests()

    def count_max_window(self, seconds: float = 60.0) -> int:
        """The most requests that arrived within any ``seconds`` (the account's limit window)."""
        starts = sorted(r["start"] for r in self.state.get_requests())
        best = first = 0
        for last, start in enumerate(starts):
            while start - starts[first] >= seconds:
                first += 1
            best = max(best, last - first + 1)
        return best

    def charge_log(self) -> list[dict[str, Any]]:
        """Every per-creator (and per-e-mail) charge: time, key, what paid, kind and credits."""
        ic_batches.advance_all(self.state)
        with self.state.lock:
            return list(self.state.charge_log)

    def reset(self, balance: float | None = None) -> None:
        """Clear log, counters, faults, warm handles and batches; keep the balance unless given."""
        self.state.reset(balance)

    def check_image_url(self, url: str) -> bool:
        """Whether a picture URL handed out by the sandbox is still valid (signature and expiry)."""
        token = url.rsplit("/", 1)[-1].removesuffix(".jpg")
        try:
            parse_image_token(token, secret=self.state.image_secret)
        except ImageTokenError:
            return False
        return True
