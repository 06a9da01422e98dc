"""The account's shared request budget: its API key, its budget key and its pacing."""

from __future__ import annotations

import hashlib
import math

from connector.config import InfluencersClubSettings, Settings
from connector.ratelimit import RateBudget, build_storage

# Requests per minute left unused below the account's limit: the margin for requests that
# reach the API later than their slot was taken (see ``RateBudget``). Budgets under
# ``CAPPED_FROM`` a minute send too few requests for that delay to bunch them.
HEADROOM = 0.02
CAPPED_FROM = 50


def build_rate_budget(settings: Settings) -> RateBudget:
    """The account's request budget, paced smoothly, capped a little below the account's
    per-minute limit, and keyed by a hash of the API key."""
    rpm = settings.influencers_club.requests_per_minute
    step = math.gcd(rpm, 60)
    cap = (rpm - math.ceil(rpm * HEADROOM), 60) if rpm >= CAPPED_FROM else None
    return RateBudget(
        build_storage(settings.rate_limit_storage),
        limit=rpm // step,
        per_seconds=60 // step,
        key=get_budget_key(settings.influencers_club),
        cap=cap,
    )


def get_budget_key(settings: InfluencersClubSettings) -> str:
    """``influencers_club:<hash>``: one key per account, never the key itself."""
    key = get_api_key(settings)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16] if key else "no-key"
    return f"influencers_club:{digest}"


def get_api_key(settings: InfluencersClubSettings) -> str:
    """The configured API key without surrounding spaces or a pasted ``Bearer`` prefix."""
    key = (settings.api_key.get_secret_value() if settings.api_key else "").strip()
    if key.lower().startswith("bearer "):
        key = key[7:].strip()
    return key
