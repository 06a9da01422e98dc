"""Log lines: key=value or JSON, and secrets never printed."""

from __future__ import annotations

import json
import logging

import pytest

from connector.logs import JsonFormatter, KeyValueFormatter, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-123", "abc.def-123"),
        ("redis://:s3cretpw@host:6379/0", "s3cretpw"),
        ("postgresql://user:pw0rd@db/x", "pw0rd"),
        ("api_key=sk_live_1", "sk_live_1"),
        ('{"token": "tok-9"}', "tok-9"),
        ("https://hooks.slack.com/services/T1/B2/xyz", "T1/B2/xyz"),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    assert secret not in redact(text)


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("connector.test", logging.INFO, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_key_value_lines_quote_values_with_spaces() -> None:
    line = KeyValueFormatter().format(record("row done", source="leads", error="not found"))
    assert 'event="row done" source=leads error="not found"' in line


def test_json_lines_are_one_object_and_redacted() -> None:
    line = JsonFormatter().format(record("call", detail="Bearer secret-token"))
    body = json.loads(line)
    assert body["event"] == "call" and "secret-token" not in line
