"""The durable outbox: write-backs kept until the source accepts them, with retry scheduling."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase, chunked
from connector.store.models import OutboxWrite
from connector.store.schema import outbox


def _write(row: Any) -> OutboxWrite:
    return OutboxWrite(**{name: row._mapping[name] for name in OutboxWrite.__dataclass_fields__})


class OutboxMixin(StoreBase):
    """Enqueue, fetch due, acknowledge and reschedule write-backs."""

    def enqueue_writes(
        self,
        source: str,
        writes: Iterable[tuple[str, dict[str, Any]]],
        *,
        run_id: str | None = None,
    ) -> list[int]:
        """Queue ``(record_key, payload)`` write-backs for ``source``; returns their ids."""
        now = self.now()
        rows = [
            {
                "source": source,
                "record_key": key,
                "payload": payload,
                "run_id": run_id,
                "attempts": 0,
                "last_error": None,
                "created_at": now,
                "next_attempt_at": now,
            }
            for key, payload in writes
        ]

        def work(conn: sa.Connection) -> list[int]:
            ids: list[int] = []
            for chunk in chunked(rows):
                stmt = sa.insert(outbox).values(list(chunk)).returning(outbox.c.id)
                ids.extend(conn.execute(stmt).scalars().all())
            return ids

        return self.transaction(work) if rows else []

    def fetch_due_writes(
        self,
        source: str | None = None,
        limit: int = 100,
        *,
        lease: timedelta | None = None,
    ) -> list[OutboxWrite]:
        """Writes whose retry time has come, oldest first.

        With ``lease`` each returned write is hidden from other callers until now + ``lease``
        (several workers flushing at once never send the same write twice concurrently); an
        acknowledged write is deleted, an unacknowledged one reappears when the lease runs out.
        """
        now = self.now()
        due = outbox.c.next_attempt_at <= now
        query = sa.select(outbox).where(due).order_by(outbox.c.id).limit(limit)
        if source is not None:
            query = query.where(outbox.c.source == source)

        def work(conn: sa.Connection) -> list[OutboxWrite]:
            rows = conn.execute(query).all()
            if lease is None:
                return [_write(r) for r in rows]
            won: list[OutboxWrite] = []
            # Still due when updated: a concurrent flusher that took a row first keeps it.
            for chunk in chunked([r.id for r in rows]):
                stmt = (
                    sa.update(outbox)
                    .where(outbox.c.id.in_(chunk), due)
                    .values(next_attempt_at=now + lease)
                    .returning(*outbox.c)
                )
                won.extend(_write(r) for r in conn.execute(stmt))
            return sorted(won, key=lambda w: w.id)

        return self.transaction(work)

    def mark_writes_done(self, ids: Iterable[int]) -> int:
        """Remove acknowledged writes; returns how many were removed."""
        wanted = sorted(set(ids))

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(sa.delete(outbox).where(outbox.c.id.in_(chunk))).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0

    def release_writes(self, ids: Iterable[int]) -> int:
        """Make leased writes due again at once (the flusher stops before sending them)."""
        wanted = sorted(set(ids))
        now = self.now()

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(
                    sa.update(outbox).where(outbox.c.id.in_(chunk)).values(next_attempt_at=now)
                ).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0

    def mark_write_failed(self, write_id: int, error: str, retry_at: datetime) -> None:
        """Count a failed attempt and schedule the next one at ``retry_at``."""
        stmt = (
            sa.update(outbox)
            .where(outbox.c.id == write_id)
            .values(
                attempts=outbox.c.attempts + 1, last_error=error[:2000], next_attempt_at=retry_at
            )
        )
        self.transaction(lambda conn: conn.execute(stmt))

    def count_outbox(self, source: str | None = None) -> int:
        """How many writes are waiting (due or not)."""
        query = sa.select(sa.func.count()).select_from(outbox)
        if source is not None:
            query = query.where(outbox.c.source == source)
        return int(self.transaction(lambda conn: conn.execute(query).scalar_one()))

    def fetch_failing_writes(self, limit: int = 50) -> list[OutboxWrite]:
        """Writes that failed at least once, most attempts first (for the dashboard)."""
        query = (
            sa.select(outbox)
            .where(outbox.c.attempts > 0)
            .order_by(outbox.c.attempts.desc(), outbox.c.id)
            .limit(limit)
        )
        return self.transaction(lambda conn: [_write(r) for r in conn.execute(query)])
