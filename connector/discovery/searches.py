"""Saved creator searches: page through discovery, exclude known creators, deliver only new ones."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from connector.config import DiscoverySearchSettings, Settings
from connector.config.search_filters import (
    MAX_EXCLUDED_HANDLES,
    check_search,
    check_search_destination,
)
from connector.discovery.context import DiscoveryServices
from connector.discovery.destinations import (
    Creator,
    Destination,
    build_destination,
    parse_creator,
)
from connector.discovery.events import KNOWN, NEW, UNUSABLE, build_page_events
from connector.errors import ConfigError, ConnectorError

log = logging.getLogger(__name__)

PRICE_PER_CREATOR = 0.01
MAX_RESULTS = 10_000
RUN_PREFIX = "discover:"
# Source names cannot hold a colon, so this lock never meets a real source's record claims.
LOCK_SOURCE = "discover:lock"
LOCK_LEASE = timedelta(minutes=30)
SAMPLE = 5

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class PageRequest:
    """One discovery request: the page index and limit that start at result ``offset``."""

    page: int
    limit: int
    offset: int


def get_next_request(offset: int, remaining: int, page_size: int, first_page: int) -> PageRequest:
    """The largest page (≤ ``page_size`` and ≤ ``remaining``) that starts exactly at ``offset``.

    Pages are ``limit`` results wide, so a smaller last page must divide the offset; this asks
    for no result the target does not need, because every returned creator is billed.
    """
    limit = max(1, min(page_size, remaining))
    while offset % limit:
        limit -= 1
    return PageRequest(page=first_page + offset // limit, limit=limit, offset=offset)


def build_page_schedule(target: int, page_size: int, first_page: int) -> list[PageRequest]:
    """Every request a search sends when each page comes back full (the most it can cost)."""
    budget = min(target, MAX_RESULTS)
    schedule: list[PageRequest] = []
    offset = 0
    while offset < budget:
        request = get_next_request(offset, budget - offset, page_size, first_page)
        schedule.append(request)
        offset += request.limit
    return schedule


@dataclass
class DiscoveryPlan:
    """What a saved search would send: filters with the exclude list, pages and the maximum cost."""

    search: str
    platform: str
    destination: str
    sort_by: str
    sort_order: str
    filters: dict[str, Any]
    excluded: list[str]
    excluded_by: dict[str, int]
    known: set[str] = field(repr=False)
    requests: list[PageRequest] = field(default_factory=list)
    max_cost: float = 0.0

    def build_filters(self) -> dict[str, Any]:
        """The ``filters`` object sent: the search's own plus ``exclude_handles``."""
        filters = {k: v for k, v in self.filters.items() if k != "exclude_handles"}
        if self.excluded:
            filters["exclude_handles"] = list(self.excluded)
        return filters

    def build_body(self, request: PageRequest) -> dict[str, Any]:
        """The JSON body of one request."""
        return {
            "platform": self.platform,
            "paging": {"limit": request.limit, "page": request.page},
            "sort": {"sort_by": self.sort_by, "sort_order": self.sort_order},
            "filters": self.build_filters(),
        }

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary; the exclude list is shown as its size and first few handles."""
        bodies = []
        for request in self.requests:
            body = self.build_body(request)
            excluded = body["filters"].pop("exclude_handles", [])
            body["filters"]["exclude_handles"] = (
                f"<{len(excluded)} handles: {', '.join(excluded[:SAMPLE])}"
                f"{', …' if len(excluded) > SAMPLE else ''}>"
                if excluded
                else "<none>"
            )
            bodies.append(body)
        return {
            "search": self.search,
            "platform": self.platform,
            "destination": self.destination,
            "excluded": len(self.excluded),
            "excluded_by": dict(self.excluded_by),
            "requests": bodies,
            "max_cost": self.max_cost,
        }


@dataclass
class DiscoveryReport:
    """What one run of a saved search did, in figures."""

    search: str
    platform: str = ""
    destination: str = ""
    dry_run: bool = False
    run_id: str | None = None
    requests: int = 0
    returned: int = 0
    new: int = 0
    duplicates: int = 0
    unusable: int = 0
    appended: int = 0
    excluded: int = 0
    credits_spent: float = 0.0
    credits_saved: float = 0.0
    max_cost: float = 0.0
    stopped_because: str = ""
    error: str | None = None
    plan: DiscoveryPlan | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (the plan as its summary, when there is one)."""
        data = {k: v for k, v in self.__dict__.items() if k != "plan"}
        if self.plan is not None:
            data["plan"] = self.plan.as_dict()
        return data


def get_search(settings: Settings, name: str) -> DiscoverySearchSettings:
    """The saved search called ``name``, or ``ConfigError`` listing the known ones."""
    for search in settings.discovery.searches:
        if search.name == name:
            return search
    known = ", ".join(s.name for s in settings.discovery.searches) or "none configured"
    raise ConfigError([f"unknown saved search {name!r} (known: {known})"])


def build_discovery_plan(services: DiscoveryServices, name: str) -> DiscoveryPlan:
    """Validate the search and read what is already known; sends no paid request."""
    return _prepare(services, name)[0]


def _prepare(services: DiscoveryServices, name: str) -> tuple[DiscoveryPlan, Destination]:
    settings = services.settings
    search = get_search(settings, name)
    index = settings.discovery.searches.index(search)
    path = f"discovery.searches[{index}]"
    config = settings.get_source(search.destination)
    problems = check_search(
        search.platform, search.filters, search.sort_by, search.sort_order, path=path
    ) + check_search_destination(config, search.platform, path=path)
    if problems:
        raise ConfigError(problems)
    destination = build_destination(services, config, search=name, platform=search.platform)
    own = [str(h) for h in search.filters.get("exclude_handles") or []]
    sources = {
        "filters": own,
        "destination": [h.value for h in destination.fetch_known()],
        "discovered": sorted(services.store.fetch_discovered_handles(search.platform)),
        "ledger": services.store.fetch_ledger_handles(search.platform, MAX_EXCLUDED_HANDLES),
    }
    excluded: dict[str, str] = {}
    excluded_by = dict.fromkeys(sources, 0)
    for origin, handles in sources.items():
        for handle in handles:
            key = handle.lstrip("@").casefold()
            if key and key not in excluded and len(excluded) < MAX_EXCLUDED_HANDLES:
                excluded[key] = handle.lstrip("@")
                excluded_by[origin] += 1
    known = {h.lstrip("@").casefold() for handles in sources.values() for h in handles}
    requests = build_page_schedule(search.target, search.page_size, settings.discovery.first_page)
    plan = DiscoveryPlan(
        search=name,
        platform=search.platform,
        destination=search.destination,
        sort_by=search.sort_by,
        sort_order=search.sort_order,
        filters=dict(search.filters),
        excluded=list(excluded.values()),
        excluded_by=excluded_by,
        known=known,
        requests=requests,
        max_cost=round(PRICE_PER_CREATOR * sum(r.limit for r in requests), 2),
    )
    return plan, destination


def run_saved_search(
    services: DiscoveryServices,
    name: str,
    *,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
) -> DiscoveryReport:
    """Run a saved search once: new creators go to its destination, known ones are never bought.

    Invalid filters raise ``ConfigError`` before any paid call. A dry run only reads what is
    known and returns the plan (requests and maximum cost).
    """
    settings = services.settings
    search = get_search(settings, name)
    report = DiscoveryReport(
        search=name, platform=search.platform, destination=search.destination, dry_run=dry_run
    )
    if dry_run:
        plan = build_discovery_plan(services, name)
        report.plan, report.max_cost = plan, plan.max_cost
        report.excluded, report.requests = len(plan.excluded), len(plan.requests)
        report.stopped_because = "dry run"
        return report
    store = services.store
    lock = [search.platform]
    if not store.claim_records(LOCK_SOURCE, lock, services.worker_id, LOCK_LEASE):
        report.stopped_because = f"another {search.platform} search is running"
        log.info("discovery skipped", extra={"search": name, "reason": report.stopped_because})
        return report
    try:
        plan, destination = _prepare(services, name)
        report.plan, report.max_cost, report.excluded = plan, plan.max_cost, len(plan.excluded)
        blocked = _check_spend(services, plan.max_cost)
        if blocked:
            report.stopped_because = blocked
            services.notify("discovery_held", search=name, reason=blocked)
            return report
        report.run_id = store.start_run(f"{RUN_PREFIX}{name}"[:64])
        try:
            _page(services, search, plan, destination, report, progress)
        except ConnectorError as exc:
            report.error = str(exc)
            report.stopped_because = report.stopped_because or "error"
            _finish(services, report, status="failed")
            raise
        _finish(services, report, status="finished")
        return report
    finally:
        store.release_records(LOCK_SOURCE, lock, services.worker_id)


def _check_spend(services: DiscoveryServices, max_cost: float) -> str:
    cap = services.settings.pipeline.max_credits_per_run
    if cap is not None and max_cost > cap:
        return f"may cost {max_cost:g} credits, over max_credits_per_run ({cap:g}); lower target"
    balance = services.enrichment.fetch_credits()
    services.store.save_credit_snapshot(balance.available, balance.used)
    if balance.available < max_cost:
        return f"may cost {max_cost:g} credits, balance is {balance.available:g}"
    return ""


def _page(
    services: DiscoveryServices,
    search: DiscoverySearchSettings,
    plan: DiscoveryPlan,
    destination: Destination,
    report: DiscoveryReport,
    progress: ProgressFn | None,
) -> None:
    client = services.enrichment
    budget = min(search.target, MAX_RESULTS)
    first_page = services.settings.discovery.first_page
    seen = set(plan.known)
    filters = plan.build_filters()
    while not report.stopped_because:
        request = get_next_request(
            report.returned, budget - report.returned, search.page_size, first_page
        )
        page = client.discover(
            search.platform,
            filters=filters,
            sort_by=search.sort_by,
            sort_order=search.sort_order,
            page=request.page,
            limit=request.limit,
        )
        report.requests += 1
        report.returned += len(page.accounts)
        report.credits_spent = round(report.credits_spent + page.credits_cost, 6)
        fresh: list[Creator] = []
        outcomes: list[tuple[str, str]] = []
        for account in page.accounts:
            creator = parse_creator(account, search.platform)
            if creator is None:
                report.unusable += 1
                outcomes.append((str(account.get("username") or ""), UNUSABLE))
            elif creator.handle.handle_key.lstrip("@") in seen:
                report.duplicates += 1
                outcomes.append((creator.handle.value, KNOWN))
            else:
                seen.add(creator.handle.handle_key.lstrip("@"))
                fresh.append(creator)
                outcomes.append((creator.handle.value, NEW))
        report.new += len(fresh)
        if fresh:
            # Delivered before being recorded: a crash in between leaves them in the
            # destination, which the next run reads, so nothing is lost or bought twice.
            report.appended += destination.deliver(fresh)
            for creator in fresh:
                services.store.save_discovered(
                    search.name, search.platform, creator.handle.handle_key, search.destination
                )
        services.store.save_record_events(
            build_page_events(
                report.run_id,
                f"{RUN_PREFIX}{search.name}"[:64],
                search.destination,
                search.platform,
                outcomes,
                page.credits_cost,
            )
        )
        if progress is not None:
            progress(report.returned, budget)
        report.stopped_because = get_stop_reason(
            report.returned, budget, page.total, request.limit, len(page.accounts)
        )


def get_stop_reason(returned: int, budget: int, total: int, limit: int, got: int) -> str:
    """Why paging stops after a page of ``got`` results (``""``: ask for the next page)."""
    if returned >= MAX_RESULTS:
        return "result cap (10,000)"
    if returned >= budget:
        return "target reached"
    if got < limit or returned >= total:
        return "no more results"
    return ""


def _finish(services: DiscoveryServices, report: DiscoveryReport, *, status: str) -> None:
    store = services.store
    previous = store.count_discovered(report.search).get(report.search, 0) - report.new
    report.credits_saved = round(PRICE_PER_CREATOR * min(max(previous, 0), report.excluded), 2)
    if report.run_id is not None:
        store.finish_run(
            report.run_id,
            stats={k: v for k, v in report.as_dict().items() if k != "plan"},
            status=status,
            error=report.error,
            credits_spent=report.credits_spent,
            credits_saved=report.credits_saved,
        )
    services.notify(
        "discovery_finished",
        search=report.search,
        new=report.new,
        credits_spent=report.credits_spent,
        stopped_because=report.stopped_because,
    )
    log.info(
        "discovery finished",
        extra={
            "search": report.search,
            "returned": report.returned,
            "new": report.new,
            "duplicates": report.duplicates,
            "credits": report.credits_spent,
        },
    )
