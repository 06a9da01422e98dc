"""Alert channels: Slack incoming webhooks (Block Kit) and Standard-Webhooks-signed JSON."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Protocol
from urllib.error import URLError
from urllib.parse import urlsplit

import httpx
from slack_sdk.errors import SlackRequestError
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient
from standardwebhooks import Webhook

from connector.alerts.messages import Alert, build_slack_message
from connector.config import AlertsSettings, SlackChannelSettings, WebhookChannelSettings
from connector.errors import ConfigError
from connector.logs import redact

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0
USER_AGENT = "influencers-club-connector"

# What Slack's incoming-webhook error strings mean and how to fix them.
SLACK_ERRORS = {
    "invalid_payload": "Slack could not parse the message (a bug: please report it)",
    "no_text": "the message had no text",
    "no_service": "the webhook was disabled or deleted: create a new one and update webhook_url",
    "no_service_id": "the webhook URL is incomplete: copy it again from Slack",
    "no_team": "the Slack workspace no longer exists or the URL is wrong",
    "team_disabled": "the Slack workspace is disabled",
    "invalid_token": "the webhook URL's token is invalid: create a new webhook",
    "channel_not_found": "the webhook's channel no longer exists: create a new webhook",
    "channel_is_archived": "the channel is archived: unarchive it or create a new webhook",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "posting_to_general_channel_denied": "only admins may post to this channel",
    "too_many_attachments": "the message has too many attachments",
    "rate_limited": "Slack rate-limited the webhook",
}


@dataclass(frozen=True)
class SendResult:
    """How one delivery ended; ``detail`` is safe to log and show (no URLs or secrets)."""

    ok: bool
    detail: str
    attempts: int = 1
    status: int | None = None


class Channel(Protocol):
    """Something that can deliver an ``Alert``; never raises for delivery failures."""

    name: str

    def send(self, alert: Alert) -> SendResult:
        """Deliver ``alert`` (with bounded retries) and say how it went."""
        ...


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def build_backoff(attempt: int, *, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with jitter for retry ``attempt`` (1-based)."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def describe_slack_error(status: int, body: str) -> str:
    """A clear message for a failed Slack webhook call, naming Slack's error string."""
    code = (body or "").strip().splitlines()[0][:100] if body and body.strip() else ""
    meaning = SLACK_ERRORS.get(code)
    if meaning:
        return f"Slack answered {status} {code}: {meaning}"
    return f"Slack answered {status} {code or '(empty body)'}"


class _SlackRetry(RetryHandler):
    """slack-sdk retry handler: 429 honouring ``Retry-After``, 5xx and network errors."""

    def __init__(self, max_retry_count: int, sleep: Callable[[float], None]) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleep = sleep
        self.gave_up: str | None = None
        self.attempts = 1

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None:
            if response.status_code == 429:
                wait = self._retry_after(response)
                if wait is not None and wait > MAX_RETRY_AFTER:
                    self.gave_up = f"Slack asked to retry after {wait:.0f} s"
                    return False
                return True
            return response.status_code >= 500
        return isinstance(error, URLError | OSError | HTTPException)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = self._retry_after(response) if response is not None else None
        if wait is None:
            wait = build_backoff(state.current_attempt + 1)
        self.sleep(wait + random.uniform(0, 0.25))
        state.increment_current_attempt()
        self.attempts += 1

    @staticmethod
    def _retry_after(response: HttpResponse) -> float | None:
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                return parse_retry_after(values[0])
        return None


class SlackChannel:
    """A Slack incoming webhook, posted to through slack-sdk's ``WebhookClient``."""

    def __init__(
        self,
        webhook_url: str,
        *,
        name: str = "slack",
        timeout: float = 10.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._url = webhook_url
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._sleep = sleep
        # slack-sdk logs the webhook URL at DEBUG and repeats our own errors; we log the outcome.
        self._logger = logging.getLogger("connector.alerts.channels.slack_sdk")
        self._logger.setLevel(logging.CRITICAL)

    def send(self, alert: Alert) -> SendResult:
        """Post the Block Kit message; Slack's error strings become clear details."""
        retry = _SlackRetry(self._max_attempts - 1, self._sleep)
        client = WebhookClient(
            self._url,
            timeout=max(1, math.ceil(self._timeout)),
            retry_handlers=[retry],
            logger=self._logger,
        )
        try:
            response = client.send_dict(build_slack_message(alert))
        except (URLError, OSError, HTTPException, SlackRequestError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            detail = redact(f"Slack unreachable: {type(exc).__name__}: {reason}")
            return SendResult(False, detail.replace(self._url, "<webhook_url>"), retry.attempts)
        attempts = retry.attempts
        if response.status_code == 200:
            return SendResult(True, "ok", attempts, 200)
        detail = describe_slack_error(response.status_code, response.body)
        if retry.gave_up:
            detail = f"{detail} ({retry.gave_up}; not retried)"
        elif response.status_code == 429 or response.status_code >= 500:
            detail = f"{detail} (after {attempts} attempts)"
        return SendResult(False, detail, attempts, response.status_code)


class WebhookChannel:
    """A generic HTTPS endpoint receiving the JSON payload, signed per Standard Webhooks."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        name: str = "webhook",
        timeout: float = 10.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self._signer = build_signer(secret)
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self._transport = transport

    def build_request(self, alert: Alert) -> tuple[str, dict[str, str]]:
        """The exact body and the signed headers for ``alert`` (the message id is ``alert.id``)."""
        body = json.dumps(alert.as_payload(), separators=(",", ":"), ensure_ascii=False)
        stamp = self._clock().astimezone(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": alert.id,
            "webhook-timestamp": str(math.floor(stamp.timestamp())),
            "webhook-signature": self._signer.sign(alert.id, stamp, body),
            "idempotency-key": alert.id,
        }
        return body, headers

    def send(self, alert: Alert) -> SendResult:
        """POST with bounded, jittered retries on timeouts, 429 (``Retry-After``) and 5xx."""
        safe_url = redact(self.url)
        detail = ""
        status: int | None = None
        with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
            for attempt in range(1, self._max_attempts + 1):
                # Re-signed each attempt: receivers reject stale timestamps, the id stays.
                body, headers = self.build_request(alert)
                wait: float | None = None
                try:
                    response = client.post(self.url, content=body.encode(), headers=headers)
                except httpx.HTTPError as exc:
                    status, detail = None, f"{type(exc).__name__} posting to {safe_url}"
                else:
                    status = response.status_code
                    if 200 <= status < 300:
                        return SendResult(True, f"{status}", attempt, status)
                    snippet = redact(response.text.strip()[:200])
                    detail = f"{safe_url} answered {status}" + (f": {snippet}" if snippet else "")
                    if status != 429 and status != 408 and status < 500:
                        return SendResult(False, detail, attempt, status)
                    wait = parse_retry_after(response.headers.get("retry-after"))
                    if wait is not None and wait > MAX_RETRY_AFTER:
                        return SendResult(
                            False,
                            f"{detail} (retry after {wait:.0f} s; not retried)",
                            attempt,
                            status,
                        )
                if attempt < self._max_attempts:
                    self._sleep(wait + random.uniform(0, 0.25) if wait else build_backoff(attempt))
        return SendResult(
            False, f"{detail} (after {self._max_attempts} attempts)", self._max_attempts, status
        )


def build_signer(secret: str) -> Webhook:
    """A Standard Webhooks signer; the secret is ``whsec_`` + base64 (or bare base64)."""
    try:
        return Webhook(secret)
    except Exception as exc:
        raise ConfigError(
            [
                "alerts.channels[].secret: not a Standard Webhooks secret "
                "(use whsec_ followed by base64, e.g. from `openssl rand -base64 32`)"
            ]
        ) from exc


def build_channels(
    settings: AlertsSettings, *, sleep: Callable[[float], None] = time.sleep
) -> list[Channel]:
    """One channel object per configured channel, named by ``name`` or ``<type>-<n>``."""
    channels: list[Channel] = []
    for index, config in enumerate(settings.channels, start=1):
        name = config.name or f"{config.type}-{index}"
        if isinstance(config, SlackChannelSettings):
            channels.append(
                SlackChannel(
                    config.webhook_url.get_secret_value(),
                    name=name,
                    timeout=settings.timeout,
                    max_attempts=settings.max_attempts,
                    sleep=sleep,
                )
            )
        elif isinstance(config, WebhookChannelSettings):
            if not _is_https_or_loopback(config.url):
                log.warning(
                    "alert webhook is not HTTPS: alerts travel in clear text",
                    extra={"channel": name, "url": redact(config.url)},
                )
            channels.append(
                WebhookChannel(
                    config.url,
                    config.secret.get_secret_value(),
                    name=name,
                    timeout=settings.timeout,
                    max_attempts=settings.max_attempts,
                    sleep=sleep,
                )
            )
    return channels


def _is_https_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or parts.hostname in ("127.0.0.1", "localhost", "::1")


def send_to_all(channels: Sequence[Channel], alert: Alert) -> list[tuple[Channel, SendResult]]:
    """Send ``alert`` to every channel; one failing channel never stops the others."""
    results = []
    for channel in channels:
        try:
            result = channel.send(alert)
        except Exception as exc:  # a channel bug must not lose the other deliveries
            log.exception("alert channel crashed", extra={"channel": channel.name})
            result = SendResult(False, redact(f"internal error: {type(exc).__name__}"))
        level = logging.INFO if result.ok else logging.WARNING
        log.log(
            level,
            "alert delivered" if result.ok else "alert delivery failed",
            extra={
                "channel": channel.name,
                "rule": alert.rule,
                "state": alert.state,
                "alert_id": alert.id,
                "detail": result.detail,
                "attempts": result.attempts,
            },
        )
        results.append((channel, result))
    return results
