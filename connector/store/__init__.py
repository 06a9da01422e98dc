"""The state store, the one place that knows SQL: SQLite by default, PostgreSQL for many workers."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from connector.config import Settings
from connector.errors import ConfigError, TransientError
from connector.store.alerts import AlertMixin
from connector.store.base import Clock, translate_error, utc_now
from connector.store.batches import BatchMixin
from connector.store.claims import ClaimMixin
from connector.store.engine import (
    create_engine_for,
    get_current_revision,
    get_head_revision,
    upgrade_database,
)
from connector.store.media import MediaMixin
from connector.store.models import (
    AlertLevel,
    AlertState,
    Batch,
    BatchItem,
    CreditSnapshot,
    Delivery,
    EmailLookup,
    LedgerEntry,
    LedgerKey,
    Media,
    NewWork,
    OutboxWrite,
    Outcome,
    RecordEvent,
    Run,
    RunStatus,
    WorkerBeat,
    WorkerState,
    WorkItem,
    WorkState,
)
from connector.store.outbox import OutboxMixin
from connector.store.records import RecordMixin
from connector.store.runs import RunMixin
from connector.store.state import StateMixin
from connector.store.work import WorkMixin
from connector.store.workers import WorkerMixin

__all__ = [
    "AlertLevel",
    "AlertState",
    "Batch",
    "BatchItem",
    "Clock",
    "CreditSnapshot",
    "Delivery",
    "EmailLookup",
    "LedgerEntry",
    "LedgerKey",
    "Media",
    "NewWork",
    "OutboxWrite",
    "Outcome",
    "RecordEvent",
    "Run",
    "RunStatus",
    "Store",
    "WorkItem",
    "WorkState",
    "WorkerBeat",
    "WorkerState",
    "utc_now",
]


class Store(
    WorkMixin,
    ClaimMixin,
    BatchMixin,
    OutboxMixin,
    RunMixin,
    RecordMixin,
    AlertMixin,
    StateMixin,
    MediaMixin,
    WorkerMixin,
):
    """Every persistent fact of the connector, behind domain verbs; safe to share across threads."""

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        found_max_age: timedelta = timedelta(days=30),
        not_found_max_age: timedelta = timedelta(days=7),
        migrate: bool = True,
    ) -> Store:
        """Connect to ``url`` and upgrade the schema to the newest revision.

        ``found_max_age``/``not_found_max_age`` are the default freshness windows of the ledger
        (``PipelineSettings.refresh_after_days``/``not_found_refresh_days``).
        """
        try:
            engine = create_engine_for(url)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(
                [f"database_url: {exc} (use sqlite:///path or postgresql://user@host/db)"]
            ) from exc
        except OSError as exc:
            raise ConfigError(
                [
                    f"cannot create the directory of the SQLite database ({exc.strerror or exc}): "
                    "point data_dir (or database_url) at a writable directory"
                ]
            ) from exc
        try:
            if migrate:
                upgrade_database(engine)
        except sa.exc.OperationalError as exc:
            engine.dispose()
            if engine.dialect.name == "sqlite":
                reason = str(exc.orig).strip().splitlines()[0]
                raise ConfigError(
                    [
                        f"cannot open the SQLite database {engine.url.database}: {reason} "
                        "(point data_dir at a writable directory)"
                    ]
                ) from exc
            raise translate_error(exc) from exc
        except sa.exc.SQLAlchemyError as exc:
            engine.dispose()
            raise translate_error(exc) from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(
            engine, clock=clock, found_max_age=found_max_age, not_found_max_age=not_found_max_age
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Store:
        """Open ``settings.resolved_database_url`` with the pipeline's freshness windows."""
        return cls.open(
            settings.resolved_database_url,
            clock=clock,
            found_max_age=timedelta(days=settings.pipeline.refresh_after_days),
            not_found_max_age=timedelta(days=settings.pipeline.not_found_refresh_days),
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def ping(self) -> None:
        """Run a trivial query; raise ``TransientError`` when the database is unreachable."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            raise TransientError(f"database unavailable: {exc.__class__.__name__}") from exc

    def get_schema_revision(self) -> tuple[str | None, str]:
        """(current revision of the database, newest revision shipped)."""
        try:
            return get_current_revision(self.engine), get_head_revision()
        except sa.exc.SQLAlchemyError as exc:
            raise translate_error(exc) from exc
