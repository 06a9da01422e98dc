"""Enrich by E-mail in the influencers.club sandbox: which creator an address belongs to.

``POST /public/v1/creators/enrich/email/`` with ``{"email"}`` answers the creator's strongest
platform only (reference §2.5): ``{"credits_cost": 0.05, "result": {"platform", "userId",
"url", "username", "fullname", "picture", "followers"}, "trial_searches_left"}``, billed 0.05;
a miss answers 400 ``creator_not_found`` like a handle miss, free. Nobody published a live
answer, so each address answers in one of two generations of key names, chosen by hash: the
documented one above, or the names the live Connected Socials answer uses
(``user_id``/``full_name``/``profile_picture``/``follower_count``, §2.6).

Which creator: the part before ``@`` (without a ``+tag``) is the creator's name. Names starting
with ``found``/``real`` always match, ``notfound``/``ghost``/``…missing…`` never, others by
``not_found_rate``. The platform is the one with the most followers among those whose username
rules fit the name, unless the tag names a platform (``found_ana+tiktok@example.com``).
"""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Blueprint, g, jsonify, request

from connector.sandbox.ic_state import SandboxState, get_insufficient_body
from connector.sandbox.profiles import build_creator, get_fraction, get_stats, is_not_found

EMAIL_PATH = "/public/v1/creators/enrich/email/"
PRICE = 0.05
# Platforms an e-mail can lead to (those with documented blocks), and their username rules.
PLATFORM_NAMES = {
    "instagram": re.compile(r"^[a-z0-9._]{1,30}$"),
    "tiktok": re.compile(r"^[a-z0-9._]{2,24}$"),
    "youtube": re.compile(r"^[a-z0-9._-]{1,100}$"),
    "twitter": re.compile(r"^[a-z0-9_]{1,15}$"),
    "twitch": re.compile(r"^[a-z0-9_]{3,25}$"),
}
_URLS = {
    "instagram": "https://www.instagram.com/{}",
    "tiktok": "https://www.tiktok.com/@{}",
    "youtube": "https://www.youtube.com/@{}",
    "twitter": "https://x.com/{}",
    "twitch": "https://www.twitch.tv/{}",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_MISS = {"error": "creator_not_found", "detail": "No data found for the provided input."}


def find_creator(email: str, *, not_found_rate: float = 0.05) -> tuple[str, str] | None:
    """``(platform, username)`` of the creator owning ``email``, or ``None`` (deterministic)."""
    local = email.strip().lower().partition("@")[0]
    name, _, tag = local.partition("+")
    username = re.sub(r"[^a-z0-9._]", "_", name).strip(".")[:30]
    if not username:
        return None
    platforms = [p for p, rule in PLATFORM_NAMES.items() if rule.match(username)]
    if tag in PLATFORM_NAMES:
        platforms = [tag] if tag in platforms else []
    if not platforms or is_not_found("email", username, not_found_rate):
        return None
    return max(platforms, key=lambda p: get_stats(p, username).followers), username


def build_email_result(
    email: str,
    *,
    not_found_rate: float = 0.05,
    image_base_url: str | None = None,
    image_lifetime: float = 86400,
    now: float | None = None,
) -> dict[str, Any] | None:
    """The ``result`` of an e-mail lookup (one of two key generations), or ``None``."""
    found = find_creator(email, not_found_rate=not_found_rate)
    if found is None:
        return None
    platform, username = found
    creator = build_creator(
        platform, username, image_base_url=image_base_url, image_lifetime=image_lifetime, now=now
    )
    stats = creator.stats
    url = _URLS[platform].format(username)
    if get_fraction("email", email.strip().lower(), "generation") < 0.5:
        return {
            "platform": platform,
            "userId": stats.user_id,
            "url": url,
            "username": username,
            "fullname": stats.full_name,
            "picture": creator.picture(),
            "followers": stats.followers,
        }
    return {
        "platform": platform,
        "user_id": stats.user_id,
        "url": url,
        "username": username,
        "full_name": stats.full_name,
        "profile_picture": creator.picture(),
        "follower_count": stats.followers,
    }


def check_email_body(body: Any) -> dict[str, list[str]]:
    """DRF-style field errors of an enrich-by-e-mail body (empty when valid)."""
    if not isinstance(body, dict):
        return {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    email = body.get("email")
    if email is None:
        return {"email": ["This field is required."]}
    if not isinstance(email, str) or not email.strip():
        return {"email": ["This field may not be blank."]}
    if not _EMAIL.match(email.strip()):
        return {"email": ["Enter a valid email address."]}
    return {}


def create_blueprint(state: SandboxState) -> Blueprint:
    """The Enrich by E-mail route (billed 0.05 on a hit, free on a miss)."""
    bp = Blueprint("ic_emails", __name__)

    @bp.post(EMAIL_PATH)
    def enrich_email() -> Any:
        body = request.get_json(silent=True)
        errors = check_email_body(body)
        if errors or not isinstance(body, dict):
            return jsonify({"error": errors}), 400
        time.sleep(state.get_latency())
        email = body["email"].strip().lower()
        config = state.config
        if not state.can_pay(PRICE):
            status = config["insufficient_credits_status"]
            return jsonify(get_insufficient_body(status)), status
        result = build_email_result(
            email,
            not_found_rate=config["not_found_rate"],
            image_base_url=request.host_url.rstrip("/"),
            image_lifetime=config["image_lifetime"],
        )
        if result is None:
            return jsonify(_MISS), 400
        if not state.charge(PRICE, email, "email", kind="email"):
            status = config["insufficient_credits_status"]
            return jsonify(get_insufficient_body(status)), status
        g.credits = PRICE
        return jsonify({"credits_cost": PRICE, "result": result, "trial_searches_left": 0})

    return bp
