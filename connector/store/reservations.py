"""In-flight reservations: one owner per creator (or e-mail) while its paid request is out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from connector.store.base import chunked, sorted_keys
from connector.store.emails import email_fresh_clause
from connector.store.ledger import LedgerMixin, key_in
from connector.store.models import BATCH_CLOSED_STATUSES, LedgerKey, get_email_key, is_email_key
from connector.store.schema import batch_items, batches, email_lookups, ledger, reservations


class ReservationMixin(LedgerMixin):
    """Reserve, extend, release and hold creators; a fresh answer or an open batch blocks them."""

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
