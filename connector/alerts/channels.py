"""Alert channels: Slack incoming webhooks (Block Kit) and Standard-Webhooks-signed JSON."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any, Protocol
from urllib.error import URLError
from urllib.parse import urlsplit

import httpx
from slack_sdk.errors import SlackRequestError
from slack_sdk.webhook import WebhookClient
from standardwebhooks import Webhook

from connector.alerts.messages import Alert, build_slack_message
from connector.config import (
    AlertsSettings,
    SlackChannelSettings,
    WebhookChannelSettings,
    mask_url,
)
from connector.errors import ConfigError, RetryableError, TransientError
from connector.logs import redact
from connector.retry import RetryPolicy, call_with_retries

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0
CHANNEL_RETRY = RetryPolicy(wait_initial=0.5, wait_max=30.0, wait_jitter=0.25)
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


def describe_slack_error(status: int, body: str) -> str:
    """A clear message for a failed Slack webhook call, naming Slack's error string."""
    code = (body or "").strip().splitlines()[0][:100] if body and body.strip() else ""
    meaning = SLACK_ERRORS.get(code)
    if meaning:
        return f"Slack answered {status} {code}: {meaning}"
    return f"Slack answered {status} {code or '(empty body)'}"


def _retry_after_of(headers: Mapping[str, Any]) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after" and value:
            return parse_retry_after(value[0] if isinstance(value, list) else str(value))
    return None


def _send_with_retries(post: Callable[[], SendResult], *, attempts: int, what: str) -> SendResult:
    """Run ``post`` with the channel retry policy; a last failed ``SendResult`` says how it ended.

    ``post`` raises ``DeliveryFailed`` (retryable) for network errors, 408, 429 and 5xx. A
    ``Retry-After`` beyond ``MAX_RETRY_AFTER`` is not waited for: the next check alerts again.
    """
    tries: list[DeliveryFailed] = []

    def attempt() -> SendResult:
        try:
            return post()
        except DeliveryFailed as exc:
            tries.append(exc)
            raise

    def check(error: RetryableError) -> bool:
        return error.retry_after is None or error.retry_after <= MAX_RETRY_AFTER

    policy = replace(CHANNEL_RETRY, attempts=attempts)
    try:
        return call_with_retries(attempt, policy=policy, what=what, should_retry=check)
    except DeliveryFailed as exc:
        wait = exc.retry_after
        if wait is not None and wait > MAX_RETRY_AFTER:
            note = f"{exc.who} asked to retry after {wait:.0f} s; not retried"
        else:
            note = f"after {len(tries)} attempts"
        return SendResult(False, f"{exc.detail} ({note})", len(tries), exc.status)


class DeliveryFailed(TransientError):
    """A failed delivery attempt another attempt may fix: network errors, 408, 429, 5xx."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        who: str = "the receiver",
    ) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.detail = detail
        self.status = status
        self.who = who


def is_transient(status: int) -> bool:
    """Whether a receiver's status means "try again later"."""
    return status in (408, 429) or status >= 500


class SlackChannel:
    """A Slack incoming webhook, posted to through slack-sdk's ``WebhookClient``."""

    def __init__(
        self,
        webhook_url: str,
        *,
        name: str = "slack",
        timeout: float = 10.0,
        max_attempts: int = 4,
    ) -> None:
        self.name = name
        self._url = webhook_url
        self._timeout = timeout
        self._max_attempts = max_attempts
        # slack-sdk logs the webhook URL at DEBUG and repeats our own errors; we log the outcome.
        self._logger = logging.getLogger("connector.alerts.channels.slack_sdk")
        self._logger.setLevel(logging.CRITICAL)

    def send(self, alert: Alert) -> SendResult:
        """Post the Block Kit message; Slack's error strings become clear details."""
        # Retries are ours (one policy for every channel), not slack-sdk's handlers.
        client = WebhookClient(
            self._url,
            timeout=max(1, math.ceil(self._timeout)),
            retry_handlers=[],
            logger=self._logger,
        )
        message = build_slack_message(alert)
        tries = 0

        def post() -> SendResult:
            nonlocal tries
            tries += 1
            try:
                response = client.send_dict(message)
            except (URLError, OSError, HTTPException, SlackRequestError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                detail = redact(f"Slack unreachable: {type(exc).__name__}: {reason}")
                raise DeliveryFailed(detail.replace(self._url, "<webhook_url>")) from exc
            status = response.status_code
            if status == 200:
                return SendResult(True, "ok", tries, 200)
            detail = describe_slack_error(status, response.body)
            if status != 429 and status < 500:
                return SendResult(False, detail, tries, status)
            raise DeliveryFailed(
                detail,
                status=response.status_code,
                retry_after=_retry_after_of(response.headers or {}),
                who="Slack",
            )

        return _send_with_retries(post, attempts=self._max_attempts, what=f"alert to {self.name}")


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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self._signer = build_signer(secret)
        self._timeout = timeout
        self._max_attempts = max_attempts
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
        safe_url = mask_url(self.url)
        tries = 0
        with httpx.Client(timeout=self._timeout, transport=self._transport) as client:

            def post() -> SendResult:
                nonlocal tries
                tries += 1
                # Re-signed each attempt: receivers reject stale timestamps, the id stays.
                body, headers = self.build_request(alert)
                try:
                    response = client.post(self.url, content=body.encode(), headers=headers)
                except httpx.HTTPError as exc:
                    raise DeliveryFailed(f"{type(exc).__name__} posting to {safe_url}") from exc
                status = response.status_code
                if 200 <= status < 300:
                    return SendResult(True, f"{status}", tries, status)
                snippet = redact(response.text.strip()[:200])
                detail = f"{safe_url} answered {status}" + (f": {snippet}" if snippet else "")
                if not is_transient(status):
                    return SendResult(False, detail, tries, status)
                raise DeliveryFailed(
                    detail,
                    status=status,
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                    who=safe_url,
                )

            return _send_with_retries(
                post, attempts=self._max_attempts, what=f"alert to {self.name}"
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


def build_channels(settings: AlertsSettings) -> list[Channel]:
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
                )
            )
        elif isinstance(config, WebhookChannelSettings):
            url = config.url.get_secret_value()
            if not _is_https_or_loopback(url):
                log.warning(
                    "alert webhook is not HTTPS: alerts travel in clear text",
                    extra={"channel": name, "url": mask_url(url)},
                )
            channels.append(
                WebhookChannel(
                    url,
                    config.secret.get_secret_value(),
                    name=name,
                    timeout=settings.timeout,
                    max_attempts=settings.max_attempts,
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
