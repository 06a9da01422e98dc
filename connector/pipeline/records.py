"""Pending records identified: a creator's ledger key, an e-mail to look up, or a status why not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connector.emails import parse_email
from connector.errors import InvalidEmailError, InvalidHandleError, RowError
from connector.handles import parse_handle
from connector.sources.base import PendingRecord, RecordUpdate, Status
from connector.store.models import LedgerKey, get_email_key


@dataclass(frozen=True)
class Parsed:
    """A pending record with its normalised ledger key.

    A record identified by e-mail carries the e-mail key (``get_email_key``) until the lookup
    names its creator; ``email`` is the normalised address and ``fill_handle`` says its handle
    was empty, so the handle found is written back.
    """

    record: PendingRecord
    key: LedgerKey
    handle_value: str
    email: str | None = None
    fill_handle: bool = False


def parse_records(
    records: Sequence[PendingRecord],
    mode: Callable[[str], str],
    identify_by: str = "handle",
) -> tuple[list[Parsed], list[RecordUpdate]]:
    """Identify each record; the unusable ones become ``invalid …`` updates.

    ``mode(platform)`` is the enrichment tier of a creator on that platform. ``identify_by`` is
    ``handle``, ``email`` or ``handle_then_email`` (a record without a usable handle is looked
    up by its e-mail).
    """
    parsed: list[Parsed] = []
    invalid: list[RecordUpdate] = []
    for record in records:
        try:
            parsed.append(identify_record(record, mode, identify_by))
        except RowError as exc:
            status = Status.INVALID_EMAIL if isinstance(exc, InvalidEmailError) else Status.INVALID
            invalid.append(
                RecordUpdate(
                    key=record.key,
                    status=f"{status}: {exc.message}",
                    error=str(exc),
                    handle_text=record.handle_text,
                )
            )
    return parsed, invalid


def identify_record(record: PendingRecord, mode: Callable[[str], str], identify_by: str) -> Parsed:
    """The ``Parsed`` record, or the ``InvalidHandleError``/``InvalidEmailError`` saying why not.

    With ``handle_then_email`` a handle that cannot be parsed falls back to the e-mail; when
    that is unusable too, the handle's problem is reported (it is what the human typed first).
    """
    has_handle = bool(record.handle_text.strip())
    handle_error: InvalidHandleError | None = None
    if identify_by == "handle" or (identify_by == "handle_then_email" and has_handle):
        try:
            handle = parse_handle(record.handle_text, record.platform_text)
        except InvalidHandleError as exc:
            if identify_by == "handle":
                raise
            handle_error = exc
        else:
            key = LedgerKey(handle.platform, handle.handle_key, mode(handle.platform))
            return Parsed(record, key, handle.value)
    try:
        address = parse_email(record.email_text)
    except InvalidEmailError:
        if handle_error is not None:
            raise handle_error from None
        raise
    return Parsed(
        record, get_email_key(address), address, email=address, fill_handle=not has_handle
    )
