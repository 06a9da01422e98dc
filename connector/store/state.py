"""Per-source state: poll bookkeeping, nudges, webhook hints and dedupe, known records, hashes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase, chunked
from connector.store.schema import (
    UTCDateTime,
    known_records,
    poll_requests,
    record_hints,
    seen_events,
    source_states,
    written_hashes,
)

_COLUMNS = ("last_poll_at", "last_ok_at", "last_error", "failing_since")
EVENT_RETENTION = timedelta(days=7)


def _source_state(row: Any) -> dict[str, Any]:
    state: dict[str, Any] = dict(row.data or {})
    state.update({name: row._mapping[name] for name in _COLUMNS})
    return state


class StateMixin(StoreBase):
    """Small per-source facts shared between the web process and the workers."""

    def get_source_state(self, source: str) -> dict[str, Any]:
        """The source's state: ``last_poll_at``, ``last_ok_at``, ``last_error``,
        ``failing_since`` plus the free-form fields; ``{}`` when never saved."""
        query = sa.select(source_states).where(source_states.c.source == source)
        row = self.transaction(lambda conn: conn.execute(query).first())
        return _source_state(row) if row else {}

    def fetch_source_states(self) -> dict[str, dict[str, Any]]:
        """Every source's state, by source name."""
        query = sa.select(source_states).order_by(source_states.c.source)
        return self.transaction(
            lambda conn: {r.source: _source_state(r) for r in conn.execute(query)}
        )

    def save_source_state(self, source: str, **fields: Any) -> None:
        """Set the given fields (a None value clears one); other JSON-able fields are merged."""
        now = self.now()
        columns = {k: v for k, v in fields.items() if k in _COLUMNS}
        extra = {k: v for k, v in fields.items() if k not in _COLUMNS}

        def work(conn: sa.Connection) -> None:
            conn.execute(
                self.insert(source_states)
                .values(source=source, data={}, updated_at=now)
                .on_conflict_do_nothing()
            )
            # FOR UPDATE so concurrent merges of the JSON part do not lose each other's keys.
            data = conn.execute(
                sa.select(source_states.c.data)
                .where(source_states.c.source == source)
                .with_for_update()
            ).scalar_one()
            merged = {**(data or {}), **extra}
            conn.execute(
                sa.update(source_states)
                .where(source_states.c.source == source)
                .values(data=merged, updated_at=now, **columns)
            )

        self.transaction(work)

    def record_source_success(self, source: str) -> None:
        """A poll of ``source`` worked: stamp it and clear the error and ``failing_since``."""
        now = self.now()
        self.save_source_state(
            source, last_poll_at=now, last_ok_at=now, last_error=None, failing_since=None
        )

    def record_source_failure(self, source: str, error: str) -> None:
        """A poll of ``source`` failed: save the error, keep ``failing_since`` at the first one."""
        now = self.now()

        def work(conn: sa.Connection) -> None:
            conn.execute(
                self.insert(source_states)
                .values(source=source, data={}, updated_at=now)
                .on_conflict_do_nothing()
            )
            conn.execute(
                sa.update(source_states)
                .where(source_states.c.source == source)
                .values(
                    last_poll_at=now,
                    last_error=error[:2000],
                    updated_at=now,
                    failing_since=sa.func.coalesce(
                        source_states.c.failing_since, sa.literal(now, UTCDateTime)
                    ),
                )
            )

        self.transaction(work)

    def pause_source(self, source: str) -> None:
        """Stop the worker's polls of ``source`` until ``resume_source`` (kept across restarts)."""
        self.save_source_state(source, paused_at=self.now().isoformat())

    def resume_source(self, source: str) -> None:
        """Poll ``source`` again, starting now."""
        self.save_source_state(source, paused_at=None)
        self.request_poll(source)

    def is_source_paused(self, source: str) -> bool:
        """True while ``source`` is paused."""
        return bool(self.get_source_state(source).get("paused_at"))

    def _poll_request(self, conn: sa.Connection, source: str, now: datetime) -> bool:
        """Save a poll request in ``conn``'s transaction and wake the workers at its commit;
        False when one was already waiting (its wake is on its way)."""
        stmt = (
            self.insert(poll_requests)
            .values(source=source, requested_at=now)
            .on_conflict_do_nothing()
            .returning(poll_requests.c.source)
        )
        if conn.execute(stmt).first() is None:
            return False
        self.wake.signal_in(conn)
        return True

    def request_poll(self, source: str) -> bool:
        """Ask the workers to poll ``source`` now (the web app's nudge) and wake them.

        False when a request for ``source`` was still waiting: this one is folded into it.
        """
        now = self.now()
        added = self.transaction(lambda conn: self._poll_request(conn, source, now))
        if added:
            self.wake.send()
        return added

    def take_poll_requests(self) -> set[str]:
        """Consume every pending nudge; each is returned to exactly one caller."""
        stmt = sa.delete(poll_requests).returning(poll_requests.c.source)
        return self.transaction(lambda conn: set(conn.execute(stmt).scalars().all()))

    def add_record_hints(self, source: str, record_ids: Iterable[str]) -> None:
        """Remember record ids a webhook said changed (duplicates collapse)."""
        now = self.now()
        rows = [
            {"source": source, "record_id": r, "created_at": now} for r in sorted(set(record_ids))
        ]

        def work(conn: sa.Connection) -> None:
            for chunk in chunked(rows):
                conn.execute(self.insert(record_hints).values(list(chunk)).on_conflict_do_nothing())

        if rows:
            self.transaction(work)

    def take_record_hints(self, source: str) -> list[str]:
        """Consume the hinted record ids of ``source``, sorted; each goes to one caller."""
        stmt = (
            sa.delete(record_hints)
            .where(record_hints.c.source == source)
            .returning(record_hints.c.record_id)
        )
        return sorted(self.transaction(lambda conn: conn.execute(stmt).scalars().all()))

    def save_event_hints(
        self,
        events: Sequence[tuple[str, Mapping[str, Sequence[str]]]],
        *,
        keep: timedelta = EVENT_RETENTION,
    ) -> set[str]:
        """Remember webhook events and store their record hints and poll requests, atomically.

        ``events`` pairs each event's dedupe key with the record ids it hints per source. Only
        the events first seen within ``keep`` add hints; their keys are returned. It is one
        transaction: when it fails nothing is remembered, so the sender's retry of the same
        event is not mistaken for a duplicate and its hint is not lost.
        """
        now = self.now()

        def work(conn: sa.Connection) -> tuple[set[str], bool]:
            conn.execute(sa.delete(seen_events).where(seen_events.c.seen_at < now - keep))
            new: set[str] = set()
            hints: dict[str, set[str]] = {}
            for key, targets in events:
                stmt = (
                    self.insert(seen_events)
                    .values(key=key, seen_at=now)
                    .on_conflict_do_nothing()
                    .returning(seen_events.c.key)
                )
                if conn.execute(stmt).first() is None:
                    continue
                new.add(key)
                for source, ids in targets.items():
                    hints.setdefault(source, set()).update(ids)
            rows = [
                {"source": source, "record_id": record_id, "created_at": now}
                for source, ids in sorted(hints.items())
                for record_id in sorted(ids)
            ]
            for chunk in chunked(rows):
                conn.execute(self.insert(record_hints).values(list(chunk)).on_conflict_do_nothing())
            woken = [self._poll_request(conn, source, now) for source in sorted(hints)]
            return new, any(woken)

        if not events:
            return set()
        new, woken = self.transaction(work)
        if woken:
            self.wake.send()
        return new

    def get_known_records(self, source: str) -> dict[str, str]:
        """Record id → fingerprint of the records last seen in ``source``."""
        query = sa.select(known_records.c.record_id, known_records.c.fingerprint).where(
            known_records.c.source == source
        )
        return self.transaction(lambda conn: {r[0]: r[1] for r in conn.execute(query)})

    def save_known_records(self, source: str, changes: Mapping[str, str | None]) -> None:
        """Upsert fingerprints; a None fingerprint forgets the record."""
        now_gone = sorted(k for k, v in changes.items() if v is None)
        upserts = [
            {"source": source, "record_id": k, "fingerprint": v}
            for k, v in sorted(changes.items())
            if v is not None
        ]

        def work(conn: sa.Connection) -> None:
            for chunk in chunked(now_gone):
                conn.execute(
                    sa.delete(known_records).where(
                        known_records.c.source == source, known_records.c.record_id.in_(chunk)
                    )
                )
            for rows in chunked(upserts):
                stmt = self.insert(known_records).values(list(rows))
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["source", "record_id"],
                        set_={"fingerprint": stmt.excluded.fingerprint},
                    )
                )

        if changes:
            self.transaction(work)

    def get_written_hashes(
        self, source: str, identities: Iterable[str]
    ) -> dict[str, dict[str, str]]:
        """identity → {target → hash of the value we last wrote} for the given identities."""
        wanted = sorted(set(identities))

        def work(conn: sa.Connection) -> dict[str, dict[str, str]]:
            found: dict[str, dict[str, str]] = {}
            for chunk in chunked(wanted):
                query = sa.select(written_hashes).where(
                    written_hashes.c.source == source, written_hashes.c.identity.in_(chunk)
                )
                for row in conn.execute(query):
                    found.setdefault(row.identity, {})[row.target] = row.hash
            return found

        return self.transaction(work) if wanted else {}

    def save_written_hashes(
        self, source: str, hashes_by_identity: Mapping[str, Mapping[str, str]]
    ) -> None:
        """Remember the hash of each value written, per identity and target, in one transaction.

        One statement executed for every row: a batch's thousands of records cost one round
        trip per chunk, not one transaction each.
        """
        now = self.now()
        rows = [
            {"source": source, "identity": identity, "target": t, "hash": h, "written_at": now}
            for identity, hashes in sorted(hashes_by_identity.items())
            for t, h in sorted(hashes.items())
        ]
        if not rows:
            return
        stmt = self.insert(written_hashes)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "identity", "target"],
            set_={"hash": stmt.excluded["hash"], "written_at": stmt.excluded.written_at},
        )
        self.transaction(lambda conn: conn.execute(stmt, rows))
