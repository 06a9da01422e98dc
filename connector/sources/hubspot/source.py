"""The HubSpot list source: watch a contact list, read new members, write results in batches."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from connector.config import HubSpotSettings, HubSpotSourceSettings
from connector.errors import SourceError
from connector.sources.base import (
    PendingRecord,
    RecordUpdate,
    RetryRequest,
    Status,
    WriteResult,
    choose_identity_values,
)
from connector.sources.hubspot.client import CONTACT_OBJECT_TYPE, HubSpotClient, HubSpotList
from connector.sources.hubspot.known import (
    CLAIM,
    DONE,
    GONE,
    get_fingerprint,
    parse_known,
    select_retry_contacts,
)
from connector.sources.hubspot.properties import (
    PropertySpec,
    apply_value,
    build_mapping_specs,
    build_status_specs,
)
from connector.sources.hubspot.setup import HubSpotProperties

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset(
    {
        Status.ENRICHED,
        Status.NOT_FOUND,
        Status.INVALID,
        Status.INVALID_EMAIL,
        Status.NO_CREATOR,
        Status.ERROR,
    }
)
# Statuses that ask for another look at the next poll rather than a final "done".
REVISIT_STATUSES = frozenset({Status.RETRY, Status.AWAITING_CREDITS, Status.AWAITING_APPROVAL})
PENDING_STATUSES = frozenset(
    {
        "",
        Status.RETRY,
        Status.QUEUED,
        Status.ENRICHING,
        Status.AWAITING_CREDITS,
        Status.AWAITING_APPROVAL,
    }
)


# The older status a dropdown without the newer options shows (the error property says more).
STATUS_FALLBACKS = {Status.INVALID_EMAIL: Status.INVALID, Status.NO_CREATOR: Status.NOT_FOUND}


class HubSpotStore(Protocol):
    """The parts of the state store a HubSpot source and its webhooks use."""

    def get_known_records(self, source: str) -> dict[str, str]: ...

    def save_known_records(self, source: str, changes: dict[str, str | None]) -> None: ...

    def add_record_hints(self, source: str, record_ids: list[str]) -> None: ...

    def take_record_hints(self, source: str) -> list[str]: ...

    def request_poll(self, source: str) -> bool: ...


class HubSpotSource(HubSpotProperties):
    """One watched HubSpot contact list implementing the ``Source`` protocol."""

    kind = "hubspot"

    def __init__(
        self,
        settings: HubSpotSourceSettings,
        *,
        client: HubSpotClient,
        mapping: Any,
        store: HubSpotStore,
        hubspot: HubSpotSettings,
        clock: Callable[[], float] = time.time,
        claim_lease: float = 3600.0,
        reconcile_every: float | None = 86400.0,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self._client = client
        self._mapping = mapping
        self._store = store
        self._hubspot = hubspot
        self._clock = clock
        self._claim_lease = claim_lease
        self._reconcile_every = reconcile_every
        self._last_reconcile = clock()
        self._list: HubSpotList | None = None
        self._bootstrapped = False
        self._specs = {s.name: s for s in build_mapping_specs(mapping)}
        self._types: dict[str, tuple[str, tuple[dict[str, str], ...]]] = {
            s.name: (s.type, tuple({"label": lb, "value": v} for lb, v in s.options))
            for s in self._all_specs()
        }

    def _all_specs(self) -> list[PropertySpec]:
        s = self.settings
        status = build_status_specs(s.status_property, s.error_property, s.enriched_at_property)
        return [*self._specs.values(), *(p for p in status if p.name not in self._specs)]

    @property
    def targets(self) -> list[str]:
        """Internal names of the mapping's target properties."""
        return list(self._specs)

    def fetch_list(self) -> HubSpotList:
        """Resolve the configured list once; ``SourceError`` unless it is a contact list."""
        if self._list is None:
            found = self._client.fetch_list(self.settings.list)
            if found.object_type_id != CONTACT_OBJECT_TYPE:
                raise SourceError(
                    f"HubSpot list {self.settings.list!r} holds objects of type "
                    f"{found.object_type_id}, not contacts ({CONTACT_OBJECT_TYPE})",
                    hint="point the source at a contact list",
                )
            self._list = found
        return self._list

    @property
    def _email_property(self) -> str | None:
        """The e-mail property, when this source identifies creators by e-mail too."""
        s = self.settings
        return s.email_property if s.identify_by != "handle" else None

    def _read_properties(self) -> list[str]:
        s = self.settings
        names = [s.handle_property, s.status_property, s.error_property, s.enriched_at_property]
        if s.platform_property:
            names.append(s.platform_property)
        if self._email_property:
            names.append(self._email_property)
        return list(dict.fromkeys([*names, *self._specs]))

    def fetch_pending(self, *, claim: bool = True) -> list[PendingRecord]:
        """Walk the list, batch-read new (or hinted) members and return those to enrich."""
        if claim and self._hubspot.bootstrap_properties and not self._bootstrapped:
            self.bootstrap_properties()
        listed = self.fetch_list()
        now = self._clock()
        known = self._store.get_known_records(self.name)
        hints = self._store.take_record_hints(self.name) if claim else []
        try:
            members = list(dict.fromkeys(self._client.iter_memberships(listed.list_id)))
        except SourceError:
            self._list = None
            raise
        member_set = set(members)
        reconcile = (
            self._reconcile_every is not None
            and now - self._last_reconcile >= self._reconcile_every
        )
        candidates: list[str] = [h for h in dict.fromkeys(hints) if h in member_set]
        for record_id in members:
            kind, expires, _ = parse_known(known.get(record_id))
            if kind == GONE or (kind == CLAIM and expires > now):
                continue
            if kind != DONE or reconcile:
                candidates.append(record_id)
        candidates = list(dict.fromkeys(candidates))
        if not candidates:
            if claim and reconcile:
                self._last_reconcile = now
            return []
        batch = self._client.fetch_contacts(candidates, self._read_properties())
        pending: list[PendingRecord] = []
        changes: dict[str, str | None] = {i: f"{GONE}:" for i in batch.missing}
        for record_id in candidates:
            values = batch.found.get(record_id)
            if values is None:
                continue
            record = self._build_record(record_id, values)
            fp = self._fingerprint(record.handle_text, record.platform_text, record.email_text)
            previous = known.get(record_id)
            kind, expires, _ = parse_known(previous)
            if self._is_pending(previous, values, record, fp, now):
                pending.append(record)
                changes[record_id] = f"{CLAIM}:{now + self._claim_lease:.0f}:{fp}"
            elif previous != f"{DONE}:{fp}" and not (kind == CLAIM and expires > now):
                changes[record_id] = f"{DONE}:{fp}"
        if claim:
            self._store.save_known_records(self.name, changes)
            if reconcile:
                self._last_reconcile = now
        log.info(
            "hubspot source %s: %d members, %d read, %d pending",
            self.name,
            len(members),
            len(candidates),
            len(pending),
        )
        return pending

    def _build_record(self, record_id: str, values: dict[str, str | None]) -> PendingRecord:
        s = self.settings
        platform = (values.get(s.platform_property) if s.platform_property else None) or s.platform
        return PendingRecord(
            key=record_id,
            identity=record_id,
            handle_text=values.get(s.handle_property) or "",
            platform_text=platform,
            location=f"contact {record_id}",
            current={t: values.get(t) for t in self._specs},
            retry=(values.get(s.status_property) or "").strip().lower() == Status.RETRY,
            email_text=values.get(self._email_property) if self._email_property else None,
        )

    def _is_pending(
        self,
        known: str | None,
        values: dict[str, str | None],
        record: PendingRecord,
        fp: str,
        now: float,
    ) -> bool:
        if not self._identifies(record):
            return False
        kind, expires, known_fp = parse_known(known)
        status = (values.get(self.settings.status_property) or "").strip().lower()
        if kind == DONE:
            return known_fp != fp or status == Status.RETRY
        if kind == CLAIM:
            return expires <= now or known_fp != fp
        return status in PENDING_STATUSES

    def _identifies(self, record: PendingRecord) -> bool:
        """Whether the record names a creator the way the source identifies them."""
        has_handle = bool(record.handle_text.strip())
        has_email = bool((record.email_text or "").strip())
        identify_by = self.settings.identify_by
        if identify_by == "email":
            return has_email
        return has_handle or (identify_by == "handle_then_email" and has_email)

    def _fingerprint(
        self, handle_text: str | None, platform_text: str | None, email_text: str | None
    ) -> str:
        """What a change of re-queues the contact: the e-mail only where it identifies it.

        So switching a source to ``handle_then_email`` re-reads only contacts without a handle,
        and filling a contact's handle from its lookup settles it.
        """
        uses_email = self.settings.identify_by == "email" or (
            self.settings.identify_by == "handle_then_email" and not (handle_text or "").strip()
        )
        return get_fingerprint(handle_text, platform_text, email_text if uses_email else None)

    def build_properties(self, update: RecordUpdate) -> dict[str, str]:
        """The HubSpot property strings for one update (mapped values + status columns)."""
        s = self.settings
        properties = {name: self._convert(name, value) for name, value in update.values.items()}
        # The status property is a dropdown of bare status words; details go to the error one.
        status, _, detail = update.status.partition(":")
        word, error = status.strip(), update.error or detail.strip()
        type_, options = self._types.get(s.status_property, ("string", ()))
        if type_ == "enumeration" and options and word not in {o["value"] for o in options}:
            # A dropdown created by an older version lacks the e-mail statuses (sources check
            # names them); an unknown option would fail the whole batch update.
            error = f"{word}: {error}" if error else word
            word = STATUS_FALLBACKS.get(word, word)
        properties[s.status_property] = self._convert(s.status_property, word)
        properties[s.error_property] = error
        if update.enriched_at is not None or update.status == Status.ENRICHED:
            when = update.enriched_at or self._clock()
            properties[s.enriched_at_property] = self._convert(s.enriched_at_property, when)
        return properties

    def _convert(self, name: str, value: Any) -> str:
        type_, options = self._types.get(name, ("string", ()))
        return apply_value(value, type_, options)

    def write_back(self, updates: Sequence[RecordUpdate]) -> WriteResult:
        """Batch-update mapped values and statuses (100 per call); 207 errors per contact.

        A contact an e-mail lookup identified also gets the handle (and platform) found, when
        its properties are still empty: they are read again first (one batch read per 100).
        """
        inputs = {u.key: self.build_properties(u) for u in updates}
        identified = self._fill_identity(inputs, [u for u in updates if u.found_handle])
        return self._write(inputs, {u.key: u for u in updates}, identified)

    def _fill_identity(
        self, inputs: dict[str, dict[str, str]], updates: Sequence[RecordUpdate]
    ) -> dict[str, str]:
        """Add the found handle/platform to ``inputs``; return contact id → new fingerprint."""
        if not updates:
            return {}
        s = self.settings
        names = [s.handle_property, *([s.platform_property] if s.platform_property else [])]
        current = self._client.fetch_contacts([u.key for u in updates], names).found
        fingerprints: dict[str, str] = {}
        for update in updates:
            values = current.get(update.key)
            if values is None:
                continue
            handle, platform = choose_identity_values(
                update,
                current_handle=values.get(s.handle_property) or "",
                current_platform=values.get(s.platform_property) or ""
                if s.platform_property
                else "",
                platform_field=bool(s.platform_property),
                platform=s.platform,
            )
            if handle is None:
                continue
            inputs[update.key][s.handle_property] = handle
            if platform is not None and s.platform_property:
                inputs[update.key][s.platform_property] = self._convert(
                    s.platform_property, platform
                )
            typed = (values.get(s.platform_property) if s.platform_property else None) or None
            fingerprints[update.key] = self._fingerprint(
                handle, platform or typed or s.platform, update.email_text
            )
        return fingerprints

    def mark(self, keys: Sequence[str], status: str, error: str = "") -> WriteResult:
        """Set only status and error of claimed contacts."""
        s = self.settings
        inputs = {
            k: {
                s.status_property: self._convert(s.status_property, status),
                s.error_property: error,
            }
            for k in keys
        }
        updates = {k: RecordUpdate(key=k, status=status, error=error) for k in keys}
        return self._write(inputs, updates)

    def write_retry(self, *, errors: bool = False, rows: Sequence[str] = ()) -> RetryRequest:
        """Set the status property of list members in ``error`` and/or named to ``retry``.

        ``rows`` are contact ids (``"1001"``, ``"1001,1002"``). The next poll reads them again;
        the error text is kept.
        """
        s = self.settings
        members = set(self._client.iter_memberships(self.fetch_list().list_id))
        named = list(dict.fromkeys(i for r in rows for i in r.replace(",", " ").split()))
        result = RetryRequest(
            skipped=[f"contact {i}: not in the list" for i in named if i not in members]
        )
        wanted = sorted(members) if errors else [i for i in named if i in members]
        properties = [s.handle_property, s.status_property]
        if self._email_property:
            properties.append(self._email_property)
        found = self._client.fetch_contacts(wanted, properties).found if wanted else {}
        chosen, skipped = select_retry_contacts(
            wanted,
            found,
            named=set(named),
            known=self._store.get_known_records(self.name),
            now=self._clock(),
            handle_property=s.handle_property,
            status_property=s.status_property,
            email_property=self._email_property,
        )
        result.skipped += skipped
        retry = self._convert(s.status_property, Status.RETRY)
        written = self._write(
            {i: {s.status_property: retry} for i in chosen},
            {i: RecordUpdate(key=i, status=Status.RETRY) for i in chosen},
        )
        result.marked = [f"contact {i}" for i in written.written]
        result.skipped += [f"contact {i}: {why}" for i, why in written.failed.items()]
        if result.marked:
            self._store.request_poll(self.name)
        return result

    def _write(
        self,
        inputs: dict[str, dict[str, str]],
        updates: dict[str, RecordUpdate],
        fingerprints: dict[str, str] | None = None,
    ) -> WriteResult:
        if not inputs:
            return WriteResult()
        outcome = self._client.update_contacts(inputs)
        known = self._store.get_known_records(self.name)
        now = self._clock()
        changes: dict[str, str | None] = {}
        for record_id in outcome.written:
            update = updates[record_id]
            kind, _, claimed_fp = parse_known(known.get(record_id))
            # The claim holds the fingerprint of what was read; a later edit must still differ.
            fp = (fingerprints or {}).get(record_id) or (
                claimed_fp
                if kind == CLAIM and claimed_fp
                else self._fingerprint(
                    update.handle_text, self.settings.platform, update.email_text
                )
            )
            # ``invalid handle: <why>`` and ``invalid e-mail: <why>`` are final too.
            if update.status.partition(":")[0].strip() in FINAL_STATUSES:
                changes[record_id] = f"{DONE}:{fp}"
            elif update.status in REVISIT_STATUSES:
                changes[record_id] = None
            else:
                changes[record_id] = f"{CLAIM}:{now + self._claim_lease:.0f}:{fp}"
        for record_id in outcome.missing:
            changes[record_id] = f"{GONE}:"
        for record_id in outcome.failed:
            _, _, claimed_fp = parse_known(known.get(record_id))
            changes[record_id] = f"{DONE}:{claimed_fp}"
        self._store.save_known_records(self.name, changes)
        return WriteResult(
            written=list(outcome.written),
            missing=list(outcome.missing),
            failed=dict(outcome.failed),
        )
