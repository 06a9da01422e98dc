"""Pipeline runs (status, stats, holds and approvals) and the credit balance history."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.store.base import StoreBase
from connector.store.models import CreditSnapshot, Run, RunStatus
from connector.store.schema import credit_snapshots, deliveries, runs

HELD_STATUSES = ("held", "awaiting_approval", "approved")
RUN_STATUSES = (
    "running",
    "finished",
    "failed",
    "held",
    "awaiting_approval",
    "approved",
    "cancelled",
)


def _check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise ValueError(f"run status must be one of {RUN_STATUSES}, not {status!r}")


def _run(row: Any) -> Run:
    data = {name: row._mapping[name] for name in Run.__dataclass_fields__}
    data["stats"] = data["stats"] or {}
    return Run(**data)


class RunMixin(StoreBase):
    """Run bookkeeping and credit snapshots."""

    def start_run(
        self,
        source: str = "*",
        *,
        dry_run: bool = False,
        run_id: str | None = None,
        status: RunStatus = "running",
        quote: float | None = None,
    ) -> str:
        """Record a new run (``source`` ``"*"`` for all sources); returns its id."""
        _check_status(status)
        run_id = run_id or str(uuid.uuid4())
        row = {
            "run_id": run_id,
            "source": source,
            "started_at": self.now(),
            "dry_run": dry_run,
            "status": status,
            "stats": {},
            "quote": quote,
            "credits_spent": 0.0,
            "credits_saved": 0.0,
        }
        self.transaction(lambda conn: conn.execute(sa.insert(runs).values(**row)))
        return run_id

    def get_run(self, run_id: str) -> Run | None:
        """The run with ``run_id``, or None."""
        query = sa.select(runs).where(runs.c.run_id == run_id)
        row = self.transaction(lambda conn: conn.execute(query).first())
        return _run(row) if row else None

    def save_run_stats(self, run_id: str, stats: dict[str, Any]) -> None:
        """Replace the run's stats JSON (progress while it runs)."""
        self._update_run(run_id, stats=stats)

    def finish_run(
        self,
        run_id: str,
        stats: dict[str, Any] | None = None,
        *,
        status: RunStatus | str = "finished",
        error: str | None = None,
        credits_spent: float | None = None,
        credits_saved: float | None = None,
    ) -> None:
        """Close the run with its final status, stats and error.

        ``credits_spent``/``credits_saved`` overwrite the counters when given (for callers that
        total them themselves instead of using ``save_result(run_id=…)``/``add_run_credits``).
        """
        _check_status(status)
        values: dict[str, Any] = {"status": status, "finished_at": self.now(), "error": error}
        if stats is not None:
            values["stats"] = stats
            fetched = stats.get("records")
            if isinstance(fetched, int):
                # A held run finishes again when released: its first count stays.
                values["records"] = sa.case(
                    (runs.c.records < fetched, fetched), else_=runs.c.records
                )
        if credits_spent is not None:
            values["credits_spent"] = credits_spent
        if credits_saved is not None:
            values["credits_saved"] = credits_saved
        self._update_run(run_id, **values)

    def hold_run(
        self,
        run_id: str,
        reason: str,
        *,
        quote: float | None = None,
        status: RunStatus | str = "held",
    ) -> None:
        """Park the run (``held`` or ``awaiting_approval``) with a reason and credit quote."""
        if status not in ("held", "awaiting_approval"):
            raise ValueError("a run is held with status 'held' or 'awaiting_approval'")
        self._update_run(run_id, status=status, hold_reason=reason, quote=quote)

    def _update_run(self, run_id: str, **values: Any) -> None:
        stmt = sa.update(runs).where(runs.c.run_id == run_id).values(**values)
        if self.transaction(lambda conn: conn.execute(stmt).rowcount) != 1:
            raise KeyError(f"no run {run_id!r}")

    def _move_run(self, run_id: str, from_statuses: tuple[str, ...], to_status: str) -> bool:
        stmt = (
            sa.update(runs)
            .where(runs.c.run_id == run_id, runs.c.status.in_(from_statuses))
            .values(status=to_status)
        )
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def approve_run(self, run_id: str) -> bool:
        """``awaiting_approval`` → ``approved``; False if the run was not awaiting approval."""
        stmt = (
            sa.update(runs)
            .where(runs.c.run_id == run_id, runs.c.status == "awaiting_approval")
            .values(status="approved", approved_at=self.now())
        )
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def is_run_approved(self, run_id: str) -> bool:
        """True when a human approved the run (whether or not it has resumed since)."""
        query = sa.select(runs.c.approved_at).where(runs.c.run_id == run_id)
        approved_at = self.transaction(lambda conn: conn.execute(query).scalar_one_or_none())
        return approved_at is not None

    def resume_run(self, run_id: str) -> bool:
        """``approved`` or ``held`` → ``running``; only one of several workers gets True."""
        return self._move_run(run_id, ("approved", "held"), "running")

    def cancel_run(self, run_id: str) -> bool:
        """Cancel a held, awaiting or approved run; False if it was in any other state."""
        stmt = (
            sa.update(runs)
            .where(runs.c.run_id == run_id, runs.c.status.in_(HELD_STATUSES))
            .values(status="cancelled", finished_at=self.now())
        )
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def add_run_credits(self, run_id: str, *, spent: float = 0.0, saved: float = 0.0) -> None:
        """Atomically add to the run's credits-spent and credits-saved counters."""
        stmt = (
            sa.update(runs)
            .where(runs.c.run_id == run_id)
            .values(
                credits_spent=runs.c.credits_spent + spent,
                credits_saved=runs.c.credits_saved + saved,
            )
        )
        self.transaction(lambda conn: conn.execute(stmt))

    def fetch_runs(
        self, limit: int = 20, *, source: str | None = None, idle: bool = True
    ) -> list[Run]:
        """The most recent runs, newest first; ``idle=False`` leaves out runs that did nothing.

        A run did something when it fetched records, spent or saved credits, failed or holds
        work; an idle poll (finished, nothing fetched) did not.
        """
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id).limit(limit)
        if source is not None:
            query = query.where(runs.c.source == source)
        if not idle:
            query = query.where(
                sa.or_(
                    runs.c.records > 0,
                    runs.c.credits_spent > 0,
                    runs.c.credits_saved > 0,
                    runs.c.error.is_not(None),
                    runs.c.status.in_(("failed", "cancelled", *HELD_STATUSES)),
                )
            )
        return self.transaction(lambda conn: [_run(r) for r in conn.execute(query)])

    def fetch_spending_runs(self, since: datetime) -> list[Run]:
        """Runs started at or after ``since`` that spent or saved credits, oldest first."""
        query = (
            sa.select(runs)
            .where(
                runs.c.started_at >= since,
                sa.or_(runs.c.credits_spent > 0, runs.c.credits_saved > 0),
            )
            .order_by(runs.c.started_at, runs.c.run_id)
        )
        return self.transaction(lambda conn: [_run(r) for r in conn.execute(query)])

    def fetch_held_runs(self) -> list[Run]:
        """Runs that are held, awaiting approval or approved but not resumed, oldest first."""
        query = (
            sa.select(runs)
            .where(runs.c.status.in_(HELD_STATUSES))
            .order_by(runs.c.started_at, runs.c.run_id)
        )
        return self.transaction(lambda conn: [_run(r) for r in conn.execute(query)])

    def sum_credits_spent(self, since: datetime | None = None) -> float:
        """Credits spent by runs started at or after ``since`` (all runs when None)."""
        query = sa.select(sa.func.coalesce(sa.func.sum(runs.c.credits_spent), 0.0))
        if since is not None:
            query = query.where(runs.c.started_at >= since)
        return float(self.transaction(lambda conn: conn.execute(query).scalar_one()))

    def save_credit_snapshot(self, available: float, used: float | None = None) -> CreditSnapshot:
        """Record the balance as of now."""
        snapshot = CreditSnapshot(
            taken_at=self.now(),
            available=float(available),
            used=None if used is None else float(used),
        )
        stmt = sa.insert(credit_snapshots).values(
            taken_at=snapshot.taken_at, available=snapshot.available, used=snapshot.used
        )
        self.transaction(lambda conn: conn.execute(stmt))
        return snapshot

    def fetch_credit_history(self, since: datetime | None = None) -> list[CreditSnapshot]:
        """Balance snapshots taken at or after ``since``, oldest first."""
        query = sa.select(credit_snapshots).order_by(
            credit_snapshots.c.taken_at, credit_snapshots.c.id
        )
        if since is not None:
            query = query.where(credit_snapshots.c.taken_at >= since)
        return self.transaction(
            lambda conn: [
                CreditSnapshot(
                    r.taken_at, float(r.available), None if r.used is None else float(r.used)
                )
                for r in conn.execute(query)
            ]
        )

    def get_latest_credit_snapshot(self) -> CreditSnapshot | None:
        """The newest balance reading, or None."""
        query = (
            sa.select(credit_snapshots)
            .order_by(credit_snapshots.c.taken_at.desc(), credit_snapshots.c.id.desc())
            .limit(1)
        )
        row = self.transaction(lambda conn: conn.execute(query).first())
        if row is None:
            return None
        return CreditSnapshot(
            row.taken_at, float(row.available), None if row.used is None else float(row.used)
        )

    def prune_history(self, before: datetime) -> dict[str, int]:
        """Delete closed runs, credit snapshots and alert deliveries older than ``before``."""
        closed = ("finished", "failed", "cancelled")
        statements = {
            "runs": sa.delete(runs).where(runs.c.status.in_(closed), runs.c.started_at < before),
            "credit_snapshots": sa.delete(credit_snapshots).where(
                credit_snapshots.c.taken_at < before
            ),
            "deliveries": sa.delete(deliveries).where(deliveries.c.sent_at < before),
        }
        return self.transaction(
            lambda conn: {name: conn.execute(stmt).rowcount for name, stmt in statements.items()}
        )
