"""Per-record claims: which worker is processing a source's record, until when."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa

from connector.store.base import StoreBase, chunked
from connector.store.schema import record_claims


class ClaimMixin(StoreBase):
    """Record claims (and a source's poll lease) that expire, so a dead worker's claims lapse."""

    def claim_records(
        self, source: str, record_keys: Iterable[str], owner: str, lease: timedelta
    ) -> set[str]:
        """Claim records of ``source`` that are free or whose claim expired; returns those won."""
        wanted = sorted(set(record_keys))
        now = self.now()
        expires = now + lease

        def work(conn: sa.Connection) -> set[str]:
            won: set[str] = set()
            for chunk in chunked(wanted):
                stmt = (
                    self.insert(record_claims)
                    .values(
                        [
                            {
                                "source": source,
                                "record_key": k,
                                "owner": owner,
                                "expires_at": expires,
                            }
                            for k in chunk
                        ]
                    )
                    .on_conflict_do_nothing()
                    .returning(record_claims.c.record_key)
                )
                got = {row[0] for row in conn.execute(stmt)}
                rest = [k for k in chunk if k not in got]
                if rest:
                    takeover = (
                        sa.update(record_claims)
                        .where(
                            record_claims.c.source == source,
                            record_claims.c.record_key.in_(rest),
                            sa.or_(
                                record_claims.c.expires_at <= now, record_claims.c.owner == owner
                            ),
                        )
                        .values(owner=owner, expires_at=expires)
                        .returning(record_claims.c.record_key)
                    )
                    got |= {row[0] for row in conn.execute(takeover)}
                won |= got
            return won

        return self.transaction(work) if wanted else set()

    def release_records(self, source: str, record_keys: Iterable[str], owner: str) -> int:
        """Release ``owner``'s claims on the records; returns how many were released."""
        wanted = sorted(set(record_keys))

        def work(conn: sa.Connection) -> int:
            return sum(
                conn.execute(
                    sa.delete(record_claims).where(
                        record_claims.c.source == source,
                        record_claims.c.record_key.in_(chunk),
                        record_claims.c.owner == owner,
                    )
                ).rowcount
                for chunk in chunked(wanted)
            )

        return self.transaction(work) if wanted else 0
