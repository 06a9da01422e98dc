"""The store's shared plumbing: engine, clock, transactions with retries and error translation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from connector.errors import ConnectorError, TransientError
from connector.retry import RetryPolicy, call_with_retries
from connector.store.models import LedgerKey
from connector.store.schema import runs
from connector.store.wake import Wake, build_wake

T = TypeVar("T")
Clock = Callable[[], datetime]
CHUNK = 500
_RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure
CONFLICT_RETRY = RetryPolicy(attempts=5, wait_initial=0.01, wait_max=0.2, wait_jitter=0.02)
log = logging.getLogger("connector.store")


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Yield ``items`` in slices of at most ``size`` (keeps IN lists and parameters bounded)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def credit_run(conn: sa.Connection, run_id: str | None, spent: float) -> None:
    """Add ``spent`` to a run's ``credits_spent``, in the caller's transaction."""
    if run_id is not None:
        conn.execute(
            sa.update(runs)
            .where(runs.c.run_id == run_id)
            .values(credits_spent=runs.c.credits_spent + spent)
        )


def sorted_keys(keys: Iterable[LedgerKey]) -> list[LedgerKey]:
    """Unique keys in one global order, so concurrent writers lock rows in the same order."""
    return sorted({LedgerKey(*k) for k in keys})


class StoreBase:
    """Engine, clock and freshness defaults shared by every topic mixin."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        clock: Clock | None = None,
        found_max_age: timedelta = timedelta(days=30),
        not_found_max_age: timedelta = timedelta(days=7),
    ) -> None:
        self.engine = engine
        self.clock: Clock = clock or utc_now
        self.found_max_age = found_max_age
        self.not_found_max_age = not_found_max_age
        # Tells the workers that a poll request is waiting (see ``connector.store.wake``).
        self.wake: Wake = build_wake(engine)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def now(self) -> datetime:
        """The injected clock's time, as aware UTC."""
        value = self.clock()
        if value.tzinfo is None:
            raise ValueError("the store clock must return timezone-aware datetimes")
        return value.astimezone(UTC)

    def insert(self, table: sa.Table) -> Any:
        """A dialect-specific INSERT that supports ``on_conflict_do_nothing/update``."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        raise ConnectorError(
            f"unsupported database dialect {self.dialect!r}", hint="use SQLite or PostgreSQL"
        )

    def upsert(
        self,
        conn: sa.Connection,
        table: sa.Table,
        rows: Sequence[dict[str, Any]],
        *,
        index: Sequence[str],
        update: Sequence[str],
    ) -> None:
        """INSERT ``rows``; a row whose ``index`` columns exist replaces its ``update`` columns."""
        stmt = self.insert(table).values(list(rows))
        stmt = stmt.on_conflict_do_update(
            index_elements=list(index), set_={c: stmt.excluded[c] for c in update}
        )
        conn.execute(stmt)

    def select_by_ids(self, table: sa.Table, ids: Iterable[int]) -> list[sa.Row[Any]]:
        """The rows of ``table`` with these ids (missing ones skipped), in id order."""
        wanted = sorted(set(ids))
        query = sa.select(table).order_by(table.c.id)

        def work(conn: sa.Connection) -> list[sa.Row[Any]]:
            return [
                row
                for chunk in chunked(wanted)
                for row in conn.execute(query.where(table.c.id.in_(chunk)))
            ]

        return self.transaction(work) if wanted else []

    def transaction(self, work: Callable[[sa.Connection], T]) -> T:
        """Run ``work`` in one transaction; retry deadlocks, translate driver errors."""

        def attempt() -> T:
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except sa.exc.DBAPIError as exc:
                if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
                    raise ConflictError(f"transaction conflict: {exc.orig}") from exc
                raise translate_error(exc) from exc
            except sa.exc.StatementError as exc:
                # A bad argument (e.g. a naive datetime) is a caller bug, not a database problem.
                if isinstance(exc.orig, ValueError | TypeError):
                    raise exc.orig from exc
                raise translate_error(exc) from exc
            except sa.exc.SQLAlchemyError as exc:
                raise translate_error(exc) from exc

        # Only a conflict is retried here: the transaction was rolled back, so running it again
        # is safe; a lost connection is left to the caller, who knows whether the work may repeat.
        return call_with_retries(
            attempt,
            policy=CONFLICT_RETRY,
            what="database transaction",
            should_retry=lambda error: isinstance(error, ConflictError),
        )


class ConflictError(TransientError):
    """A deadlock or serialization failure: the transaction was rolled back and may run again."""


def translate_error(exc: sa.exc.SQLAlchemyError) -> ConnectorError:
    """Map a SQLAlchemy error to the connector's tree: lost connections are transient."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError) or (
        isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated
    ):
        return TransientError(f"database unavailable: {detail}")
    return ConnectorError(f"database error: {detail}")
