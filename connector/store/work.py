"""Work items: source records parked on a ledger key until their answer is written back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import chunked, sorted_keys
from connector.store.emails import EmailMixin, email_fresh_clause
from connector.store.ledger import key_in
from connector.store.models import (
    EMAIL,
    WORK_STATES,
    LedgerKey,
    NewWork,
    WorkItem,
    WorkState,
    get_email_key,
)
from connector.store.reservations import ReservationMixin
from connector.store.schema import email_lookups, ledger, work_items

_CLAIMABLE = ("waiting", "held")


def _item(row: Any) -> WorkItem:
    return WorkItem(
        id=row.id,
        source=row.source,
        record_key=row.record_key,
        identity=row.identity,
        key=LedgerKey(row.platform, row.handle_key, row.mode),
        handle_value=row.handle_value,
        location=row.location,
        state=row.state,
        run_id=row.run_id,
        batch_ref=row.batch_ref,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        current=row.current or {},
        email=row.email,
        fill_handle=bool(row.fill_handle),
    )


def _match_key(key: LedgerKey, email: str | None) -> LedgerKey:
    """What a re-claimed record's open item is found by: its e-mail when identified by one.

    An item identified by e-mail is re-keyed to its creator once the lookup answered, while
    the record, claimed again, still names only the e-mail.
    """
    return get_email_key(email) if email else LedgerKey(*key)


def _check_state(state: str) -> None:
    if state not in WORK_STATES:
        raise ValueError(f"work state must be one of {WORK_STATES}, not {state!r}")


class WorkMixin(ReservationMixin, EmailMixin):
    """Work items and simple record claims for sources without their own claim mechanism."""

    def add_work(self, items: Iterable[NewWork]) -> list[WorkItem]:
        """Insert or replace work items (unique per source and record key); returns them in
        input order (one per source and record key)."""
        now = self.now()
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            _check_state(item.state)
            key = LedgerKey(*item.key)
            rows[(item.source, item.record_key)] = {
                "source": item.source,
                "record_key": item.record_key,
                "identity": item.identity,
                "platform": key.platform,
                "handle_key": key.handle_key,
                "mode": key.mode,
                "handle_value": item.handle_value,
                "location": item.location,
                "current": dict(item.current),
                "email": item.email,
                "fill_handle": item.fill_handle,
                "state": item.state,
                "run_id": item.run_id,
                "batch_ref": item.batch_ref,
                "error": None,
                "claim_owner": None,
                "claim_expires_at": None,
                "created_at": now,
                "updated_at": now,
            }
        ordered = [rows[k] for k in sorted(rows)]

        def work(conn: sa.Connection) -> list[WorkItem]:
            saved: dict[tuple[str, str], WorkItem] = {}
            for chunk in chunked(ordered):
                stmt = self.insert(work_items).values(list(chunk))
                replaced = (
                    "identity",
                    "platform",
                    "handle_key",
                    "mode",
                    "handle_value",
                    "location",
                    "current",
                    "email",
                    "fill_handle",
                    "state",
                    "run_id",
                    "batch_ref",
                    "error",
                    "claim_owner",
                    "claim_expires_at",
                    "updated_at",
                )
                stmt = stmt.on_conflict_do_update(
                    index_elements=["source", "record_key"],
                    set_={c: stmt.excluded[c] for c in replaced},
                ).returning(*work_items.c)
                saved.update({(r.source, r.record_key): _item(r) for r in conn.execute(stmt)})
            return [saved[k] for k in rows]

        return self.transaction(work) if ordered else []

    def rekey_open_work(
        self, items: Sequence[NewWork]
    ) -> tuple[list[tuple[str, WorkItem]], list[NewWork]]:
        """Point open (waiting/held) items at the records just claimed again for them.

        A record claimed anew (a sheet row's claim lapsed, a held HubSpot contact polled again)
        may come with a new record key; its open item with the same source, identity and ledger
        key moves to that key instead of being duplicated, keeping its state, run and batch.
        Each open item takes at most one record. Returns ((previous record key, moved item)
        pairs, records left unmatched).
        """
        c = work_items.c

        def work(conn: sa.Connection) -> tuple[list[tuple[str, WorkItem]], list[NewWork]]:
            found: dict[tuple[str, str, LedgerKey], list[WorkItem]] = {}
            for source in sorted({i.source for i in items}):
                identities = sorted({i.identity for i in items if i.source == source})
                for chunk in chunked(identities):
                    query = sa.select(work_items).order_by(c.id).where(c.source == source)
                    query = query.where(c.identity.in_(chunk), c.state.in_(_CLAIMABLE))
                    for item in map(_item, conn.execute(query)):
                        wanted = _match_key(item.key, item.email)
                        found.setdefault((source, item.identity, wanted), []).append(item)
            moved: list[tuple[str, WorkItem]] = []
            rest: list[NewWork] = []
            for new in items:
                candidates = found.get(
                    (new.source, new.identity, _match_key(new.key, new.email)), []
                )
                by_key = sa.select(c.id).where(
                    c.source == new.source, c.record_key == new.record_key
                )
                holder = conn.execute(by_key).scalar() if candidates else None
                # The record's own open item wins; an unrelated row holding the key blocks moving.
                match = [i for i in candidates if i.id == holder] or (
                    [] if holder else candidates[:1]
                )
                if not match:
                    rest.append(new)
                    continue
                old = match[0]
                candidates.remove(old)
                values = {"record_key": new.record_key, "location": new.location}
                stmt = sa.update(work_items).where(c.id == old.id).values(**values)
                stmt = stmt.values(current=dict(new.current)).returning(*work_items.c)
                moved.append((old.record_key, _item(conn.execute(stmt).one())))
            return moved, rest

        return self.transaction(work) if items else ([], [])

    def fetch_work_by_ids(self, ids: Iterable[int]) -> list[WorkItem]:
        """The work items with these ids (missing ones are skipped), in id order."""
        return [_item(r) for r in self.select_by_ids(work_items, ids)]

    def fetch_work_for_keys(
        self, keys: Iterable[LedgerKey], states: Iterable[WorkState] | None = None
    ) -> list[WorkItem]:
        """Work items parked on any of ``keys`` (optionally only in ``states``), in id order."""
        wanted = sorted_keys(keys)
        query = sa.select(work_items).order_by(work_items.c.id)
        if states is not None:
            query = query.where(work_items.c.state.in_(list(states)))

        def work(conn: sa.Connection) -> list[WorkItem]:
            found = [
                _item(r)
                for chunk in chunked(wanted)
                for r in conn.execute(query.where(key_in(work_items, chunk)))
            ]
            return sorted(found, key=lambda item: item.id)

        return self.transaction(work) if wanted else []

    def set_work_key(self, ids: Iterable[int], key: LedgerKey, handle_value: str) -> list[WorkItem]:
        """Point items at another ledger key (an e-mail answered: its creator); returns them."""
        wanted = sorted(set(ids))
        now = self.now()
        key = LedgerKey(*key)

        def work(conn: sa.Connection) -> list[WorkItem]:
            moved: list[WorkItem] = []
            for chunk in chunked(wanted):
                stmt = (
                    sa.update(work_items)
                    .where(work_items.c.id.in_(chunk))
                    .values(
                        platform=key.platform,
                        handle_key=key.handle_key,
                        mode=key.mode,
                        handle_value=handle_value,
                        updated_at=now,
                    )
                    .returning(*work_items.c)
                )
                moved += [_item(r) for r in conn.execute(stmt)]
            return sorted(moved, key=lambda item: item.id)

        return self.transaction(work) if wanted else []

    def set_work_batch(
        self,
        keys: Iterable[LedgerKey],
        batch_ref: str,
        states: Iterable[WorkState] = ("waiting",),
    ) -> int:
        """Tag the items parked on ``keys`` (in ``states``) with the batch that will answer them."""
        wanted = sorted_keys(keys)
        now = self.now()

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(
                    sa.update(work_items)
                    .where(key_in(work_items, chunk), work_items.c.state.in_(list(states)))
                    .values(batch_ref=batch_ref, updated_at=now)
                ).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0

    def fetch_ready_work(
        self, source: str | None = None, *, limit: int | None = None
    ) -> list[WorkItem]:
        """Waiting items whose ledger key now has a fresh entry, oldest first."""
        now = self.now()
        query = (
            sa.select(work_items)
            .join(
                ledger,
                sa.and_(
                    ledger.c.platform == work_items.c.platform,
                    ledger.c.handle_key == work_items.c.handle_key,
                    ledger.c.mode == work_items.c.mode,
                ),
            )
            .where(work_items.c.state == "waiting", self.fresh_clause(now))
            .order_by(work_items.c.id)
        )
        if source is not None:
            query = query.where(work_items.c.source == source)
        if limit is not None:
            query = query.limit(limit)
        return self.transaction(lambda conn: [_item(r) for r in conn.execute(query)])

    def fetch_ready_email_work(self, *, limit: int | None = None) -> list[WorkItem]:
        """Waiting items parked on an e-mail whose lookup is now fresh, oldest first."""
        now = self.now()
        query = (
            sa.select(work_items)
            .join(email_lookups, email_lookups.c.email == work_items.c.handle_key)
            .where(
                work_items.c.state == "waiting",
                work_items.c.platform == EMAIL,
                work_items.c.mode == EMAIL,
                email_fresh_clause(now, self.found_max_age, self.not_found_max_age),
            )
            .order_by(work_items.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        return self.transaction(lambda conn: [_item(r) for r in conn.execute(query)])

    def fetch_work(
        self,
        source: str | None = None,
        state: WorkState | None = None,
        *,
        run_id: str | None = None,
        batch_ref: str | None = None,
        limit: int | None = None,
    ) -> list[WorkItem]:
        """Work items filtered by source, state, run and batch, oldest first."""
        query = sa.select(work_items).order_by(work_items.c.id)
        for column, value in (
            ("source", source),
            ("state", state),
            ("run_id", run_id),
            ("batch_ref", batch_ref),
        ):
            if value is not None:
                query = query.where(work_items.c[column] == value)
        if limit is not None:
            query = query.limit(limit)
        return self.transaction(lambda conn: [_item(r) for r in conn.execute(query)])

    def set_work_state(
        self,
        ids: Iterable[int],
        state: WorkState,
        *,
        error: str | None = None,
        run_id: str | None = None,
        batch_ref: str | None = None,
    ) -> int:
        """Move items to ``state`` (clearing any claim); ``run_id``/``batch_ref`` set when given."""
        _check_state(state)
        wanted = sorted(set(ids))
        values: dict[str, Any] = {
            "state": state,
            "error": error,
            "updated_at": self.now(),
            "claim_owner": None,
            "claim_expires_at": None,
        }
        if run_id is not None:
            values["run_id"] = run_id
        if batch_ref is not None:
            values["batch_ref"] = batch_ref

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(
                    sa.update(work_items).where(work_items.c.id.in_(chunk)).values(**values)
                ).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0

    def claim_work(self, ids: Iterable[int], owner: str, lease: timedelta) -> set[int]:
        """Claim waiting/held items for ``owner`` until now + ``lease``; returns the ids won."""
        wanted = sorted(set(ids))
        now = self.now()

        def work(conn: sa.Connection) -> set[int]:
            won: set[int] = set()
            for chunk in chunked(wanted):
                stmt = (
                    sa.update(work_items)
                    .where(
                        work_items.c.id.in_(chunk),
                        work_items.c.state.in_(_CLAIMABLE),
                        sa.or_(
                            work_items.c.claim_owner.is_(None),
                            work_items.c.claim_owner == owner,
                            work_items.c.claim_expires_at <= now,
                        ),
                    )
                    .values(claim_owner=owner, claim_expires_at=now + lease)
                    .returning(work_items.c.id)
                )
                won |= {row[0] for row in conn.execute(stmt)}
            return won

        return self.transaction(work) if wanted else set()

    def hand_back_work(self, ids: Iterable[int], *, stalled_since: datetime) -> int:
        """Leave waiting items for any worker to resume now (their worker is stopping).

        ``updated_at`` goes back to ``stalled_since`` and claims are dropped, so recovery sees
        the items as stalled at once instead of after a lease.
        """
        wanted = sorted(set(ids))

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(
                    sa.update(work_items)
                    .where(work_items.c.id.in_(chunk), work_items.c.state == "waiting")
                    .values(updated_at=stalled_since, claim_owner=None, claim_expires_at=None)
                ).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0

    def release_work(self, ids: Iterable[int], owner: str) -> int:
        """Drop ``owner``'s claims on the items."""
        wanted = sorted(set(ids))

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(
                    sa.update(work_items)
                    .where(work_items.c.id.in_(chunk), work_items.c.claim_owner == owner)
                    .values(claim_owner=None, claim_expires_at=None)
                ).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0

    def delete_work(
        self, *, states: Iterable[WorkState] = ("done", "failed"), older_than: datetime
    ) -> int:
        """Delete finished items last updated before ``older_than``; returns how many."""
        stmt = sa.delete(work_items).where(
            work_items.c.state.in_(list(states)), work_items.c.updated_at < older_than
        )
        return self.transaction(lambda conn: conn.execute(stmt).rowcount)

    def count_work_by_state(self, source: str | None = None) -> dict[str, int]:
        """Number of work items per state (every state present, zeros included)."""
        query = sa.select(work_items.c.state, sa.func.count()).group_by(work_items.c.state)
        if source is not None:
            query = query.where(work_items.c.source == source)

        def work(conn: sa.Connection) -> dict[str, int]:
            counts = dict.fromkeys(WORK_STATES, 0)
            counts.update({row[0]: int(row[1]) for row in conn.execute(query)})
            return counts

        return self.transaction(work)
