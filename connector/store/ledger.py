"""The enrichment ledger (paid API answers) and the in-flight reservations that guard it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase, chunked, credit_run, sorted_keys
from connector.store.emails import email_fresh_clause
from connector.store.models import (
    BATCH_CLOSED_STATUSES,
    LedgerEntry,
    LedgerKey,
    Outcome,
    get_email_key,
    is_email_key,
)
from connector.store.schema import batch_items, batches, email_lookups, ledger, reservations

_OUTCOMES = ("found", "not_found")


def key_in(table: sa.Table, keys: Sequence[LedgerKey]) -> sa.ColumnElement[bool]:
    """``(platform, handle_key, mode) IN (...)`` for a table with those three columns."""
    return sa.tuple_(table.c.platform, table.c.handle_key, table.c.mode).in_(
        [tuple(k) for k in keys]
    )


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        key=LedgerKey(row.platform, row.handle_key, row.mode),
        outcome=row.outcome,
        profile=row.profile,
        credits_cost=float(row.credits_cost),
        fetched_at=row.fetched_at,
        refresh_requested_at=row.refresh_requested_at,
    )


class LedgerMixin(StoreBase):
    """Ledger reads and writes plus the reservation lease protocol."""

    def fresh_clause(
        self,
        now: datetime,
        found_max_age: timedelta | None = None,
        not_found_max_age: timedelta | None = None,
    ) -> sa.ColumnElement[bool]:
        """SQL condition: the ledger row is within its outcome's freshness window (and nobody
        asked to enrich the creator again)."""
        found = found_max_age if found_max_age is not None else self.found_max_age
        missing = not_found_max_age if not_found_max_age is not None else self.not_found_max_age
        return sa.and_(
            ledger.c.refresh_requested_at.is_(None),
            sa.or_(
                sa.and_(ledger.c.outcome == "found", ledger.c.fetched_at > now - found),
                sa.and_(ledger.c.outcome == "not_found", ledger.c.fetched_at > now - missing),
            ),
        )

    def lookup_fresh(
        self,
        keys: Iterable[LedgerKey],
        *,
        found_max_age: timedelta | None = None,
        not_found_max_age: timedelta | None = None,
    ) -> dict[LedgerKey, LedgerEntry]:
        """Ledger entries for ``keys`` that are still fresh (windows default to the store's)."""
        wanted = sorted_keys(keys)
        now = self.now()

        def work(conn: sa.Connection) -> dict[LedgerKey, LedgerEntry]:
            found: dict[LedgerKey, LedgerEntry] = {}
            for chunk in chunked(wanted):
                query = sa.select(ledger).where(
                    key_in(ledger, chunk),
                    self.fresh_clause(now, found_max_age, not_found_max_age),
                )
                for row in conn.execute(query):
                    entry = _entry(row)
                    found[entry.key] = entry
            return found

        return self.transaction(work) if wanted else {}

    def get_ledger_entries(self, keys: Iterable[LedgerKey]) -> dict[LedgerKey, LedgerEntry]:
        """Ledger entries for ``keys`` whatever their age."""
        wanted = sorted_keys(keys)

        def work(conn: sa.Connection) -> dict[LedgerKey, LedgerEntry]:
            rows = [
                r
                for chunk in chunked(wanted)
                for r in conn.execute(sa.select(ledger).where(key_in(ledger, chunk)))
            ]
            return {e.key: e for e in map(_entry, rows)}

        return self.transaction(work) if wanted else {}

    def save_result(
        self,
        key: LedgerKey,
        outcome: Outcome | str,
        profile: dict[str, Any] | None,
        credits_cost: float,
        *,
        run_id: str | None = None,
    ) -> None:
        """Upsert the answer for ``key`` and release its reservation in the same transaction."""
        self.save_results([(key, outcome, profile, credits_cost)], run_id=run_id)

    def save_results(
        self,
        results: Iterable[tuple[LedgerKey, Outcome | str, dict[str, Any] | None, float]],
        *,
        run_id: str | None = None,
    ) -> None:
        """Upsert many answers (e.g. a batch's results), releasing their reservations atomically.

        With ``run_id`` the run's ``credits_spent`` counter grows by the summed cost, in the same
        transaction, so a crash cannot leave the ledger and the counter disagreeing.
        """
        rows: dict[LedgerKey, dict[str, Any]] = {}
        now = self.now()
        for key, outcome, profile, cost in results:
            if outcome not in _OUTCOMES:
                raise ValueError(f"outcome must be one of {_OUTCOMES}, not {outcome!r}")
            key = LedgerKey(*key)
            rows[key] = {
                "platform": key.platform,
                "handle_key": key.handle_key,
                "mode": key.mode,
                "outcome": outcome,
                "profile": profile,
                "credits_cost": float(cost),
                "fetched_at": now,
                "refresh_requested_at": None,
            }
        if not rows:
            return
        ordered = sorted(rows)

        def work(conn: sa.Connection) -> None:
            for chunk in chunked(ordered):
                self.upsert(
                    conn,
                    ledger,
                    [rows[k] for k in chunk],
                    index=["platform", "handle_key", "mode"],
                    update=[
                        "outcome",
                        "profile",
                        "credits_cost",
                        "fetched_at",
                        "refresh_requested_at",
                    ],
                )
                conn.execute(sa.delete(reservations).where(key_in(reservations, chunk)))
            credit_run(conn, run_id, sum(r["credits_cost"] for r in rows.values()))

        self.transaction(work)

    def request_refresh(self, key: LedgerKey, fetched_at: datetime) -> bool:
        """Make the entry of ``key`` stale so the next record of it pays for a new answer.

        Compare-and-set on the ``fetched_at`` the human saw with the price: a second click, or
        a confirmation made before the new answer arrived, changes nothing (True only once).
        """
        stmt = (
            sa.update(ledger)
            .where(
                key_in(ledger, [LedgerKey(*key)]),
                ledger.c.fetched_at == fetched_at,
                ledger.c.refresh_requested_at.is_(None),
            )
            .values(refresh_requested_at=self.now())
        )
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def cancel_refresh(self, key: LedgerKey) -> bool:
        """Undo ``request_refresh`` (the record could not be queued again); True if undone."""
        stmt = (
            sa.update(ledger)
            .where(key_in(ledger, [LedgerKey(*key)]), ledger.c.refresh_requested_at.is_not(None))
            .values(refresh_requested_at=None)
        )
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def fetch_ledger_handles(self, platform: str, limit: int = 10_000) -> list[str]:
        """Handle keys in the ledger for ``platform``, most recently fetched first."""
        query = (
            sa.select(ledger.c.handle_key)
            .where(ledger.c.platform == platform)
            .group_by(ledger.c.handle_key)
            .order_by(sa.func.max(ledger.c.fetched_at).desc(), ledger.c.handle_key)
            .limit(limit)
        )
        return self.transaction(lambda conn: [str(k) for k in conn.execute(query).scalars()])

    def count_ledger(self) -> dict[str, int]:
        """How many ledger entries exist per outcome."""

        def work(conn: sa.Connection) -> dict[str, int]:
            query = sa.select(ledger.c.outcome, sa.func.count()).group_by(ledger.c.outcome)
            counts = {o: 0 for o in _OUTCOMES}
            counts.update({row[0]: int(row[1]) for row in conn.execute(query)})
            return counts

        return self.transaction(work)

    def summarise_ledger(self, mode: str) -> tuple[int, float]:
        """(creators found, credits they cost) among the ledger entries of one tier."""
        query = sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(ledger.c.credits_cost), 0.0)
        ).where(ledger.c.mode == mode, ledger.c.outcome == "found")

        def work(conn: sa.Connection) -> tuple[int, float]:
            count, credits = conn.execute(query).one()
            return int(count), float(credits)

        return self.transaction(work)

    def reserve(
        self,
        keys: Iterable[LedgerKey],
        owner: str,
        lease: timedelta,
        *,
        found_max_age: timedelta | None = None,
        not_found_max_age: timedelta | None = None,
    ) -> set[LedgerKey]:
        """Take the keys nobody holds (or whose lease expired); return those now owned by ``owner``.

        Keys with a fresh ledger entry, or sitting in an open batch, are never handed out. The
        freshness check runs after the row is taken, so a result saved by a racing worker (which
        releases its reservation in the same transaction) is always seen.
        """
        wanted = sorted_keys(keys)
        now = self.now()
        expires = now + lease

        def work(conn: sa.Connection) -> set[LedgerKey]:
            owned: set[LedgerKey] = set()
            cols = (reservations.c.platform, reservations.c.handle_key, reservations.c.mode)
            for chunk in chunked(wanted):
                stmt = (
                    self.insert(reservations)
                    .values(
                        [
                            {
                                "platform": k.platform,
                                "handle_key": k.handle_key,
                                "mode": k.mode,
                                "owner": owner,
                                "expires_at": expires,
                            }
                            for k in chunk
                        ]
                    )
                    .on_conflict_do_nothing()
                    .returning(*cols)
                )
                got = {LedgerKey(*r) for r in conn.execute(stmt)}
                rest = [k for k in chunk if k not in got]
                if rest:
                    takeover = (
                        sa.update(reservations)
                        .where(
                            key_in(reservations, rest),
                            sa.or_(
                                # A lapsed lease whose paid call had left may have been billed:
                                # only recovery (and a human retry) may decide about it.
                                sa.and_(
                                    reservations.c.expires_at <= now,
                                    reservations.c.call_started_at.is_(None),
                                ),
                                reservations.c.owner == owner,
                            ),
                        )
                        .values(owner=owner, expires_at=expires)
                        .returning(*cols)
                    )
                    got |= {LedgerKey(*r) for r in conn.execute(takeover)}
                blocked = self._blocked_keys(
                    conn, sorted(got), now, found_max_age, not_found_max_age
                )
                if blocked:
                    conn.execute(
                        sa.delete(reservations).where(
                            key_in(reservations, sorted(blocked)), reservations.c.owner == owner
                        )
                    )
                owned |= got - blocked
            return owned

        return self.transaction(work) if wanted else set()

    def _blocked_keys(
        self,
        conn: sa.Connection,
        keys: Sequence[LedgerKey],
        now: datetime,
        found_max_age: timedelta | None,
        not_found_max_age: timedelta | None,
    ) -> set[LedgerKey]:
        if not keys:
            return set()
        fresh = sa.select(ledger.c.platform, ledger.c.handle_key, ledger.c.mode).where(
            key_in(ledger, keys), self.fresh_clause(now, found_max_age, not_found_max_age)
        )
        in_batch = (
            sa.select(batch_items.c.platform, batch_items.c.handle_key, batches.c.mode)
            .join(batches, batches.c.ref == batch_items.c.batch_ref)
            .where(
                sa.tuple_(batch_items.c.platform, batch_items.c.handle_key, batches.c.mode).in_(
                    [tuple(k) for k in keys]
                ),
                batches.c.status.not_in(BATCH_CLOSED_STATUSES),
            )
        )
        blocked = {LedgerKey(*r) for r in conn.execute(fresh)} | {
            LedgerKey(*r) for r in conn.execute(in_batch)
        }
        emails = [k.handle_key for k in keys if is_email_key(k)]
        if emails:
            # An e-mail key's answers live in the e-mail ledger, with the same windows.
            answered = sa.select(email_lookups.c.email).where(
                email_lookups.c.email.in_(emails),
                email_fresh_clause(
                    now,
                    found_max_age if found_max_age is not None else self.found_max_age,
                    not_found_max_age if not_found_max_age is not None else self.not_found_max_age,
                ),
            )
            blocked |= {get_email_key(e) for e in conn.execute(answered).scalars()}
        return blocked

    def release(self, keys: Iterable[LedgerKey], owner: str) -> int:
        """Give back ``owner``'s reservations on ``keys``; returns how many were released."""
        wanted = sorted_keys(keys)

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(
                    sa.delete(reservations).where(
                        key_in(reservations, chunk), reservations.c.owner == owner
                    )
                ).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0

    def extend(self, keys: Iterable[LedgerKey], owner: str, lease: timedelta) -> set[LedgerKey]:
        """Push the lease of ``owner``'s reservations to now + ``lease``; returns the keys kept."""
        wanted = sorted_keys(keys)
        expires = self.now() + lease

        def work(conn: sa.Connection) -> set[LedgerKey]:
            kept: set[LedgerKey] = set()
            for chunk in chunked(wanted):
                stmt = (
                    sa.update(reservations)
                    .where(key_in(reservations, chunk), reservations.c.owner == owner)
                    .values(expires_at=expires)
                    .returning(
                        reservations.c.platform, reservations.c.handle_key, reservations.c.mode
                    )
                )
                kept |= {LedgerKey(*r) for r in conn.execute(stmt)}
            return kept

        return self.transaction(work) if wanted else set()

    def mark_calls_started(self, keys: Iterable[LedgerKey], owner: str) -> None:
        """Note that ``owner``'s paid requests for ``keys`` are about to be sent."""
        wanted = sorted_keys(keys)
        now = self.now()

        def work(conn: sa.Connection) -> None:
            for chunk in chunked(wanted):
                conn.execute(
                    sa.update(reservations)
                    .where(key_in(reservations, chunk), reservations.c.owner == owner)
                    .values(call_started_at=now)
                )

        if wanted:
            self.transaction(work)

    def fetch_interrupted_keys(self) -> list[LedgerKey]:
        """Keys whose paid call had been sent when its worker stopped (lease lapsed, no answer)."""
        now = self.now()
        query = sa.select(
            reservations.c.platform, reservations.c.handle_key, reservations.c.mode
        ).where(reservations.c.expires_at <= now, reservations.c.call_started_at.is_not(None))
        return self.transaction(lambda conn: [LedgerKey(*r) for r in conn.execute(query)])

    def hold_interrupted(
        self, keys: Iterable[LedgerKey], holder: str, hold: timedelta
    ) -> set[LedgerKey]:
        """Turn lapsed reservations whose paid call had left into ``holder``'s hold for ``hold``.

        Nothing pays for those creators on its own while the hold lasts; the call is no longer
        marked as in flight, so recovery settles each interruption once.
        """
        wanted = sorted_keys(keys)
        now = self.now()

        def work(conn: sa.Connection) -> set[LedgerKey]:
            held: set[LedgerKey] = set()
            for chunk in chunked(wanted):
                stmt = (
                    sa.update(reservations)
                    .where(
                        key_in(reservations, chunk),
                        reservations.c.expires_at <= now,
                        reservations.c.call_started_at.is_not(None),
                    )
                    .values(owner=holder, expires_at=now + hold, call_started_at=None)
                    .returning(
                        reservations.c.platform, reservations.c.handle_key, reservations.c.mode
                    )
                )
                held |= {LedgerKey(*r) for r in conn.execute(stmt)}
            return held

        return self.transaction(work) if wanted else set()

    def get_reservations(self, keys: Iterable[LedgerKey]) -> dict[LedgerKey, str]:
        """Current holders (lease not expired) of ``keys``: key → owner."""
        wanted = sorted_keys(keys)
        now = self.now()

        def work(conn: sa.Connection) -> dict[LedgerKey, str]:
            held: dict[LedgerKey, str] = {}
            for chunk in chunked(wanted):
                query = sa.select(reservations).where(
                    key_in(reservations, chunk), reservations.c.expires_at > now
                )
                held.update(
                    {
                        LedgerKey(r.platform, r.handle_key, r.mode): r.owner
                        for r in conn.execute(query)
                    }
                )
            return held

        return self.transaction(work) if wanted else {}
