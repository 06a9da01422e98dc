"""The contract every source (sheet, HubSpot list) fulfils for the pipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from connector.errors import InvalidHandleError
from connector.handles import format_profile_url, parse_platform


class Status:
    """The status vocabulary written into a record's status cell/property."""

    QUEUED = "queued"
    ENRICHING = "enriching"
    ENRICHED = "enriched"
    NOT_FOUND = "not found"
    INVALID = "invalid handle"
    INVALID_EMAIL = "invalid e-mail"
    NO_CREATOR = "no creator for this e-mail"
    AWAITING_CREDITS = "awaiting credits"
    AWAITING_APPROVAL = "awaiting approval"
    ERROR = "error"
    RETRY = "retry"

    ALL = (
        QUEUED,
        ENRICHING,
        ENRICHED,
        NOT_FOUND,
        INVALID,
        INVALID_EMAIL,
        NO_CREATOR,
        AWAITING_CREDITS,
        AWAITING_APPROVAL,
        ERROR,
    )


@dataclass(frozen=True)
class PendingRecord:
    """One record that needs enrichment, as read from a source.

    ``key`` identifies the record for write-back: for a sheet it is the claim token written into
    the status cell (rows move, tokens do not); for HubSpot it is the contact id.
    ``current`` holds the record's present values of the mapping's targets, for write policies.
    ``identity`` is stable across claims (sheet: the trimmed, lower-cased handle text; HubSpot:
    the contact id) and keys the store's "last written" hashes for write policies.
    ``location`` is for humans and error messages (``Leads!B7``, ``contact 1234``).
    ``retry`` is True when the record's status said ``retry``: a human asked for another try.
    ``email_text`` is the record's e-mail when the source identifies creators by e-mail too.
    """

    key: str
    identity: str
    handle_text: str
    platform_text: str | None
    location: str
    current: Mapping[str, Any] = field(default_factory=dict)
    retry: bool = False
    email_text: str | None = None


@dataclass(frozen=True)
class RecordUpdate:
    """What to write back to one record: mapped values plus status, error and enriched-at.

    ``found_handle``/``found_platform``: the creator an e-mail lookup found for a record whose
    handle was empty; the source writes them only into empty cells/properties (``fill_empty``),
    so later runs skip the lookup. ``email_text`` is the record's normalised e-mail.
    """

    key: str
    status: str
    values: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""
    enriched_at: datetime | None = None
    handle_text: str | None = None
    found_handle: str | None = None
    found_platform: str | None = None
    email_text: str | None = None


def choose_identity_values(
    update: RecordUpdate,
    *,
    current_handle: str,
    current_platform: str,
    platform_field: bool,
    platform: str | None,
) -> tuple[str | None, str | None]:
    """(handle, platform) to write into a record an e-mail lookup identified; None: leave.

    Only empty fields are filled (``fill_empty``: never overwrite what a human typed), and only
    in a form the next poll reads back as the same creator: the username plus the platform
    when the record has a platform field; the username alone when the source's fixed platform
    is the creator's; a profile URL when the source names no platform. When the record's
    platform (or the source's) names another network, nothing is written: the next run finds
    the creator again from the e-mail ledger, at no cost.
    """
    handle, found = update.found_handle, update.found_platform
    if not handle or not found or current_handle.strip():
        return None, None
    if platform_field:
        try:
            typed = parse_platform(current_platform)
        except InvalidHandleError:
            return None, None
        if typed is None:
            return handle, found
        return (handle, None) if typed == found else (None, None)
    if platform is None:
        return format_profile_url(found, handle), None
    return (handle, None) if platform == found else (None, None)


@dataclass
class WriteResult:
    """Outcome of a write-back: written keys, keys not found any more, and per-key failures."""

    written: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class RetryRequest:
    """What ``write_retry`` did: the records now saying ``retry``, and those it left alone."""

    marked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@runtime_checkable
class Source(Protocol):
    """A place holding handles: read pending records, write results back.

    Implementations translate every library exception into ``connector.errors`` classes:
    ``SourceError`` when the source is unusable (unshared sheet, deleted list),
    ``AuthError`` for rejected credentials, ``RetryableError`` for 429/5xx after retries.
    """

    name: str
    kind: str

    def fetch_pending(self, *, claim: bool = True) -> list[PendingRecord]:
        """Return records whose handle is set and status empty (or ``retry``, or stale claims).

        With ``claim=True`` the records are claimed (status ``queued`` plus a token) so that no
        other worker picks them; with ``claim=False`` nothing is written (dry run).
        """
        ...

    def mark(self, keys: Sequence[str], status: str, error: str = "") -> WriteResult:
        """Set only the status (and error) of claimed records, keeping their claim."""
        ...

    def write_back(self, updates: Sequence[RecordUpdate]) -> WriteResult:
        """Write mapped values, status, error and enriched-at; verify the record first."""
        ...

    def check(self) -> list[str]:
        """Return human-readable problems (access, headers/properties, mapping lint)."""
        ...

    def write_retry(self, *, errors: bool = False, rows: Sequence[str] = ()) -> RetryRequest:
        """Set the status of records to ``retry``, as a human would type it.

        ``errors`` selects every record whose status is ``error``; ``rows`` names records
        (sheet row numbers, HubSpot contact ids). A record being worked on is skipped.
        """
        ...
