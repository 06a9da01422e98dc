"""The per-record events of every run: what each record cost, how it was served, what it got."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase, chunked
from connector.store.models import RecordEvent
from connector.store.schema import record_events

# Longest text kept per written value and per error: the events explain, the source holds data.
VALUE_CHARS = 500
ERROR_CHARS = 2000
_SHORT = 255


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > VALUE_CHARS:
        return value[: VALUE_CHARS - 1] + "…"
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, str):
        return value
    return _clip(str(value))


def _event(row: Any) -> RecordEvent:
    return RecordEvent(
        run_id=row.run_id,
        source=row.source,
        status=row.status,
        record_key=row.record_key,
        identity=row.identity,
        location=row.location,
        handle=row.handle,
        platform=row.platform,
        route=row.route,
        credits=float(row.credits),
        error=row.error,
        fields=dict(row.fields or {}),
        id=row.id,
        created_at=row.created_at,
    )


def _in_run(e: Any, run_id: str, steps: bool) -> sa.ColumnElement[bool]:
    """Events of ``run_id``; without ``steps``, not the free ones a later event supersedes."""
    if steps:
        return e.c.run_id == run_id
    later = record_events.alias("later")
    superseded = (
        sa.select(later.c.id)
        .where(
            later.c.run_id == e.c.run_id,
            later.c.source == e.c.source,
            later.c.location == e.c.location,
            later.c.id > e.c.id,
        )
        .exists()
    )
    return sa.and_(e.c.run_id == run_id, ~sa.and_(e.c.credits == 0, e.c.location != "", superseded))


class RecordMixin(StoreBase):
    """Write record events in batches; read them per run, and the records still in error."""

    def save_record_events(self, events: Iterable[RecordEvent]) -> int:
        """Insert ``events`` (one statement per few hundred); returns how many were saved."""
        now = self.now()
        rows = [
            {
                "run_id": e.run_id,
                "source": e.source[:64],
                "record_key": e.record_key[:_SHORT],
                "identity": e.identity[:_SHORT],
                "location": e.location[:_SHORT],
                "handle": e.handle[:_SHORT],
                "platform": e.platform,
                "route": e.route,
                "credits": float(e.credits),
                "status": e.status[:64],
                "error": e.error[:ERROR_CHARS] if e.error else None,
                "fields": {str(k): _clip(v) for k, v in e.fields.items()} or None,
                "created_at": now,
            }
            for e in events
        ]

        def work(conn: sa.Connection) -> int:
            for chunk in chunked(rows):
                conn.execute(sa.insert(record_events), list(chunk))
            return len(rows)

        return self.transaction(work) if rows else 0

    def fetch_run_records(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        steps: bool = True,
    ) -> list[RecordEvent]:
        """The events of run ``run_id`` in the order they happened.

        ``steps=False`` leaves out a record's free steps that a later event of the same run
        and row supersedes (held, then enriched): one row per record, credits unchanged.
        """
        e = record_events.alias("e")
        query = sa.select(e).where(_in_run(e, run_id, steps)).order_by(e.c.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return self.transaction(lambda conn: [_event(r) for r in conn.execute(query)])

    def count_run_records(self, run_id: str, *, steps: bool = True) -> tuple[int, float]:
        """(number of events, sum of their credits) of run ``run_id``."""
        e = record_events.alias("e")
        query = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(e.c.credits), 0.0)).where(
            _in_run(e, run_id, steps)
        )
        count, credits = self.transaction(lambda conn: conn.execute(query).one())
        return int(count), float(credits)

    def get_record_event(self, event_id: int) -> RecordEvent | None:
        """The event with ``event_id``, or None."""
        query = sa.select(record_events).where(record_events.c.id == event_id)
        row = self.transaction(lambda conn: conn.execute(query).first())
        return _event(row) if row else None

    def fetch_records_in(
        self,
        statuses: Sequence[str],
        *,
        since: datetime | None = None,
        source: str | None = None,
        limit: int = 1000,
    ) -> list[RecordEvent]:
        """Records whose latest event has one of ``statuses``, newest first.

        A record is its source plus its identity (the handle) or its location (the row or
        contact): a later event for either means the record moved on (retried, handle edited).
        """
        e = record_events.alias("e")
        later = record_events.alias("later")
        newer = (
            sa.select(later.c.id)
            .where(
                later.c.source == e.c.source,
                later.c.id > e.c.id,
                sa.or_(
                    sa.and_(e.c.identity != "", later.c.identity == e.c.identity),
                    sa.and_(e.c.location != "", later.c.location == e.c.location),
                ),
            )
            .exists()
        )
        query = (
            sa.select(e)
            .where(e.c.status.in_(list(statuses)), ~newer)
            .order_by(e.c.id.desc())
            .limit(limit)
        )
        if since is not None:
            query = query.where(e.c.created_at >= since)
        if source is not None:
            query = query.where(e.c.source == source)
        return self.transaction(lambda conn: [_event(r) for r in conn.execute(query)])

    def fetch_record_events(self, ids: Iterable[int]) -> list[RecordEvent]:
        """The events with these ids (missing ones skipped), in id order."""
        return [_event(r) for r in self.select_by_ids(record_events, ids)]

    def prune_record_events(self, before: datetime) -> int:
        """Delete events written before ``before``; returns how many."""
        stmt = sa.delete(record_events).where(record_events.c.created_at < before)
        return int(self.transaction(lambda conn: conn.execute(stmt).rowcount))
