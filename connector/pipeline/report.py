"""What one source cycle did, in figures a human (and the dashboard) can read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CycleReport:
    """What one source cycle did, in numbers a human (and the dashboard) can read."""

    source: str
    run_id: str | None = None
    dry_run: bool = False
    records: int = 0
    invalid: int = 0
    duplicates: int = 0
    cached: int = 0
    not_found: int = 0
    enriched: int = 0
    waiting: int = 0
    held: int = 0
    errors: int = 0
    written: int = 0
    credits_spent: float = 0.0
    credits_saved: float = 0.0
    quote: float = 0.0
    # The part of ``quote`` for e-mail lookups, and for the enrichment they may lead to (an
    # upper bound: a lookup may miss, or find a creator the ledger already holds).
    quote_lookups: float = 0.0
    quote_followup: float = 0.0
    # E-mails sent to Enrich by E-mail (single calls and basic batch rows), and their answers.
    email_lookups: int = 0
    email_matched: int = 0
    email_not_found: int = 0
    # Records claimed again while their earlier item still waits or is held (not re-quoted).
    reclaimed: int = 0
    # Creators of an unconfirmed batch upload enriched again because a human typed retry.
    retried: int = 0
    # Unique creators (or e-mails, ``email``) per route: single calls, batches, e-mail lookups.
    routes: dict[str, int] = field(default_factory=lambda: {"single": 0, "batch": 0, "email": 0})
    error: str | None = None
    plan: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: CycleReport) -> None:
        """Add ``other``'s counts and credits to this report (the first error is kept)."""
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(self, name, mine + value)
        for route, count in other.routes.items():
            self.routes[route] = self.routes.get(route, 0) + count
        self.error = self.error or other.error

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return {k: v for k, v in self.__dict__.items() if k != "plan"}
