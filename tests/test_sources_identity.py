"""What a source writes back for a record an e-mail lookup identified, and how it recognises it."""

from __future__ import annotations

import pytest

from connector.sources.base import RecordUpdate, Status, choose_identity_values
from connector.sources.hubspot.known import get_fingerprint
from connector.sources.sheets.rows import Snapshot, get_row_identity, names_creator, parse_layout


def found(handle: str = "jane", platform: str = "tiktok") -> RecordUpdate:
    return RecordUpdate(
        key="k", status=Status.ENRICHED, found_handle=handle, found_platform=platform
    )


@pytest.mark.parametrize(
    ("current_handle", "current_platform", "platform_field", "platform", "expected"),
    [
        ("", "", True, None, ("jane", "tiktok")),
        ("", "TikTok", True, None, ("jane", None)),
        ("", "instagram", True, None, (None, None)),
        ("", "???", True, None, (None, None)),
        ("", "", False, "tiktok", ("jane", None)),
        ("", "", False, "instagram", (None, None)),
        ("", "", False, None, ("https://www.tiktok.com/@jane", None)),
        ("typed_by_a_human", "", True, None, (None, None)),
    ],
)
def test_only_empty_fields_are_filled_in_a_form_read_back_as_the_same_creator(
    current_handle: str,
    current_platform: str,
    platform_field: bool,
    platform: str | None,
    expected: tuple[str | None, str | None],
) -> None:
    assert (
        choose_identity_values(
            found(),
            current_handle=current_handle,
            current_platform=current_platform,
            platform_field=platform_field,
            platform=platform,
        )
        == expected
    )


def test_nothing_is_written_for_a_record_identified_by_handle() -> None:
    update = RecordUpdate(key="k", status=Status.ENRICHED)
    assert choose_identity_values(
        update, current_handle="", current_platform="", platform_field=True, platform=None
    ) == (None, None)


def test_youtube_handles_become_channel_urls() -> None:
    assert choose_identity_values(
        found("@Jane", "youtube"),
        current_handle="",
        current_platform="",
        platform_field=False,
        platform=None,
    ) == ("https://www.youtube.com/@Jane", None)


def test_handle_only_fingerprints_are_unchanged_and_emails_count_when_given() -> None:
    assert get_fingerprint("jane", "instagram") == get_fingerprint("jane", "instagram", None)
    assert get_fingerprint("", "instagram", "a@x.io") != get_fingerprint("", "instagram", "b@x.io")
    assert get_fingerprint("", None, " A@X.io ") == get_fingerprint("", None, "a@x.io")


def test_a_sheet_row_keeps_its_identity_when_its_handle_is_filled() -> None:
    layout = parse_layout(["Handle", "Email"])
    before = Snapshot(layout, 2, {1: [""], 2: ["Jane@X.io"]})
    after = Snapshot(layout, 2, {1: ["jane"], 2: ["Jane@X.io"]})
    assert get_row_identity(before, 2, 1, 2) == get_row_identity(after, 2, 1, 2) == "jane@x.io"
    # A source that does not identify by e-mail keeps the handle as identity.
    assert get_row_identity(after, 2, 1, None) == "jane"


@pytest.mark.parametrize(
    ("identify_by", "handle", "email", "named"),
    [
        ("handle", "", "a@x.io", False),
        ("handle", "jane", "", True),
        ("handle_then_email", "", "a@x.io", True),
        ("handle_then_email", "", "", False),
        ("email", "jane", "", False),
        ("email", "", "a@x.io", True),
    ],
)
def test_a_row_names_a_creator_the_way_its_source_identifies_them(
    identify_by: str, handle: str, email: str, named: bool
) -> None:
    snapshot = Snapshot(parse_layout(["Handle", "Email"]), 2, {1: [handle], 2: [email]})
    assert names_creator(snapshot, 2, 1, 2, identify_by) is named
