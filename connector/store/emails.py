"""The e-mail ledger: which creator each looked-up address names, or that none does."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase, chunked, credit_run
from connector.store.models import EMAIL, EmailLookup, Outcome
from connector.store.schema import email_lookups, reservations

_OUTCOMES = ("found", "not_found")


def email_fresh_clause(
    now: datetime, found_max_age: timedelta, not_found_max_age: timedelta
) -> sa.ColumnElement[bool]:
    """SQL condition: the ``email_lookups`` row is within its outcome's freshness window."""
    c = email_lookups.c
    return sa.or_(
        sa.and_(c.outcome == "found", c.fetched_at > now - found_max_age),
        sa.and_(c.outcome == "not_found", c.fetched_at > now - not_found_max_age),
    )


def _lookup(row: Any) -> EmailLookup:
    return EmailLookup(
        email=row.email,
        outcome=row.outcome,
        platform=row.platform,
        username=row.username,
        result=row.result,
        credits_cost=float(row.credits_cost),
        fetched_at=row.fetched_at,
    )


class EmailMixin(StoreBase):
    """Reads and writes of e-mail lookups (their reservations are creators' reservations)."""

    def lookup_fresh_emails(
        self,
        emails: Iterable[str],
        *,
        found_max_age: timedelta | None = None,
        not_found_max_age: timedelta | None = None,
    ) -> dict[str, EmailLookup]:
        """Lookups of ``emails`` still within their freshness window (defaults: the store's)."""
        wanted = sorted(set(emails))
        now = self.now()
        fresh = email_fresh_clause(
            now,
            found_max_age if found_max_age is not None else self.found_max_age,
            not_found_max_age if not_found_max_age is not None else self.not_found_max_age,
        )

        def work(conn: sa.Connection) -> dict[str, EmailLookup]:
            query = sa.select(email_lookups).where(fresh)
            return {
                row.email: _lookup(row)
                for chunk in chunked(wanted)
                for row in conn.execute(query.where(email_lookups.c.email.in_(chunk)))
            }

        return self.transaction(work) if wanted else {}

    def save_email_results(
        self,
        results: Iterable[
            tuple[str, Outcome | str, str | None, str | None, dict[str, Any] | None, float]
        ],
        *,
        run_id: str | None = None,
    ) -> None:
        """Upsert lookups ``(email, outcome, platform, username, result, cost)``.

        Their reservations go in the same transaction (as a creator's with its ledger row), and
        with ``run_id`` the run's ``credits_spent`` grows by the summed cost.
        """
        now = self.now()
        rows: dict[str, dict[str, Any]] = {}
        for email, outcome, platform, username, result, cost in results:
            if outcome not in _OUTCOMES:
                raise ValueError(f"outcome must be one of {_OUTCOMES}, not {outcome!r}")
            rows[email] = {
                "email": email,
                "outcome": outcome,
                "platform": platform,
                "username": username,
                "result": result,
                "credits_cost": float(cost),
                "fetched_at": now,
            }
        if not rows:
            return
        ordered = sorted(rows)

        def work(conn: sa.Connection) -> None:
            for chunk in chunked(ordered):
                self.upsert(
                    conn,
                    email_lookups,
                    [rows[e] for e in chunk],
                    index=["email"],
                    update=[
                        "outcome",
                        "platform",
                        "username",
                        "result",
                        "credits_cost",
                        "fetched_at",
                    ],
                )
                conn.execute(
                    sa.delete(reservations).where(
                        reservations.c.platform == EMAIL,
                        reservations.c.mode == EMAIL,
                        reservations.c.handle_key.in_(chunk),
                    )
                )
            credit_run(conn, run_id, sum(r["credits_cost"] for r in rows.values()))

        self.transaction(work)

    def sum_email_credits(self) -> float:
        """Credits the stored e-mail lookups cost (hits; misses are free)."""
        query = sa.select(sa.func.coalesce(sa.func.sum(email_lookups.c.credits_cost), 0.0))
        return float(self.transaction(lambda conn: conn.execute(query).scalar_one()))

    def count_email_lookups(self) -> dict[str, int]:
        """How many e-mail lookups exist per outcome."""

        def work(conn: sa.Connection) -> dict[str, int]:
            query = sa.select(email_lookups.c.outcome, sa.func.count()).group_by(
                email_lookups.c.outcome
            )
            counts = {o: 0 for o in _OUTCOMES}
            counts.update({row[0]: int(row[1]) for row in conn.execute(query)})
            return counts

        return self.transaction(work)
