"""Identifying records: by handle, by e-mail, or the handle first and the e-mail as fallback."""

from __future__ import annotations

import pytest

from connector.pipeline.records import parse_records
from connector.sources.base import PendingRecord
from connector.store.models import LedgerKey, get_email_key


def record(handle: str, email: str | None, platform: str | None = "instagram") -> PendingRecord:
    return PendingRecord(
        key="k", identity="i", handle_text=handle, platform_text=platform, location="A2",
        email_text=email,
    )  # fmt: skip


def tier(platform: str) -> str:
    return "raw" if platform == "instagram" else "full"


@pytest.mark.parametrize(
    ("identify_by", "handle", "email", "key", "fill"),
    [
        ("handle", "@Jane", "jane@x.io", LedgerKey("instagram", "jane", "raw"), False),
        ("handle_then_email", "@Jane", "jane@x.io", LedgerKey("instagram", "jane", "raw"), False),
        ("handle_then_email", "", "Jane@X.io", get_email_key("jane@x.io"), True),
        # An unusable handle falls back to the e-mail, but is not overwritten later.
        ("handle_then_email", "n/a", "jane@x.io", get_email_key("jane@x.io"), False),
        ("email", "@Jane", "jane@x.io", get_email_key("jane@x.io"), False),
        ("email", "", "jane@x.io", get_email_key("jane@x.io"), True),
    ],
)
def test_records_are_identified_as_asked(
    identify_by: str, handle: str, email: str, key: LedgerKey, fill: bool
) -> None:
    [parsed], invalid = parse_records([record(handle, email)], tier, identify_by)
    assert invalid == []
    assert parsed.key == key and parsed.fill_handle is fill
    assert parsed.email == (key.handle_key if key.platform == "email" else None)


@pytest.mark.parametrize(
    ("identify_by", "handle", "email", "status"),
    [
        ("handle", "", "jane@x.io", "invalid handle: empty or placeholder value"),
        ("email", "@jane", "info@brand.com", "invalid e-mail: role-based address (info@)"),
        ("handle_then_email", "", "not-an-email", "invalid e-mail: not an e-mail address"),
        # Both unusable: the handle, typed first, is what is reported.
        ("handle_then_email", "two words", "info@brand.com", "invalid handle: contains spaces"),
    ],
)
def test_unusable_records_get_a_status_that_says_why(
    identify_by: str, handle: str, email: str, status: str
) -> None:
    parsed, [update] = parse_records([record(handle, email)], tier, identify_by)
    assert parsed == [] and update.status.startswith(status)
