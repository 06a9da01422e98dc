"""Mutable state of the influencers.club sandbox: config, balance, counters, rate window, faults."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.sandbox.images import DEFAULT_SECRET
from connector.sandbox.profiles import get_fraction

# 402/403 answer as out of credits: the balance was spent elsewhere (another key of the account)
# between the connector's balance check and its call.
FAULT_STATUSES = (402, 403, 429, 500, 502, 503, 504)
CSV_RESULTS = ("404", "csv")
WINDOW_SECONDS = 60.0

# ``insufficient_credits_status``: the reference has no observation of what a single call
# returns at zero balance (§10.3); the live API answered 403, so ``faults: realistic`` uses that
# and the default stays 402, the other plausible answer.
DEFAULT_CONFIG: dict[str, Any] = {
    "faults": "none",
    "gateway_error_rate": 0.0,
    "throttle_rate": 0.0,
    "retry_after_format": "seconds",
    "fault_seed": None,
    "latency": 0.0,
    "jitter": 0.0,
    "rate_limit_per_minute": 300,
    "send_retry_after": True,
    "not_found_rate": 0.05,
    "no_email_rate": 0.3,
    "cold_rate": 0.0,
    "cold_delay": 0.5,
    "bill_cold_504": False,
    "bill_disconnected_full": False,
    "batch_rows_per_second": 50.0,
    "batch_queued_seconds": 0.5,
    "batch_csv_results": "404",
    "image_lifetime": 86400.0,
    "insufficient_credits_status": 402,
    "singular_credits_path_404": True,
}
# What ``faults: realistic`` turns on (explicit keys in the same call win): the gateway's
# random HTML 502s on any call, a few 429s from other keys of the same account (the limit is
# per account) with Retry-After as seconds or as an HTTP date, cold Full calls that answer 504
# once and are warm afterwards, and out-of-credits as 403.
REALISTIC: dict[str, Any] = {
    "gateway_error_rate": 0.02,
    "throttle_rate": 0.005,
    "cold_rate": 0.05,
    "retry_after_format": "both",
    "insufficient_credits_status": 403,
}
FAULT_PRESETS = ("none", "realistic")
RETRY_AFTER_FORMATS = ("seconds", "date", "both")
_FRACTIONS = (
    "not_found_rate",
    "no_email_rate",
    "cold_rate",
    "gateway_error_rate",
    "throttle_rate",
)
_SECONDS = ("latency", "jitter", "cold_delay", "batch_queued_seconds", "image_lifetime")
_FLAGS = (
    "send_retry_after",
    "bill_cold_504",
    "bill_disconnected_full",
    "singular_credits_path_404",
)


def check_config(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate sandbox config keys and return them normalised; raise ``ValueError`` otherwise."""
    checked: dict[str, Any] = {}
    if values.get("faults") in FAULT_PRESETS:
        preset = REALISTIC if values["faults"] == "realistic" else {}
        # A preset first, then the keys given with it: `faults: realistic, cold_rate: 0` works.
        values = {**{k: preset.get(k, DEFAULT_CONFIG[k]) for k in REALISTIC}, **values}
    for key, value in values.items():
        if key not in DEFAULT_CONFIG:
            raise ValueError(
                f"unknown sandbox config key {key!r} (known: {', '.join(DEFAULT_CONFIG)})"
            )
        if key in _FLAGS:
            if not isinstance(value, bool):
                raise ValueError(f"{key} must be true or false")
            checked[key] = value
            continue
        if key == "batch_csv_results":
            if str(value) not in CSV_RESULTS:
                raise ValueError(f"batch_csv_results must be one of {CSV_RESULTS}")
            checked[key] = str(value)
            continue
        if key in ("faults", "retry_after_format"):
            allowed = FAULT_PRESETS if key == "faults" else RETRY_AFTER_FORMATS
            if value not in allowed:
                raise ValueError(f"{key} must be one of {', '.join(allowed)}")
            checked[key] = value
            continue
        if key == "fault_seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError("fault_seed must be a whole number or null")
            checked[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} must be a number")
        if key in _FRACTIONS and not 0 <= value <= 1:
            raise ValueError(f"{key} must be between 0 and 1")
        if key in _SECONDS and value < 0:
            raise ValueError(f"{key} must be >= 0 seconds")
        if key in ("rate_limit_per_minute", "batch_rows_per_second") and value <= 0:
            raise ValueError(f"{key} must be > 0")
        if key == "insufficient_credits_status" and not 400 <= value <= 599:
            raise ValueError("insufficient_credits_status must be an HTTP error status")
        integral = key in ("rate_limit_per_minute", "insufficient_credits_status")
        checked[key] = int(value) if integral else float(value)
    return checked


def get_insufficient_body(status: int) -> dict[str, str]:
    """What a call the balance cannot pay answers: a DRF permission refusal when 403."""
    if status == 403:
        return {"detail": "You do not have enough credits to perform this action."}
    return {"detail": "Insufficient credits", "code": "insufficient_credits"}


@dataclass(frozen=True)
class Fault:
    """One injected failure for the next /public/ response (to exactly ``path``, when given)."""

    status: int
    delay: float
    html: bool
    path: str = ""


class SandboxState:
    """Everything the sandbox remembers; every mutation happens under ``lock``."""

    def __init__(
        self, *, api_key: str = "sandbox-key", balance: float = 1000.0, **config: Any
    ) -> None:
        self.lock = threading.RLock()
        self.api_key = api_key
        self.image_secret = DEFAULT_SECRET
        self.config: dict[str, Any] = {**DEFAULT_CONFIG, **check_config(config)}
        self.rng = random.Random(self.config["fault_seed"])
        self.balance = float(balance)
        self.batches: dict[str, Any] = {}
        self._clear()

    def _clear(self) -> None:
        self.credits_used = 0.0
        self.log: list[dict[str, Any]] = []
        self.by_endpoint: Counter[str] = Counter()
        self.http_429 = 0
        self.disconnected = 0
        self.charges: Counter[str] = Counter()
        self.email_charges: Counter[str] = Counter()
        self.credits_by_kind: dict[str, float] = {}
        self.charge_log: list[dict[str, Any]] = []
        self.discovery_charges: Counter[str] = Counter()
        self.discovery_credits = 0.0
        self.image_requests = 0
        self.faults: deque[Fault] = deque()
        self.windows: dict[str, deque[float]] = {}
        self.warm: set[tuple[str, str]] = set()
        self.batches.clear()

    def configure(self, **config: Any) -> None:
        """Change config keys (validated first, so a bad key changes nothing)."""
        checked = check_config(config)
        with self.lock:
            self.config.update(checked)
            if "fault_seed" in checked:
                self.rng = random.Random(checked["fault_seed"])

    def reset(self, balance: float | None = None) -> None:
        """Forget the log, counters, faults and batches; keep the balance unless given."""
        with self.lock:
            self._clear()
            if balance is not None:
                self.balance = float(balance)

    def set_balance(self, credits: float) -> None:
        """Set ``credits_available``."""
        with self.lock:
            self.balance = float(credits)

    def inject_faults(
        self,
        status: int,
        count: int = 1,
        *,
        delay: float = 0.0,
        html: bool = False,
        path: str = "",
    ) -> None:
        """Make the next ``count`` /public/ responses (to exactly ``path``, when given) fail."""
        if status not in FAULT_STATUSES:
            raise ValueError(f"fault status must be one of {FAULT_STATUSES}")
        if count < 0 or delay < 0:
            raise ValueError("count and delay must be >= 0")
        if path and not path.startswith("/public/"):
            raise ValueError("a fault path must start with /public/")
        with self.lock:
            self.faults.extend(Fault(status, float(delay), bool(html), path) for _ in range(count))

    def take_fault(self, path: str = "") -> Fault | None:
        """Pop the first injected fault meant for a request to ``path``, if any."""
        with self.lock:
            for fault in self.faults:
                if fault.path in ("", path):
                    self.faults.remove(fault)
                    return fault
            return None

    def take_random_fault(self) -> int | None:
        """The status of a random fault for this request (502 or 429), or None."""
        with self.lock:
            roll = self.rng.random()
            gateway, throttle = self.config["gateway_error_rate"], self.config["throttle_rate"]
        if roll < gateway:
            return 502
        if roll < gateway + throttle:
            return 429
        return None

    def use_http_date(self) -> bool:
        """Whether the next ``Retry-After`` is an HTTP date (else delta-seconds)."""
        form = self.config["retry_after_format"]
        if form != "both":
            return bool(form == "date")
        with self.lock:
            return self.rng.random() < 0.5

    def hit_rate_limit(self, key: str, now: float | None = None) -> int | None:
        """Record one request for ``key``; return seconds to wait when the window is full.

        Like DRF's throttles, a throttled request does not take a slot in the window.
        """
        now = time.time() if now is None else now
        with self.lock:
            window = self.windows.setdefault(key, deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= self.config["rate_limit_per_minute"]:
                return max(1, math.ceil(window[0] + WINDOW_SECONDS - now))
            window.append(now)
            return None

    def get_latency(self) -> float:
        """Seconds to sleep before answering an enrichment or discovery call."""
        latency, jitter = self.config["latency"], self.config["jitter"]
        return max(0.0, latency + (random.uniform(-jitter, jitter) if jitter else 0.0))

    def take_cold(self, platform: str, identity: str) -> bool:
        """Whether this call is the first, cold one for a cold creator (then it is warm)."""
        with self.lock:
            if (platform, identity) in self.warm:
                return False
            self.warm.add((platform, identity))
            return get_fraction(platform, identity, "cold") < self.config["cold_rate"]

    def can_pay(self, amount: float) -> bool:
        """Whether the balance covers ``amount``."""
        with self.lock:
            return self.balance + 1e-9 >= amount

    def charge(
        self, amount: float, key: str | None = None, via: str = "", kind: str = "full"
    ) -> bool:
        """Deduct ``amount`` (False when the balance cannot pay) and count it against ``key``.

        ``via`` says what paid (``full``, ``raw``, ``batch:<id>``) for the charge log; ``kind``
        is what was bought (``full``, ``raw``, ``profile``, ``email``, ``discovery``): every
        credit billed is counted under one kind in ``credits_by_kind``. Per-creator counters:
        ``charges`` (``platform:handle`` for Full, ``<tier>|platform:handle`` for cheaper
        tiers) and ``email_charges`` (per address).
        """
        with self.lock:
            if self.balance + 1e-9 < amount:
                return False
            self.balance = round(self.balance - amount, 6)
            self.credits_used = round(self.credits_used + amount, 6)
            self.credits_by_kind[kind] = round(self.credits_by_kind.get(kind, 0.0) + amount, 6)
            if key is not None:
                if kind == "email":
                    self.email_charges[key] += 1
                else:
                    self.charges[key if kind == "full" else f"{kind}|{key}"] += 1
                self.charge_log.append(
                    {"t": time.time(), "key": key, "via": via, "kind": kind, "credits": amount}
                )
            return True

    def charge_discovery(self, amount: float, keys: list[str]) -> bool:
        """Deduct a discovery page's price and count each returned creator."""
        with self.lock:
            if not self.charge(amount, kind="discovery"):
                return False
            self.discovery_credits = round(self.discovery_credits + amount, 6)
            self.discovery_charges.update(keys)
            return True

    def record(
        self,
        method: str,
        path: str,
        status: int,
        credits: float,
        endpoint: str | None,
        *,
        start: float | None = None,
    ) -> None:
        """Append one /public/ request to the log and the counters."""
        with self.lock:
            name = endpoint or "unknown"
            now = time.time()
            self.log.append(
                {
                    "t": now,
                    "start": now if start is None else start,
                    "method": method,
                    "path": path,
                    "status": status,
                    "credits": credits,
                    "endpoint": name,
                }
            )
            self.by_endpoint[name] += 1
            if status == 429:
                self.http_429 += 1

    def get_stats(self) -> dict[str, Any]:
        """Counters for tests and benchmarks (``charges`` proves nobody paid twice)."""
        with self.lock:
            return {
                "requests": len(self.log),
                "requests_by_endpoint": dict(self.by_endpoint),
                "credits_charged": self.credits_used,
                "http_429": self.http_429,
                "disconnected_unbilled": self.disconnected,
                "balance": self.balance,
                "credits_used": self.credits_used,
                "charges": dict(self.charges),
                "email_charges": dict(self.email_charges),
                "credits_by_kind": dict(self.credits_by_kind),
                "discovery_charges": dict(self.discovery_charges),
                "discovery_credits": self.discovery_credits,
                "image_requests": self.image_requests,
                "batches": len(self.batches),
            }

    def get_requests(self) -> list[dict[str, Any]]:
        """A copy of the request log."""
        with self.lock:
            return [dict(entry) for entry in self.log]
