"""The Slack and webhook receivers: what they record and the failures they can be told to give."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks import Webhook

from connector.sandbox.receivers import SLACK_ERROR_STATUS, SlackReceiver, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"receiver-test-secret-0123456789").decode()


def signed(body: str, msg_id: str = "msg_1", secret: str = SECRET) -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        "content-type": "application/json",
    }


def test_slack_receiver_answers_ok_and_records_the_message() -> None:
    with SlackReceiver() as slack:
        assert "/services/" in slack.url
        response = httpx.post(slack.url, json={"text": "hello"})
        assert (response.status_code, response.text) == (200, "ok")
        assert slack.messages() == [{"text": "hello"}]


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [("not json", 400, "invalid_payload"), (json.dumps({"icon": ":x:"}), 400, "no_text")],
)
def test_slack_receiver_rejects_bad_bodies_like_slack(body: str, status: int, text: str) -> None:
    with SlackReceiver() as slack:
        response = httpx.post(slack.url, content=body)
        assert (response.status_code, response.text) == (status, text)
        assert slack.messages() == []
        assert slack.requests()[0]["status"] == status


@pytest.mark.parametrize("error", ["no_service", "channel_is_archived", "invalid_payload"])
def test_slack_receiver_answers_the_requested_error_string(error: str) -> None:
    with SlackReceiver() as slack:
        slack.fail_next(error, count=2)
        for _ in range(2):
            response = httpx.post(slack.url, json={"text": "x"})
            assert (response.status_code, response.text) == (SLACK_ERROR_STATUS[error], error)
        assert httpx.post(slack.url, json={"text": "x"}).status_code == 200
        assert len(slack.messages()) == 1


def test_slack_receiver_rate_limits_with_retry_after() -> None:
    with SlackReceiver() as slack:
        slack.rate_limit_next(1, retry_after=7)
        response = httpx.post(slack.url, json={"text": "x"})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        slack.clear()
        assert slack.requests() == []


def test_webhook_receiver_verifies_signatures_when_given_the_secret() -> None:
    body = json.dumps({"version": 1, "type": "alert.test"})
    with WebhookReceiver(secret=SECRET) as hook:
        good = httpx.post(hook.url, content=body, headers=signed(body))
        other = "whsec_" + base64.b64encode(b"someone-else-entirely-0123456").decode()
        bad = httpx.post(hook.url, content=body, headers=signed(body, secret=other))
        unsigned = httpx.post(hook.url, content=body)
        assert (good.status_code, bad.status_code, unsigned.status_code) == (200, 401, 401)
        assert hook.messages() == [{"version": 1, "type": "alert.test"}]
        assert [r["verified"] for r in hook.requests()] == [True, False, False]
        assert hook.requests()[0]["headers"]["webhook-id"] == "msg_1"


def test_webhook_receiver_without_a_secret_accepts_anything() -> None:
    with WebhookReceiver() as hook:
        assert httpx.post(hook.url, json={"a": 1}).status_code == 200
        assert hook.requests()[0]["verified"] is None


def test_webhook_receiver_fails_on_request() -> None:
    with WebhookReceiver() as hook:
        hook.fail_next(503, count=1)
        hook.fail_next(429, retry_after=4)
        first = httpx.post(hook.url, json={})
        second = httpx.post(hook.url, json={})
        assert (first.status_code, second.status_code) == (503, 429)
        assert second.headers["retry-after"] == "4"
        assert httpx.post(hook.url, json={}).status_code == 200


def test_receiver_url_needs_a_started_server() -> None:
    receiver = SlackReceiver()
    with pytest.raises(RuntimeError, match="not started"):
        _ = receiver.url
