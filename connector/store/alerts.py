"""Alert rule states with compare-and-set transitions, and the log of alert deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.logs import redact
from connector.store.base import StoreBase
from connector.store.models import AlertLevel, AlertState, Delivery
from connector.store.schema import alert_states, deliveries


def _delivery(row: Any) -> Delivery:
    # Masked when read too: rows stored before masking existed keep their raw detail.
    return Delivery(
        row.id,
        row.sent_at,
        row.channel,
        row.rule,
        row.state,
        row.payload,
        bool(row.ok),
        redact(row.detail or ""),
    )


def _state(row: Any) -> AlertState:
    return AlertState(
        row.rule,
        row.state,
        row.since,
        row.last_sent_at,
        None if row.last_value is None else float(row.last_value),
    )


class AlertMixin(StoreBase):
    """Several workers evaluate the same rules; the CAS verbs let exactly one of them alert."""

    def get_alert_states(self) -> dict[str, AlertState]:
        """Every rule's state (rules never transitioned are absent, meaning ``ok``)."""
        query = sa.select(alert_states).order_by(alert_states.c.rule)
        return self.transaction(lambda conn: {r.rule: _state(r) for r in conn.execute(query)})

    def transition_alert(
        self,
        rule: str,
        expected_state: AlertLevel,
        new_state: AlertLevel,
        value: float | None = None,
    ) -> bool:
        """Move ``rule`` from ``expected_state`` to ``new_state``; True only for the one winner.

        The winner is expected to send the alert: ``since`` and ``last_sent_at`` become now.
        A rule with no row counts as ``ok``.
        """
        now = self.now()

        def work(conn: sa.Connection) -> bool:
            conn.execute(
                self.insert(alert_states)
                .values(
                    rule=rule,
                    state="ok",
                    since=now,
                    last_sent_at=None,
                    last_value=value,
                )
                .on_conflict_do_nothing()
            )
            stmt = (
                sa.update(alert_states)
                .where(alert_states.c.rule == rule, alert_states.c.state == expected_state)
                .values(state=new_state, since=now, last_sent_at=now, last_value=value)
            )
            return bool(conn.execute(stmt).rowcount)

        return self.transaction(work)

    def touch_alert_reminder(self, rule: str, expected_last_sent: datetime | None) -> bool:
        """Set ``last_sent_at`` to now if it still equals ``expected_last_sent`` (one winner)."""
        now = self.now()
        same: sa.ColumnElement[bool]
        if expected_last_sent is None:
            same = alert_states.c.last_sent_at.is_(None)
        else:
            same = alert_states.c.last_sent_at == expected_last_sent
        stmt = (
            sa.update(alert_states)
            .where(alert_states.c.rule == rule, same)
            .values(last_sent_at=now)
        )
        return bool(self.transaction(lambda conn: conn.execute(stmt).rowcount))

    def save_alert_value(self, rule: str, value: float | None) -> None:
        """Record the latest measured value without changing the state."""
        stmt = sa.update(alert_states).where(alert_states.c.rule == rule).values(last_value=value)
        self.transaction(lambda conn: conn.execute(stmt))

    def save_delivery(
        self,
        channel: str,
        rule: str,
        state: str,
        payload: dict[str, Any] | None,
        ok: bool,
        detail: str = "",
    ) -> int:
        """Log one delivery attempt; returns its id (URLs in ``detail`` are stored masked)."""
        stmt = (
            sa.insert(deliveries)
            .values(
                sent_at=self.now(),
                channel=channel,
                rule=rule,
                state=state,
                payload=payload,
                ok=ok,
                detail=redact(detail)[:2000],
            )
            .returning(deliveries.c.id)
        )
        return int(self.transaction(lambda conn: conn.execute(stmt).scalar_one()))

    def fetch_deliveries(self, limit: int = 50) -> list[Delivery]:
        """The most recent deliveries, newest first (details masked, rows stored before too)."""
        query = (
            sa.select(deliveries)
            .order_by(deliveries.c.sent_at.desc(), deliveries.c.id.desc())
            .limit(limit)
        )
        return self.transaction(lambda conn: [_delivery(r) for r in conn.execute(query)])

    def fetch_last_deliveries(self, rules: Iterable[str]) -> dict[str, Delivery]:
        """The newest delivery of each of ``rules`` (its payload holds the message text)."""
        wanted = sorted(set(rules))
        if not wanted:
            return {}
        newest = (
            sa.select(sa.func.max(deliveries.c.id))
            .where(deliveries.c.rule.in_(wanted))
            .group_by(deliveries.c.rule)
        )
        query = sa.select(deliveries).where(deliveries.c.id.in_(newest))
        return self.transaction(lambda conn: {r.rule: _delivery(r) for r in conn.execute(query)})
