"""The enrichment ledger: every paid API answer (and free miss), by platform, handle and tier."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase, chunked, credit_run, sorted_keys
from connector.store.models import (
    LedgerEntry,
    LedgerKey,
    Outcome,
)
from connector.store.schema import ledger, reservations

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
