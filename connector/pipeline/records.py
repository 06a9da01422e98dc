"""Pending records parsed into ledger keys, or into an ``invalid handle`` update."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connector.errors import InvalidHandleError
from connector.handles import parse_handle
from connector.sources.base import PendingRecord, RecordUpdate, Status
from connector.store.models import LedgerKey


@dataclass(frozen=True)
class Parsed:
    """A pending record with its normalised ledger key."""

    record: PendingRecord
    key: LedgerKey
    handle_value: str


def parse_records(
    records: Sequence[PendingRecord], mode: str
) -> tuple[list[Parsed], list[RecordUpdate]]:
    """Normalise each record's handle into a ledger key; the unusable ones become updates."""
    parsed: list[Parsed] = []
    invalid: list[RecordUpdate] = []
    for record in records:
        try:
            handle = parse_handle(record.handle_text, record.platform_text)
        except InvalidHandleError as exc:
            invalid.append(
                RecordUpdate(
                    key=record.key,
                    status=f"{Status.INVALID}: {exc.message}",
                    error=str(exc),
                    handle_text=record.handle_text,
                )
            )
            continue
        parsed.append(
            Parsed(record, LedgerKey(handle.platform, handle.handle_key, mode), handle.value)
        )
    return parsed, invalid
