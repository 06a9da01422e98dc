"""The influencers.club API client: one thread-safe ``httpx.Client`` behind domain verbs."""

from __future__ import annotations

import random as _random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from connector.config import InfluencersClubSettings, Settings
from connector.enrich.budget import build_rate_budget
from connector.enrich.budget import get_budget_key as get_budget_key
from connector.enrich.inflight import CallGate
from connector.enrich.inputs import (
    ENRICH_PLATFORMS,
    FULL_PLATFORMS,
    check_email_text,
    check_handle,
    check_platform,
    check_segment,
)
from connector.enrich.models import (
    BatchInfo,
    BatchRow,
    BatchStatus,
    CreditBalance,
    DiscoveryPage,
    EmailMatch,
    EnrichResult,
    get_price,
    parse_batch_info,
    parse_batch_rows,
    parse_batch_status,
    parse_credit_balance,
    parse_discovery_page,
    parse_email_match,
)
from connector.enrich.payloads import (
    build_batch_upload,
    build_discovery_body,
    build_enrich_body,
    build_profile_body,
    iter_discovery_pages,
    parse_answer,
    parse_enrich_result,
)
from connector.enrich.retry import PaidCallRule
from connector.enrich.session import MISSING as _MISSING
from connector.enrich.session import ApiSession
from connector.errors import (
    ProfileNotFoundError,
    RequestRejectedError,
)
from connector.ratelimit import RateBudget
from connector.retry import RetryPolicy

MAX_DISCOVERY_RESULTS = 10_000

CREDITS_PATHS = ("/public/v1/accounts/credits/", "/public/v1/account/credits/")
FULL_PATH = "/public/v1/creators/enrich/handle/full/"
RAW_PATH = "/public/v1/creators/enrich/handle/raw/"
PROFILE_PATH = "/public/v1/creators/enrich/handle/profile/"
EMAIL_PATH = "/public/v1/creators/enrich/email/"
DISCOVERY_PATH = "/public/v1/discovery/"
BATCH_PATH = "/public/v1/enrichment/batch/"


class EnrichmentClient:
    """influencers.club API verbs; every request waits for a ``RateBudget`` slot first."""

    def __init__(
        self,
        settings: InfluencersClubSettings,
        *,
        budget: RateBudget,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.settings = settings
        self.budget = budget
        self._sleep = sleep
        self._credits_paths = list(CREDITS_PATHS)
        self._lock = threading.Lock()
        connect = settings.connect_timeout
        self._timeout = httpx.Timeout(settings.read_timeout, connect=connect)
        self._enrich_timeout = httpx.Timeout(
            settings.read_timeout, connect=connect, read=settings.enrich_read_timeout
        )
        self._upload_timeout = httpx.Timeout(settings.batch_upload_timeout, connect=connect)
        self._results_timeout = httpx.Timeout(
            settings.read_timeout, connect=connect, read=settings.batch_results_timeout
        )
        self._policy = RetryPolicy(attempts=settings.max_attempts)
        self._probe_policy = RetryPolicy(attempts=1)
        self._probe_timeout = httpx.Timeout(5.0, connect=min(connect, 5.0))
        # One gate for the whole process: several sources' cycles share the account's slots.
        self.gate = CallGate(settings.max_concurrency, budget, sleep=sleep)
        self._paid_rule = PaidCallRule(ambiguous_retries=1)
        self._create_rule = PaidCallRule(ambiguous_retries=0)
        self._session = ApiSession(
            settings, gate=self.gate, timeout=self._timeout, transport=transport, random=random
        )
        self._call = self._session.call

    @property
    def max_concurrency(self) -> int:
        """How many calls the settings allow in flight at once (the gate's ceiling)."""
        return self.settings.max_concurrency

    def enrich_full(
        self,
        handle: str,
        platform: str,
        *,
        email_required: str | None = None,
        include_lookalikes: bool | None = None,
        include_audience_data: bool | None = None,
        cancel: threading.Event | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> EnrichResult:
        """The full creator report (1 credit; misses are free).

        ``on_send`` runs right before each attempt leaves (after waiting for a slot), so a
        caller can record that a paid request may have reached the API.
        """
        handle = check_handle(handle)
        platform = check_platform(platform, FULL_PLATFORMS, "full enrichment")
        body = build_enrich_body(
            self.settings,
            handle,
            platform,
            email_required=email_required,
            include_lookalikes=include_lookalikes,
            include_audience_data=include_audience_data,
        )
        data = self._post_paid(FULL_PATH, body, "enrich_full", cancel=cancel, on_send=on_send)
        return parse_enrich_result(data, handle=handle, platform=platform, default_cost=1.0)

    def enrich_raw(
        self,
        handle: str,
        platform: str,
        *,
        cancel: threading.Event | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> EnrichResult:
        """The platform-native profile (0.03 credits; misses are free)."""
        handle = check_handle(handle)
        platform = check_platform(platform, ENRICH_PLATFORMS, "raw enrichment")
        body = {"handle": handle, "platform": platform}
        data = self._post_paid(RAW_PATH, body, "enrich_raw", cancel=cancel, on_send=on_send)
        return parse_enrich_result(
            data, handle=handle, platform=platform, default_cost=get_price("raw")
        )

    def enrich_profile(
        self,
        handle: str,
        platform: str,
        *,
        email_required: str | None = None,
        cancel: threading.Event | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> EnrichResult:
        """Identity and contact fields plus a lighter platform block (0.2 credits, §2.4)."""
        handle = check_handle(handle)
        platform = check_platform(platform, ENRICH_PLATFORMS, "profile enrichment")
        body = build_profile_body(self.settings, handle, platform, email_required=email_required)
        data = self._post_paid(PROFILE_PATH, body, "enrich_profile", cancel=cancel, on_send=on_send)
        return parse_enrich_result(
            data, handle=handle, platform=platform, default_cost=get_price("profile")
        )

    def enrich_email(
        self,
        email: str,
        *,
        cancel: threading.Event | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> EmailMatch:
        """The creator an e-mail address belongs to (0.05 credits on a hit; misses are free).

        The API answers with the creator's strongest platform only (reference §2.5); a miss
        raises ``ProfileNotFoundError``.
        """
        email = check_email_text(email)
        body = {"email": email}
        data = self._post_paid(EMAIL_PATH, body, "enrich_email", cancel=cancel, on_send=on_send)
        match = parse_answer(
            lambda d: parse_email_match(d, email=email, default_cost=get_price("email")),
            data,
            "enrich by e-mail",
        )
        if match is None:
            raise ProfileNotFoundError(f"no creator found for {email}")
        return match

    def _post_paid(
        self,
        path: str,
        body: dict[str, Any],
        what: str,
        *,
        cancel: threading.Event | None,
        on_send: Callable[[], None] | None,
    ) -> Any:
        """POST a call billed when data comes back: the paid rule decides what is sent again."""
        return self._call(
            "POST",
            path,
            json=body,
            timeout=self._enrich_timeout,
            policy=self._policy,
            rule=self._paid_rule,
            what=what,
            cancel=cancel,
            on_send=on_send,
        )

    def fetch_credits(self, *, probe: bool = False) -> CreditBalance:
        """The account's balance; falls back once to the documented singular path on a 404.

        ``probe`` makes a single short attempt (health checks must not queue behind retries).
        """
        with self._lock:
            paths = list(self._credits_paths)
        policy = self._probe_policy if probe else self._policy
        timeout = self._probe_timeout if probe else None
        data: Any = _MISSING
        for path in paths:
            data = self._call(
                "GET", path, policy=policy, what="fetch_credits", missing_ok=True, timeout=timeout
            )
            if data is not _MISSING:
                if path != paths[0]:
                    with self._lock:
                        self._credits_paths = [path, *(p for p in paths if p != path)]
                break
        if data is _MISSING:
            raise RequestRejectedError(
                f"influencers.club has no credits endpoint (404 on {' and '.join(paths)})"
            )
        return parse_answer(parse_credit_balance, data, "credits")

    def create_batch(
        self,
        handles: Sequence[str],
        platform: str | None,
        *,
        mode: str = "full",
        email_required: str | None = None,
        include_audience_data: bool | None = None,
        include_lookalikes: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> BatchInfo:
        """Upload ``handles`` as a batch job (free to create; rows are billed as processed).

        ``mode`` is ``full`` or ``raw`` for handles of ``platform``; ``basic`` takes e-mail
        addresses and no platform (``create_email_batch``).
        """
        form, content = build_batch_upload(
            self.settings,
            handles,
            platform,
            mode=mode,
            email_required=email_required,
            include_audience_data=include_audience_data,
            include_lookalikes=include_lookalikes,
            metadata=metadata,
        )
        data = self._call(
            "POST",
            BATCH_PATH,
            data=form,
            files={"file": ("batch.csv", content, "text/csv")},
            timeout=self._upload_timeout,
            policy=self._policy,
            rule=self._create_rule,
            what="create_batch",
        )
        return parse_answer(parse_batch_info, data, "create batch")

    def create_email_batch(
        self, emails: Sequence[str], *, metadata: Mapping[str, Any] | None = None
    ) -> BatchInfo:
        """Upload e-mail addresses as a ``basic`` batch: each hit names a creator (0.05)."""
        return self.create_batch(emails, None, mode="basic", metadata=metadata)

    def fetch_batch_status(self, batch_id: str) -> BatchStatus:
        """Progress of a batch job (free)."""
        batch_id = check_segment(batch_id, "batch id")
        data = self._call(
            "GET", f"{BATCH_PATH}{batch_id}/status/", policy=self._policy, what="fetch_batch_status"
        )
        return parse_answer(lambda d: parse_batch_status(d, batch_id), data, "batch status")

    def fetch_batch_results(self, batch_id: str) -> list[BatchRow]:
        """The rows of a finished (or paused) batch, fetched as JSON."""
        batch_id = check_segment(batch_id, "batch id")
        data = self._call(
            "GET",
            f"{BATCH_PATH}{batch_id}/",
            params={"format": "json"},
            timeout=self._results_timeout,
            policy=self._policy,
            what="fetch_batch_results",
        )
        return parse_answer(parse_batch_rows, data, "batch results")

    def resume_batch(self, batch_id: str) -> None:
        """Resume a batch paused for insufficient credits (after a top-up)."""
        batch_id = check_segment(batch_id, "batch id")
        self._call(
            "POST",
            f"{BATCH_PATH}{batch_id}/resume/",
            json={},
            policy=self._policy,
            what="resume_batch",
        )

    def discover(
        self,
        platform: str,
        *,
        filters: Mapping[str, Any],
        sort_by: str = "relevancy",
        sort_order: str = "desc",
        page: int = 0,
        limit: int = 50,
    ) -> DiscoveryPage:
        """One page of a creator search (0.01 credits per creator returned; pages are 0-based)."""
        body = build_discovery_body(
            platform,
            filters=filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page=page,
            limit=limit,
        )
        data = self._call(
            "POST",
            DISCOVERY_PATH,
            json=body,
            policy=self._policy,
            rule=self._paid_rule,
            what="discover",
        )
        return parse_answer(parse_discovery_page, data, "discovery")

    def iter_discover(
        self,
        platform: str,
        *,
        filters: Mapping[str, Any],
        sort_by: str = "relevancy",
        sort_order: str = "desc",
        page_size: int = 50,
        first_page: int = 0,
        max_results: int | None = None,
    ) -> Iterator[DiscoveryPage]:
        """Page through a search until a short page, ``total``, ``max_results`` or 10,000."""
        cap = MAX_DISCOVERY_RESULTS if max_results is None else min(max_results, 10_000)
        yield from iter_discovery_pages(
            lambda page, limit: self.discover(
                platform,
                filters=filters,
                sort_by=sort_by,
                sort_order=sort_order,
                page=page,
                limit=limit,
            ),
            cap=cap,
            page_size=page_size,
            first_page=first_page,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._session.close()

    def __enter__(self) -> EnrichmentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def build_enrichment_client(settings: Settings) -> EnrichmentClient:
    """The production client for ``settings`` (the composition root calls this)."""
    return EnrichmentClient(settings.influencers_club, budget=build_rate_budget(settings))
