"""Batch jobs: an intent row before the API call, the API's id right after, then polling state."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase, chunked, sorted_keys
from connector.store.ledger import key_in
from connector.store.models import BATCH_CLOSED_STATUSES, Batch, BatchItem, LedgerKey
from connector.store.schema import UTCDateTime, batch_items, batches, reservations

_UPDATABLE = frozenset(
    {
        "status",
        "total",
        "processed",
        "success",
        "failed",
        "credits_used",
        "last_polled_at",
        "next_poll_at",
        "finished_at",
        "error",
    }
)


def _batch(row: Any) -> Batch:
    return Batch(**{name: row._mapping[name] for name in Batch.__dataclass_fields__})


class BatchMixin(StoreBase):
    """Batch intents, submission, polling schedule and collection."""

    def save_batch(
        self, platform: str, mode: str, items: Iterable[BatchItem], *, run_id: str | None = None
    ) -> Batch:
        """Record the intent to submit ``items`` (status ``intent``) before calling the API.

        A crash between this and :meth:`attach_batch_id` leaves a visible ``intent`` row whose
        handles stay blocked from reservation until someone decides what happened.
        """
        unique = {(i.platform, i.handle_key): i for i in items}
        now = self.now()
        ref = uuid.uuid4().hex
        row = {
            "ref": ref,
            "batch_id": None,
            "platform": platform,
            "mode": mode,
            "status": "intent",
            "run_id": run_id,
            "total": len(unique),
            "processed": 0,
            "success": 0,
            "failed": 0,
            "credits_used": 0.0,
            "created_at": now,
        }

        def work(conn: sa.Connection) -> Batch:
            conn.execute(sa.insert(batches).values(**row))
            if unique:
                conn.execute(
                    sa.insert(batch_items),
                    [
                        {
                            "batch_ref": ref,
                            "platform": i.platform,
                            "handle_key": i.handle_key,
                            "handle_value": i.handle_value,
                        }
                        for i in unique.values()
                    ],
                )
            return _batch(conn.execute(sa.select(batches).where(batches.c.ref == ref)).one())

        return self.transaction(work)

    def attach_batch_id(
        self, ref: str, batch_id: str, *, next_poll_at: datetime | None = None
    ) -> None:
        """Store the API's batch id right after the create call; status becomes ``submitted``."""
        now = self.now()
        stmt = (
            sa.update(batches)
            .where(batches.c.ref == ref)
            .values(
                batch_id=batch_id,
                status="submitted",
                submitted_at=now,
                next_poll_at=next_poll_at or now,
            )
        )
        self._update_one(stmt, ref)

    def update_batch(self, ref: str, /, **fields: Any) -> None:
        """Update progress fields (status, counts, credits_used, next_poll_at, error …).

        ``finished_at`` is set automatically when the status becomes ``finished`` or ``failed``.
        """
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"unknown batch fields: {', '.join(sorted(unknown))}")
        if fields.get("status") in ("finished", "failed") and "finished_at" not in fields:
            fields["finished_at"] = self.now()
        self._update_one(sa.update(batches).where(batches.c.ref == ref).values(**fields), ref)

    def _update_one(self, stmt: sa.Update, ref: str) -> None:
        if self.transaction(lambda conn: conn.execute(stmt).rowcount) != 1:
            raise KeyError(f"no batch {ref!r}")

    def get_batch(self, ref: str) -> Batch | None:
        """The batch with our ``ref``, or None."""
        query = sa.select(batches).where(batches.c.ref == ref)
        row = self.transaction(lambda conn: conn.execute(query).first())
        return _batch(row) if row else None

    def get_batch_by_id(self, batch_id: str) -> Batch | None:
        """The batch the API knows as ``batch_id``, or None."""
        query = sa.select(batches).where(batches.c.batch_id == batch_id)
        row = self.transaction(lambda conn: conn.execute(query).first())
        return _batch(row) if row else None

    def fetch_open_batches(self) -> list[Batch]:
        """Batches not yet collected, failed or cancelled (intents included), oldest first.

        ``finished`` batches stay open until :meth:`mark_batch_collected`, so a crash between
        the API's "finished" and the download of the results loses nothing.
        """
        query = (
            sa.select(batches)
            .where(batches.c.status.not_in(BATCH_CLOSED_STATUSES))
            .order_by(batches.c.created_at, batches.c.ref)
        )
        return self.transaction(lambda conn: [_batch(r) for r in conn.execute(query)])

    def fetch_batches(self, limit: int = 20) -> list[Batch]:
        """The most recent batches, newest first (for the dashboard)."""
        query = sa.select(batches).order_by(batches.c.created_at.desc()).limit(limit)
        return self.transaction(lambda conn: [_batch(r) for r in conn.execute(query)])

    def claim_due_batches(self, lease: timedelta, *, limit: int | None = None) -> list[Batch]:
        """Submitted open batches due for a poll; each is pushed to now + ``lease`` for the caller.

        Only one of several concurrent callers gets a given batch, so it is polled and collected
        once; the caller sets the real ``next_poll_at`` with :meth:`update_batch`.
        """
        now = self.now()
        due = sa.or_(batches.c.next_poll_at.is_(None), batches.c.next_poll_at <= now)
        query = (
            sa.select(batches.c.ref)
            .where(
                batches.c.status.not_in((*BATCH_CLOSED_STATUSES, "intent")),
                batches.c.batch_id.is_not(None),
                due,
            )
            .order_by(batches.c.next_poll_at, batches.c.ref)
        )
        if limit is not None:
            query = query.limit(limit)

        def work(conn: sa.Connection) -> list[Batch]:
            won = []
            for ref in conn.execute(query).scalars().all():
                stmt = (
                    sa.update(batches)
                    .where(batches.c.ref == ref, due)
                    .values(next_poll_at=now + lease, last_polled_at=now)
                    .returning(*batches.c)
                )
                row = conn.execute(stmt).first()
                if row is not None:
                    won.append(_batch(row))
            return won

        return self.transaction(work)

    def get_next_batch_poll(self) -> datetime | None:
        """The earliest ``next_poll_at`` of the batches :meth:`claim_due_batches` may return."""
        query = sa.select(sa.func.min(batches.c.next_poll_at)).where(
            batches.c.status.not_in((*BATCH_CLOSED_STATUSES, "intent")),
            batches.c.batch_id.is_not(None),
        )
        # ``min`` keeps the column's type, so the value comes back aware UTC on every backend.
        return self.transaction(lambda conn: conn.execute(query).scalar())

    def fetch_batch_items(self, ref: str) -> list[BatchItem]:
        """The handles submitted in the batch."""
        query = (
            sa.select(batch_items)
            .where(batch_items.c.batch_ref == ref)
            .order_by(batch_items.c.platform, batch_items.c.handle_key)
        )
        return self.transaction(
            lambda conn: [
                BatchItem(r.platform, r.handle_key, r.handle_value) for r in conn.execute(query)
            ]
        )

    def mark_batch_collected(self, ref: str) -> bool:
        """Close the batch after its results are in the ledger; False if it already was."""
        now = self.now()
        stmt = (
            sa.update(batches)
            .where(batches.c.ref == ref, batches.c.status != "collected")
            .values(
                status="collected",
                collected_at=now,
                finished_at=sa.func.coalesce(batches.c.finished_at, sa.literal(now, UTCDateTime)),
            )
        )
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def close_batch(self, ref: str) -> bool:
        """Stamp a failed batch closed (``collected_at``) keeping its status; False if it was."""
        now = self.now()
        stmt = (
            sa.update(batches)
            .where(batches.c.ref == ref, batches.c.collected_at.is_(None))
            .values(
                collected_at=now,
                finished_at=sa.func.coalesce(batches.c.finished_at, sa.literal(now, UTCDateTime)),
            )
        )
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def fetch_batched_keys(self, keys: Iterable[LedgerKey]) -> set[LedgerKey]:
        """Those of ``keys`` that an open batch (intents included) will answer."""
        wanted = sorted_keys(keys)
        columns = (batch_items.c.platform, batch_items.c.handle_key, batches.c.mode)
        query = (
            sa.select(*columns)
            .join(batches, batches.c.ref == batch_items.c.batch_ref)
            .where(batches.c.status.not_in(BATCH_CLOSED_STATUSES))
        )

        def work(conn: sa.Connection) -> set[LedgerKey]:
            return {
                LedgerKey(*row)
                for chunk in chunked(wanted)
                for row in conn.execute(
                    query.where(sa.tuple_(*columns).in_([tuple(k) for k in chunk]))
                )
            }

        return self.transaction(work) if wanted else set()

    def hand_over_reservations(
        self, keys: Iterable[LedgerKey], owner: str, holder: str, lease: timedelta
    ) -> int:
        """Give ``owner``'s reservations on ``keys`` to ``holder`` until now + ``lease``.

        The new holder is no live worker, so nobody extends or releases them: the keys stay
        blocked for exactly ``lease`` (e.g. after a batch upload that may have been billed).
        """
        wanted = sorted_keys(keys)
        expires = self.now() + lease

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(
                    sa.update(reservations)
                    .where(key_in(reservations, chunk), reservations.c.owner == owner)
                    .values(owner=holder, expires_at=expires)
                ).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0
