"""Worker heartbeats: which worker processes are alive, stopping or gone, and what they run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase
from connector.store.models import WorkerBeat, WorkerState
from connector.store.schema import worker_heartbeats

# A worker writes its heartbeat this often; one silent for HEARTBEAT_STALE is gone (or hung).
HEARTBEAT_EVERY = timedelta(seconds=15)
HEARTBEAT_STALE = timedelta(seconds=60)


def _beat(row: Any) -> WorkerBeat:
    return WorkerBeat(
        worker_id=row.worker_id,
        hostname=row.hostname,
        pid=int(row.pid),
        state=row.state,
        started_at=row.started_at,
        beat_at=row.beat_at,
        running=list(row.running or []),
    )


class WorkerMixin(StoreBase):
    """Heartbeats the worker writes and the web app and ``connector worker --check`` read."""

    def save_heartbeat(
        self,
        worker_id: str,
        *,
        hostname: str,
        pid: int,
        started_at: datetime,
        state: WorkerState = "running",
        running: Sequence[str] = (),
    ) -> None:
        """Record that ``worker_id`` is alive now (or stopping, or stopped)."""
        values = {
            "hostname": hostname,
            "pid": pid,
            "state": state,
            "started_at": started_at,
            "beat_at": self.now(),
            "running": sorted(running),
        }
        stmt = self.insert(worker_heartbeats).values(worker_id=worker_id, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["worker_id"], set_=values)
        self.transaction(lambda conn: conn.execute(stmt))

    def fetch_heartbeats(self, *, since: datetime | None = None) -> list[WorkerBeat]:
        """Every worker's last heartbeat (only those after ``since``), newest first."""
        query = sa.select(worker_heartbeats).order_by(worker_heartbeats.c.beat_at.desc())
        if since is not None:
            query = query.where(worker_heartbeats.c.beat_at >= since)
        return self.transaction(lambda conn: [_beat(r) for r in conn.execute(query)])

    def fetch_live_workers(self) -> list[WorkerBeat]:
        """Workers that beat within ``HEARTBEAT_STALE`` and have not stopped."""
        beats = self.fetch_heartbeats(since=self.now() - HEARTBEAT_STALE)
        return [beat for beat in beats if beat.state != "stopped"]

    def prune_heartbeats(self, before: datetime) -> int:
        """Forget workers whose last heartbeat is older than ``before``."""
        stmt = sa.delete(worker_heartbeats).where(worker_heartbeats.c.beat_at < before)
        return int(self.transaction(lambda conn: conn.execute(stmt).rowcount))
