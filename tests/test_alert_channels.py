"""Slack and signed-webhook channels over real HTTP on loopback: payloads, retries, errors."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from connector.alerts.channels import (
    SlackChannel,
    WebhookChannel,
    build_channels,
    parse_retry_after,
    send_to_all,
)
from connector.alerts.messages import PAYLOAD_VERSION, Alert, build_slack_message
from connector.config import AlertsSettings
from connector.errors import ConfigError
from connector.sandbox.receivers import SlackReceiver, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"channel-test-secret-abcdefghij").decode()
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def alert(**fields: Any) -> Alert:
    base: dict[str, Any] = {
        "id": "msg_0123456789abcdef",
        "type": "alert.firing",
        "rule": "low_balance",
        "state": "critical",
        "previous_state": "warn",
        "title": "CRITICAL: Low influencers.club credits",
        "text": "The balance is 80 credits, below the critical threshold of 100.",
        "occurred_at": NOW,
        "value": 80.0,
        "threshold": 100.0,
        "credits": {
            "balance": 80.0,
            "used": 920.0,
            "burn_rate_per_day": 40.0,
            "runout_date": "2026-11-27T00:00:00+00:00",
            "days_left": 2.0,
            "queued_cost": 12.0,
            "held_cost": 30.0,
        },
        "held": [
            {
                "run_id": "run-1",
                "source": "leads",
                "status": "held",
                "quote": 30.0,
                "reason": "needs 30 credits, balance is 8",
            }
        ],
        "dashboard_url": "https://connector.example.com/",
    }
    return Alert(**{**base, **fields})


def retry_waits(caplog: pytest.LogCaptureFixture) -> list[float | None]:
    """The wait of each retry the policy logged (None: its own backoff, a number: Retry-After)."""
    return [getattr(r, "wait", None) for r in caplog.records if r.name == "connector.retry"]


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    with SlackReceiver() as receiver:
        yield receiver


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET) as receiver:
        yield receiver


# --- Slack. -----------------------------------------------------------------------------------


def test_slack_message_is_block_kit_with_the_figures_and_a_dashboard_link() -> None:
    message = build_slack_message(alert())
    assert message["text"].startswith(":rotating_light: CRITICAL")
    text = "\n".join(
        part["text"]
        for block in message["blocks"]
        for part in [block.get("text") or {}, *block.get("fields", [])]
        if part
    )
    for fragment in ("*Balance*\n80 credits", "*Threshold*\n100", "40 / day", "2026-11-27"):
        assert fragment in text
    assert "`run-1` (leads): needs 30 credits" in text
    button = message["blocks"][4]["elements"][0]
    assert button["url"] == "https://connector.example.com/"


def test_slack_delivery_succeeds(slack: SlackReceiver) -> None:
    result = SlackChannel(slack.url, name="ops").send(alert())
    assert (result.ok, result.status, result.attempts) == (True, 200, 1)
    assert slack.messages()[0]["blocks"][0]["text"]["text"].startswith("CRITICAL")


def test_slack_429_honours_retry_after(
    slack: SlackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    slack.rate_limit_next(2, retry_after=3)
    result = SlackChannel(slack.url).send(alert())
    assert result.ok and result.attempts == 3
    assert retry_waits(caplog) == [3.0, 3.0]
    assert len(slack.requests()) == 3


def test_slack_429_gives_up_after_max_attempts(slack: SlackReceiver) -> None:
    slack.rate_limit_next(5, retry_after=1)
    result = SlackChannel(slack.url, max_attempts=3).send(alert())
    assert not result.ok
    assert result.detail == (
        "Slack answered 429 rate_limited: Slack rate-limited the webhook (after 3 attempts)"
    )


def test_slack_retry_after_beyond_the_limit_is_not_waited_for(
    slack: SlackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    slack.rate_limit_next(1, retry_after=3600)
    result = SlackChannel(slack.url).send(alert())
    assert not result.ok and retry_waits(caplog) == []
    assert "retry after 3600 s; not retried" in result.detail


@pytest.mark.parametrize(
    ("error", "status", "meaning"),
    [
        ("invalid_payload", 400, "could not parse"),
        ("no_service", 404, "disabled or deleted"),
        ("channel_is_archived", 410, "archived"),
        ("action_prohibited", 403, "admin restricted"),
        ("posting_to_general_channel_denied", 403, "only admins"),
        ("something_new", 400, ""),
    ],
)
def test_slack_error_strings_are_reported_clearly_without_retrying(
    slack: SlackReceiver, error: str, status: int, meaning: str
) -> None:
    slack.fail_next(error, status=status)
    result = SlackChannel(slack.url).send(alert())
    assert not result.ok
    assert result.status == status
    assert result.detail.startswith(f"Slack answered {status} {error}")
    assert meaning in result.detail
    assert len(slack.requests()) == 1


def test_slack_5xx_is_retried(slack: SlackReceiver) -> None:
    slack.fail_next("rollup_error")
    result = SlackChannel(slack.url).send(alert())
    assert result.ok and result.attempts == 2


def test_unreachable_slack_never_leaks_the_webhook_url(caplog: pytest.LogCaptureFixture) -> None:
    url = "http://127.0.0.1:9/services/T000/B000/very-secret-token"
    with caplog.at_level(logging.DEBUG):
        [(_, result)] = send_to_all([SlackChannel(url, name="ops")], alert())
    assert not result.ok
    assert result.detail.startswith("Slack unreachable: URLError")
    assert result.attempts == 4 and len(retry_waits(caplog)) == 3
    assert "very-secret-token" not in result.detail
    assert "very-secret-token" not in caplog.text
    assert "alert delivery failed" in caplog.text


# --- Signed webhooks. -------------------------------------------------------------------------


def test_webhook_body_is_versioned_and_signed_per_standard_webhooks(hook: WebhookReceiver) -> None:
    channel = WebhookChannel(hook.url, SECRET, name="ops-hook")
    body, headers = channel.build_request(alert())
    payload = Webhook(SECRET).verify(body, headers)
    assert payload["version"] == PAYLOAD_VERSION == 1
    assert payload["type"] == "alert.firing"
    assert payload["occurred_at"] == "2026-11-25T12:00:00Z"
    assert set(payload) == {
        "version",
        "type",
        "id",
        "occurred_at",
        "rule",
        "state",
        "previous_state",
        "title",
        "text",
        "value",
        "threshold",
        "credits",
        "held",
        "details",
        "dashboard_url",
    }
    assert headers["webhook-id"] == headers["idempotency-key"] == "msg_0123456789abcdef"
    result = channel.send(alert())
    assert result.ok
    [received] = hook.requests()
    assert received["verified"] is True
    assert received["headers"]["webhook-id"] == "msg_0123456789abcdef"


def test_a_wrong_secret_fails_verification_and_is_not_retried(
    hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret!").decode()
    result = WebhookChannel(hook.url, other).send(alert())
    assert not result.ok and result.status == 401
    assert retry_waits(caplog) == []
    assert hook.messages() == []
    assert hook.requests()[0]["verified"] is False


def test_webhook_retries_5xx_and_429_with_the_same_message_id(
    hook: WebhookReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    hook.fail_next(503)
    hook.fail_next(429, retry_after=2)
    result = WebhookChannel(hook.url, SECRET).send(alert())
    assert result.ok and result.attempts == 3
    assert retry_waits(caplog) == [None, 2.0]
    ids = {r["headers"]["webhook-id"] for r in hook.requests()}
    assert ids == {"msg_0123456789abcdef"}
    assert len(hook.messages()) == 1


def test_webhook_timeouts_are_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    channel = WebhookChannel(
        "https://hooks.example.com/x?token=abc123",
        SECRET,
        max_attempts=3,
        transport=httpx.MockTransport(timeout),
    )
    result = channel.send(alert())
    assert not result.ok and result.attempts == 3
    assert len(retry_waits(caplog)) == 2
    assert result.detail.startswith("ReadTimeout posting to https://hooks.example.com/x?**********")
    assert "abc123" not in result.detail


def test_webhook_4xx_is_final(hook: WebhookReceiver) -> None:
    hook.fail_next(422)
    result = WebhookChannel(hook.url, SECRET).send(alert())
    assert (result.ok, result.status, result.attempts) == (False, 422, 1)


def test_stale_signatures_are_rejected_by_the_receiver(hook: WebhookReceiver) -> None:
    old = WebhookChannel(hook.url, SECRET, max_attempts=1, clock=lambda: NOW - timedelta(days=1))
    result = old.send(alert())
    assert not result.ok and result.status == 401
    assert "too old" in hook.requests()[0]["error"]


# --- Helpers and configuration. ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("7", 7.0), ("1.5", 1.5), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date() -> None:
    header = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(header, now=NOW) == 30.0


def test_channels_are_built_from_settings_with_names() -> None:
    settings = AlertsSettings.model_validate(
        {
            "channels": [
                {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/x"},
                {"type": "webhook", "url": "https://example.com/h", "secret": SECRET, "name": "pd"},
            ]
        }
    )
    assert [c.name for c in build_channels(settings)] == ["slack-1", "pd"]


def test_a_plain_http_webhook_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    settings = AlertsSettings.model_validate(
        {"channels": [{"type": "webhook", "url": "http://ops.example.com/h", "secret": SECRET}]}
    )
    with caplog.at_level(logging.WARNING, logger="connector.alerts.channels"):
        build_channels(settings)
    assert "not HTTPS" in caplog.text


def test_a_secret_that_is_not_base64_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="whsec_"):
        WebhookChannel("https://example.com/h", "not base64!")
