"""Tests for connector.enrich.concurrent.enrich_many: bounded, streaming, stops on fatal errors."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from connector.config import InfluencersClubSettings, parse_settings
from connector.enrich.client import EnrichmentClient, build_enrichment_client
from connector.enrich.concurrent import enrich_many
from connector.enrich.models import EnrichResult
from connector.errors import (
    AuthError,
    InvalidHandleError,
    OutOfCreditsError,
    ProfileNotFoundError,
    TransientError,
)
from connector.ratelimit import RateBudget, build_storage


class FakeApi:
    """A MockTransport handler with latency that tracks how many calls overlap."""

    def __init__(
        self, latency: float = 0.05, fail: Callable[[str], httpx.Response | None] | None = None
    ) -> None:
        self.latency = latency
        self.fail = fail
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.handles: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        handle = json.loads(request.content)["handle"]
        with self.lock:
            self.handles.append(handle)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(self.latency)
            failure = self.fail(handle) if self.fail else None
            if failure is not None:
                return failure
            if handle.startswith("ghost"):
                return httpx.Response(400, json={"error": "creator_not_found"})
            return httpx.Response(
                200, json={"result": {"instagram": {"username": handle}}, "credits_cost": 1.0}
            )
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def make_client() -> Iterator[Callable[..., EnrichmentClient]]:
    clients: list[EnrichmentClient] = []

    def make(api: FakeApi, *, rpm_per_second: int = 1000, **overrides: Any) -> EnrichmentClient:
        budget = RateBudget(
            build_storage("memory://"),
            limit=rpm_per_second,
            per_seconds=1,
            key=f"test:{uuid.uuid4().hex}",
        )
        values: dict[str, Any] = {
            "api_key": "k",
            "base_url": "https://api.test",
            "max_concurrency": 8,
        }
        values.update(overrides)
        client = EnrichmentClient(
            InfluencersClubSettings(**values),
            budget=budget,
            transport=httpx.MockTransport(api),
            sleep=lambda s: None,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def items(n: int, prefix: str = "found") -> list[tuple[str, str]]:
    return [(f"{prefix}_{i}", "instagram") for i in range(n)]


def test_every_item_is_yielded_once_with_its_result(make_client: Callable[..., Any]) -> None:
    api = FakeApi()
    wanted = items(20) + items(5, "ghost")
    outcomes = dict(enrich_many(make_client(api), wanted, max_concurrency=8))
    assert sorted(outcomes) == sorted(wanted)
    for (handle, _), outcome in outcomes.items():
        if handle.startswith("ghost"):
            assert isinstance(outcome, ProfileNotFoundError)
        else:
            assert isinstance(outcome, EnrichResult) and outcome.handle == handle


def test_the_client_method_delegates_to_enrich_many(make_client: Callable[..., Any]) -> None:
    outcomes = list(enrich_many(make_client(FakeApi()), items(3), max_concurrency=2))
    assert sorted(item for item, _ in outcomes) == sorted(items(3))


def test_calls_overlap_up_to_max_concurrency_and_never_beyond(
    make_client: Callable[..., Any],
) -> None:
    api = FakeApi(latency=0.1)
    list(enrich_many(make_client(api), items(40), max_concurrency=8))
    assert api.peak == 8


def test_max_concurrency_defaults_to_the_client_setting(make_client: Callable[..., Any]) -> None:
    api = FakeApi(latency=0.1)
    list(enrich_many(make_client(api, max_concurrency=5), items(20)))
    assert api.peak == 5


def test_results_stream_back_as_they_complete(make_client: Callable[..., Any]) -> None:
    api = FakeApi(latency=0.2)
    start = time.monotonic()
    stream = enrich_many(make_client(api), items(16), max_concurrency=4)
    next(stream)
    assert time.monotonic() - start < 0.6
    stream.close()


def test_items_are_consumed_lazily(make_client: Callable[..., Any]) -> None:
    pulled = []

    def source() -> Iterator[tuple[str, str]]:
        for i in range(1000):
            pulled.append(i)
            yield (f"found_{i}", "instagram")

    stream = enrich_many(make_client(FakeApi()), source(), max_concurrency=4)
    next(stream)
    stream.close()
    assert len(pulled) <= 6


def test_row_errors_and_exhausted_retries_are_yielded_per_item(
    make_client: Callable[..., Any],
) -> None:
    def fail(handle: str) -> httpx.Response | None:
        return httpx.Response(503, json={"detail": "down"}) if handle == "found_1" else None

    api = FakeApi(fail=fail)
    outcomes = dict(
        enrich_many(
            make_client(api, max_attempts=2), [*items(3), ("  ", "instagram")], max_concurrency=2
        )
    )
    assert isinstance(outcomes[("found_1", "instagram")], TransientError)
    assert isinstance(outcomes[("  ", "instagram")], InvalidHandleError)
    assert isinstance(outcomes[("found_2", "instagram")], EnrichResult)


@pytest.mark.parametrize(
    ("status", "error"),
    [(402, OutOfCreditsError), (401, AuthError)],
)
def test_a_fatal_error_stops_new_paid_calls(
    make_client: Callable[..., Any], status: int, error: type[Exception]
) -> None:
    def fail(handle: str) -> httpx.Response | None:
        number = int(handle.split("_")[1])
        return httpx.Response(status, json={"detail": "no"}) if number >= 10 else None

    api = FakeApi(latency=0.02, fail=fail)
    outcomes = list(enrich_many(make_client(api), items(200), max_concurrency=4))
    fatal = [o for _, o in outcomes if isinstance(o, error)]
    assert fatal
    # Only calls already in flight when the first fatal answer arrived may still be sent.
    assert len(api.handles) <= 10 + 4 + 4
    assert len(outcomes) == len(api.handles)


def test_calls_waiting_for_a_budget_slot_are_not_sent_after_a_fatal_error(
    make_client: Callable[..., Any],
) -> None:
    api = FakeApi(latency=0.0, fail=lambda h: httpx.Response(402, json={"detail": "pay"}))
    client = make_client(api, rpm_per_second=2)
    outcomes = list(enrich_many(client, items(50), max_concurrency=16))
    # Two slots per second: the first second's calls fail, the 14 queued workers never send.
    assert len(api.handles) <= 2
    assert all(isinstance(o, OutOfCreditsError) for _, o in outcomes)


def test_closing_the_stream_early_stops_new_calls(make_client: Callable[..., Any]) -> None:
    api = FakeApi(latency=0.05)
    stream = enrich_many(make_client(api), items(500), max_concurrency=4)
    for _ in range(3):
        next(stream)
    stream.close()
    sent = len(api.handles)
    time.sleep(0.2)
    assert len(api.handles) == sent <= 3 + 4 + 4


def test_the_budget_governs_how_fast_calls_start(make_client: Callable[..., Any]) -> None:
    api = FakeApi(latency=0.0)
    start = time.monotonic()
    list(enrich_many(make_client(api, rpm_per_second=10), items(25), max_concurrency=16))
    # 10 per moving second: 25 calls need at least two full windows.
    assert time.monotonic() - start >= 1.9


# --- Against the influencers.club sandbox: real httpx over loopback HTTP. ---------------------


@pytest.fixture
def sandbox() -> Iterator[Any]:
    module = pytest.importorskip(
        "connector.sandbox.influencers_club", reason="influencers.club sandbox not built yet"
    )
    with module.InfluencersClubSandbox(
        balance=1000.0, latency=0.1, jitter=0.05, not_found_rate=0.0, cold_rate=0.0
    ) as box:
        yield box


@pytest.fixture
def sandbox_client(sandbox: Any) -> Iterator[EnrichmentClient]:
    config = parse_settings(
        {
            "influencers_club": {
                "api_key": sandbox.api_key,
                "base_url": sandbox.url,
                "requests_per_minute": 6000,
                "max_concurrency": 8,
            }
        },
        environ={},
    )
    with build_enrichment_client(config) as client:
        yield client


def test_sandbox_enrich_many_charges_each_found_creator_once(
    sandbox: Any, sandbox_client: EnrichmentClient
) -> None:
    wanted = items(30) + items(10, "notfound")
    outcomes = dict(enrich_many(sandbox_client, wanted))
    assert sorted(outcomes) == sorted(wanted)
    found = [o for o in outcomes.values() if isinstance(o, EnrichResult)]
    missed = [o for o in outcomes.values() if isinstance(o, ProfileNotFoundError)]
    assert (len(found), len(missed)) == (30, 10)
    stats = sandbox.stats()
    assert stats["credits_charged"] == 30
    assert set(stats["charges"].values()) == {1}
    assert stats["http_429"] == 0


def test_sandbox_enrich_many_stops_when_the_balance_runs_out(
    sandbox: Any, sandbox_client: EnrichmentClient
) -> None:
    sandbox.set_balance(10)
    outcomes = list(enrich_many(sandbox_client, items(100)))
    paid = [o for _, o in outcomes if isinstance(o, EnrichResult)]
    assert len(paid) == 10
    assert any(isinstance(o, OutOfCreditsError) for _, o in outcomes)
    log = [r for r in sandbox.requests() if r["path"].endswith("/full/")]
    first_refusal = next(i for i, r in enumerate(log) if r["status"] == 402)
    # Only calls already in flight when the first refusal came back may follow it.
    assert len(log) - first_refusal <= sandbox_client.max_concurrency


def test_calls_in_flight_follow_rate_times_latency(make_client: Callable[..., Any]) -> None:
    # 10 starts/s (in bursts of 10) of 1.5 s each: Little's law puts 15 on the wire, 20 at a
    # burst's peak, far below the ceiling.
    api = FakeApi(latency=1.5)
    client = make_client(api, rpm_per_second=10, max_concurrency=256)
    list(enrich_many(client, items(50)))
    assert 10 <= api.peak <= 25


def test_a_fast_api_needs_few_callers(make_client: Callable[..., Any]) -> None:
    api = FakeApi(latency=0.01)
    client = make_client(api, rpm_per_second=20, max_concurrency=256)
    list(enrich_many(client, items(30)))
    assert api.peak <= client.gate.ready_wanted + 2


def test_a_repeat_after_a_gateway_504_goes_after_first_attempts_waiting(
    make_client: Callable[..., Any],
) -> None:
    cold = {"found_0"}

    def fail(handle: str) -> httpx.Response | None:
        if handle in cold:
            cold.discard(handle)
            # Late enough that the budget's first burst is spent and first attempts wait.
            time.sleep(0.3)
            return httpx.Response(504, text="<html>504 Gateway Time-out</html>")
        return None

    api = FakeApi(latency=0.0, fail=fail)
    client = make_client(api, rpm_per_second=4, max_concurrency=256)
    outcomes = dict(enrich_many(client, items(12)))
    assert all(isinstance(o, EnrichResult) for o in outcomes.values())
    assert api.handles[0] == "found_0"
    # Its repeat let the first attempts waiting for the budget's slots go first.
    assert api.handles.index("found_0", 1) >= 9
