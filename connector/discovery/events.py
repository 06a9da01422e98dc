"""Record events of a discovery run: each creator a page returned, and its share of the page."""

from __future__ import annotations

from collections.abc import Sequence

from connector.store.models import RecordEvent

ROUTE = "discovery"
NEW = "discovered"
KNOWN = "already known"
UNUSABLE = "unusable"


def build_page_events(
    run_id: str | None,
    source: str,
    destination: str,
    platform: str,
    outcomes: Sequence[tuple[str, str]],
    credits_cost: float,
) -> list[RecordEvent]:
    """One event per ``(handle, status)`` a page returned; the page's cost split evenly.

    Discovery bills per creator returned, known ones included, so each carries its share and
    the events of a run add up to what the run spent.
    """
    if not outcomes:
        if not credits_cost:
            return []
        return [RecordEvent(run_id, source, "empty page", route=ROUTE, credits=credits_cost)]
    share = credits_cost / len(outcomes)
    return [
        RecordEvent(
            run_id,
            source,
            status,
            handle=handle,
            platform=platform,
            route=ROUTE,
            credits=share,
            fields={"destination": destination} if status == NEW else {},
        )
        for handle, status in outcomes
    ]
