"""Tests for connector.enrich.client: wire format, validation, retries, budget and the CLI."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from connector.cli.context import CliContext
from connector.cli.credits import credits_command, format_credits
from connector.config import InfluencersClubSettings, parse_settings
from connector.enrich.client import (
    CREDITS_PATHS,
    FULL_PATH,
    EnrichmentClient,
    build_enrichment_client,
    build_rate_budget,
    get_budget_key,
)
from connector.enrich.concurrent import enrich_many
from connector.enrich.models import BatchStatus
from connector.enrich.session import USER_AGENT
from connector.errors import (
    AuthError,
    ConnectorError,
    FatalError,
    InvalidHandleError,
    OutOfCreditsError,
    ProfileNotFoundError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
)
from connector.ratelimit import RateBudget, build_storage
from connector.sandbox.server import serve_in_thread

FULL_BODY = {
    "result": {"instagram": {"username": "found_jane"}, "email": "j@x.io"},
    "credits_cost": 1.0,
    "trial_searches_left": 0,
}
GATEWAY_504 = "<html><head><title>504 Gateway Time-out</title></head><body>nginx</body></html>"
Handler = Callable[[httpx.Request], httpx.Response]


class CountingBudget(RateBudget):
    """A real in-memory budget that also counts the slots taken."""

    def __init__(self, limit: int = 1000) -> None:
        super().__init__(
            build_storage("memory://"), limit=limit, per_seconds=1, key=f"test:{uuid.uuid4().hex}"
        )
        self.acquired = 0

    def try_acquire(self) -> bool:
        taken = super().try_acquire()
        self.acquired += taken
        return taken


class Recorder:
    """A MockTransport handler that answers from a queue and records every request."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def ok(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def settings(**overrides: Any) -> InfluencersClubSettings:
    values: dict[str, Any] = {"api_key": "test-key", "base_url": "https://api.test"}
    values.update(overrides)
    return InfluencersClubSettings(**values)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[..., EnrichmentClient]]:
    clients: list[EnrichmentClient] = []

    def make(
        recorder: Recorder, budget: RateBudget | None = None, **overrides: Any
    ) -> EnrichmentClient:
        client = EnrichmentClient(
            settings(**overrides),
            budget=budget or CountingBudget(),
            transport=httpx.MockTransport(recorder),
            sleep=sleeps.append,
            random=lambda: 0.5,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_enrich_full_sends_every_option_explicitly(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok(FULL_BODY))
    client = make_client(recorder, include_audience_data=True)
    result = client.enrich_full("  found_jane ", "Instagram")
    request = recorder.requests[0]
    assert request.method == "POST"
    assert request.url.path == FULL_PATH
    assert json.loads(request.content) == {
        "handle": "found_jane",
        "platform": "instagram",
        "email_required": "preferred",
        "include_lookalikes": False,
        "include_audience_data": True,
    }
    assert result.profile == FULL_BODY["result"]
    assert (result.credits_cost, result.platform, result.handle) == (1.0, "instagram", "found_jane")


def test_enrich_full_arguments_override_the_settings(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok(FULL_BODY))
    client = make_client(recorder, include_audience_data=True, include_lookalikes=True)
    client.enrich_full(
        "found_jane",
        "tiktok",
        email_required="must_have",
        include_lookalikes=False,
        include_audience_data=False,
    )
    body = json.loads(recorder.requests[0].content)
    assert body["email_required"] == "must_have"
    assert body["include_lookalikes"] is False
    assert body["include_audience_data"] is False


def test_requests_identify_the_product_and_strip_a_pasted_bearer_prefix(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(ok(FULL_BODY))
    make_client(recorder, api_key="Bearer  abc.def ").enrich_raw("found_jane", "instagram")
    headers = recorder.requests[0].headers
    assert headers["authorization"] == "Bearer abc.def"
    assert headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith("connector/")
    assert headers["x-integration"] == "connector"


def test_missing_api_key_raises_auth_error_naming_the_setting(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(ok(FULL_BODY))
    client = make_client(recorder, api_key=None)
    with pytest.raises(AuthError) as info:
        client.enrich_full("found_jane", "instagram")
    assert "influencers_club.api_key" in str(info.value)
    assert recorder.requests == []


@pytest.mark.parametrize("handle", ["", "   ", "x" * 201, "bad\nhandle", "tab\there"])
def test_invalid_handles_are_refused_before_any_request(
    make_client: Callable[..., Any], handle: str
) -> None:
    recorder = Recorder(ok(FULL_BODY))
    with pytest.raises(InvalidHandleError):
        make_client(recorder).enrich_full(handle, "instagram")
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("method", "platform"),
    [("enrich_full", "myspace"), ("enrich_full", "linkedin"), ("enrich_raw", "patreon")],
)
def test_unknown_platforms_are_refused_before_any_request(
    make_client: Callable[..., Any], method: str, platform: str
) -> None:
    recorder = Recorder(ok(FULL_BODY))
    with pytest.raises(RequestRejectedError):
        getattr(make_client(recorder), method)("found_jane", platform)
    assert recorder.requests == []


def test_handle_of_200_characters_is_accepted(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok(FULL_BODY))
    make_client(recorder).enrich_full("x" * 200, "instagram")
    assert len(recorder.requests) == 1


def test_empty_result_is_a_free_profile_miss(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok({"result": None, "credits_cost": 0}))
    with pytest.raises(ProfileNotFoundError):
        make_client(recorder).enrich_full("found_jane", "instagram", email_required="must_have")


def test_every_request_waits_for_a_budget_slot(make_client: Callable[..., Any]) -> None:
    budget = CountingBudget()
    recorder = Recorder(ok({"detail": "x"}, 503), ok(FULL_BODY))
    client = make_client(recorder, budget=budget)
    client.enrich_raw("found_jane", "instagram")
    recorder.answers = [ok({"credits_available": 5, "credits_used": 1})]
    client.fetch_credits()
    assert budget.acquired == len(recorder.requests) == 3


def test_transient_errors_are_retried_until_an_answer(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(
        ok({}, 503), ok({}, 502), ok({}, 500), ok({"credits_available": 1, "credits_used": 0})
    )
    balance = make_client(recorder).fetch_credits()
    assert balance.available == 1.0
    assert len(recorder.requests) == 4


def test_retries_stop_after_max_attempts(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok({}, 503))
    with pytest.raises(TransientError):
        make_client(recorder, max_attempts=3).fetch_credits()
    assert len(recorder.requests) == 3


@pytest.mark.parametrize(("header", "expected"), [("7", 7.0), ("500", 60.0)])
def test_rate_limited_calls_honour_retry_after_capped_at_60_seconds(
    make_client: Callable[..., Any], sleeps: list[float], header: str, expected: float
) -> None:
    recorder = Recorder(
        httpx.Response(429, json={"detail": "throttled"}, headers={"Retry-After": header}),
        ok(FULL_BODY),
    )
    make_client(recorder).enrich_full("found_jane", "instagram")
    # Every thread of the client holds off for the server's Retry-After, capped at 60 s.
    assert max(sleeps) == pytest.approx(expected, abs=0.5)
    assert len(recorder.requests) == 2


def test_rate_limited_paid_calls_are_retried_up_to_max_attempts(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(ok({"detail": "throttled"}, 429))
    with pytest.raises(RateLimitedError):
        make_client(recorder, max_attempts=4).enrich_full("found_jane", "instagram")
    assert len(recorder.requests) == 4


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(504, text=GATEWAY_504),
        httpx.ReadTimeout("read timed out"),
        httpx.Response(500, json={"detail": "boom"}),
    ],
)
def test_full_route_retries_a_gateway_timeout_only_once(
    make_client: Callable[..., Any], failure: Any
) -> None:
    recorder = Recorder(failure)
    with pytest.raises(TransientError) as info:
        make_client(recorder, max_attempts=10).enrich_full("cold_jane", "instagram")
    assert len(recorder.requests) == 2
    if isinstance(failure, Exception):
        assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_full_route_answers_after_one_cold_gateway_timeout(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(httpx.Response(504, text=GATEWAY_504), ok(FULL_BODY))
    result = make_client(recorder).enrich_full("cold_jane", "instagram")
    assert result.credits_cost == 1.0


def test_connection_failures_before_sending_are_retried_normally_on_paid_routes(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(TransientError):
        make_client(recorder, max_attempts=4).enrich_full("found_jane", "instagram")
    assert len(recorder.requests) == 4


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RequestRejectedError),
        (401, AuthError),
        (402, OutOfCreditsError),
        (403, AuthError),
        (404, RequestRejectedError),
        (422, RequestRejectedError),
        (301, FatalError),
    ],
)
def test_client_errors_are_never_retried(
    make_client: Callable[..., Any], status: int, error: type[ConnectorError]
) -> None:
    recorder = Recorder(ok({"detail": "no"}, status))
    with pytest.raises(error):
        make_client(recorder).enrich_full("found_jane", "instagram")
    assert len(recorder.requests) == 1


def test_a_miss_is_a_profile_not_found_error(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok({"error": "creator_not_found"}, 400))
    with pytest.raises(ProfileNotFoundError):
        make_client(recorder).enrich_full("ghost_jane", "instagram")


def test_third_party_exceptions_never_escape(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(httpx.RemoteProtocolError("peer closed"))
    with pytest.raises(TransientError) as info:
        make_client(recorder, max_attempts=2).fetch_credits()
    assert isinstance(info.value.__cause__, httpx.RemoteProtocolError)


def test_each_call_kind_has_its_own_timeout(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(
        lambda request: ok(
            []
            if "format" in request.url.params
            else FULL_BODY
            if request.url.path.startswith("/public/v1/creators/")
            else {
                "credits_available": 1,
                "credits_used": 0,
                "batch_id": "bch_1",
                "status": "queued",
            }
        )
    )
    client = make_client(
        recorder,
        connect_timeout=3,
        read_timeout=11,
        enrich_read_timeout=95,
        batch_upload_timeout=61,
        batch_results_timeout=121,
    )
    client.fetch_credits()
    client.enrich_full("found_jane", "instagram")
    client.create_batch(["found_jane"], "instagram")
    client.fetch_batch_results("bch_1")
    timeouts = [r.extensions["timeout"] for r in recorder.requests]
    assert [t["connect"] for t in timeouts] == [3, 3, 3, 3]
    assert [t["read"] for t in timeouts] == [11, 95, 61, 121]
    assert timeouts[2]["write"] == 61


def test_fetch_credits_parses_the_plural_path(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok({"credits_available": 627.13, "credits_used": "372.87"}))
    balance = make_client(recorder).fetch_credits()
    assert (balance.available, balance.used) == (627.13, 372.87)
    assert recorder.paths == [CREDITS_PATHS[0]]


def test_fetch_credits_falls_back_once_to_the_singular_path_and_remembers(
    make_client: Callable[..., Any],
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/public/v1/account/credits/":
            return ok({"credits_available": 5, "credits_used": 0})
        return ok({"detail": "Not found."}, 404)

    recorder = Recorder(answer)
    client = make_client(recorder)
    client.fetch_credits()
    client.fetch_credits()
    assert recorder.paths == [CREDITS_PATHS[0], CREDITS_PATHS[1], CREDITS_PATHS[1]]


def test_fetch_credits_reports_both_paths_when_neither_exists(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(ok({"detail": "Not found."}, 404))
    with pytest.raises(RequestRejectedError, match="account/credits"):
        make_client(recorder).fetch_credits()
    assert len(recorder.requests) == 2


def test_create_batch_uploads_a_csv_with_string_booleans_and_json_metadata(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(
        ok(
            {
                "batch_id": "bch_abc",
                "status": "queued",
                "created_at": "2026-11-25T12:00:00Z",
                "og_input_number": 2,
            },
            201,
        )
    )
    client = make_client(recorder, include_lookalikes=True)
    info = client.create_batch(
        ["found_a", " found,b "], "instagram", metadata={"campaign": "spring"}
    )
    request = recorder.requests[0]
    assert request.url.path == "/public/v1/enrichment/batch/"
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.content.decode()
    assert 'name="file"; filename="batch.csv"' in body
    assert "Content-Type: text/csv" in body
    assert 'handle\nfound_a\n"found,b"\n' in body
    for name, value in [
        ("enrichment_mode", "full"),
        ("platform", "instagram"),
        ("email_required", "preferred"),
        ("include_audience_data", "false"),
        ("include_lookalikes", "true"),
        ("metadata", '{"campaign": "spring"}'),
    ]:
        assert f'name="{name}"\r\n\r\n{value}\r\n' in body
    assert (info.batch_id, info.status, info.rows) == ("bch_abc", "queued", 2)


def test_create_batch_refuses_more_than_10000_rows(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok({}))
    with pytest.raises(RequestRejectedError, match="10000"):
        make_client(recorder).create_batch([f"h{i}" for i in range(10_001)], "instagram")
    assert recorder.requests == []


def test_create_batch_is_not_retried_after_an_ambiguous_failure(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(httpx.Response(504, text=GATEWAY_504))
    with pytest.raises(TransientError):
        make_client(recorder).create_batch(["found_a"], "instagram")
    assert len(recorder.requests) == 1


def test_fetch_batch_status_parses_credits_used_from_a_string(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(
        ok(
            {
                "batch_id": "bch_1",
                "status": "paused_insufficient_credits",
                "total_rows": 10,
                "processed_rows": 4,
                "success_count": 3,
                "failed_count": 1,
                "credits_used": "3.00",
                "status_message": "top up",
            }
        )
    )
    status = make_client(recorder).fetch_batch_status("bch_1")
    assert recorder.paths == ["/public/v1/enrichment/batch/bch_1/status/"]
    assert status.credits_used == 3.0
    assert status.is_paused and not status.is_terminal
    assert (status.processed_rows, status.success_count, status.failed_count) == (4, 3, 1)


@pytest.mark.parametrize("wrap", [None, "results", "data"])
def test_fetch_batch_results_reads_json_rows_with_or_without_a_wrapper(
    make_client: Callable[..., Any], wrap: str | None
) -> None:
    rows = [
        {"input_value": "found_a", "status": "success", "enrichment_data": {"email": "a@x"}},
        {"input_value": "ghost_b", "status": "not_found", "enrichment_data": None},
    ]
    recorder = Recorder(ok(rows if wrap is None else {wrap: rows}))
    result = make_client(recorder).fetch_batch_results("bch_1")
    assert recorder.requests[0].url.params["format"] == "json"
    assert recorder.paths == ["/public/v1/enrichment/batch/bch_1/"]
    assert [(r.input_value, r.status, r.profile) for r in result] == [
        ("found_a", "success", {"email": "a@x"}),
        ("ghost_b", "not_found", None),
    ]


def test_resume_batch_posts_an_empty_object(make_client: Callable[..., Any]) -> None:
    recorder = Recorder(ok({"status": "processing"}))
    make_client(recorder).resume_batch("bch_1")
    assert recorder.requests[0].method == "POST"
    assert recorder.paths == ["/public/v1/enrichment/batch/bch_1/resume/"]
    assert json.loads(recorder.requests[0].content) == {}


@pytest.mark.parametrize("batch_id", ["../credits", "bch 1", "", "bch_1/x", "bch?x=1"])
def test_batch_ids_are_checked_before_use_in_a_path(
    make_client: Callable[..., Any], batch_id: str
) -> None:
    recorder = Recorder(ok({}))
    with pytest.raises(RequestRejectedError):
        make_client(recorder).fetch_batch_status(batch_id)
    assert recorder.requests == []


def test_discover_sends_0_based_paging_and_parses_a_string_credits_left(
    make_client: Callable[..., Any],
) -> None:
    recorder = Recorder(
        ok(
            {
                "total": 2,
                "limit": 50,
                "accounts": [{"user_id": "uc_1"}],
                "credits_cost": 0.01,
                "credits_left": "99.5",
            }
        )
    )
    page = make_client(recorder).discover(
        "youtube", filters={"number_of_subscribers": {"min": 1000}}, sort_by="number_of_followers"
    )
    assert json.loads(recorder.requests[0].content) == {
        "platform": "youtube",
        "paging": {"limit": 50, "page": 0},
        "sort": {"sort_by": "number_of_followers", "sort_order": "desc"},
        "filters": {"number_of_subscribers": {"min": 1000}},
    }
    assert (page.total, page.credits_cost, page.credits_left) == (2, 0.01, 99.5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 51},
        {"page": -1},
        {"sort_by": "relevancy", "sort_order": "asc"},
        {"sort_by": "followers"},
        {"platform": "snapchat"},
        {"platform": "twitch", "sort_by": "growth_rate"},
        {"platform": "onlyfans", "sort_by": "number_of_followers"},
    ],
)
def test_discover_checks_paging_and_sorting_before_spending(
    make_client: Callable[..., Any], kwargs: dict[str, Any]
) -> None:
    recorder = Recorder(ok({}))
    platform = kwargs.pop("platform", "instagram")
    with pytest.raises(RequestRejectedError):
        make_client(recorder).discover(platform, filters={}, **kwargs)
    assert recorder.requests == []


def discovery_server(total: int) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        limit, page = body["paging"]["limit"], body["paging"]["page"]
        start = page * limit
        accounts = [{"user_id": f"uc_{i}"} for i in range(start, min(total, start + limit))]
        return ok(
            {
                "total": total,
                "accounts": accounts,
                "credits_cost": 0.01 * len(accounts),
                "credits_left": 10,
            }
        )

    return answer


@pytest.mark.parametrize(
    ("total", "page_size", "max_results", "pages", "ids"),
    [
        (120, 50, None, [0, 1, 2], 120),
        (100, 50, None, [0, 1], 100),
        (500, 50, 120, [0, 1, 2], 120),
        (500, 50, 30, [0], 30),
        (0, 50, None, [0], 0),
    ],
)
def test_iter_discover_pages_until_short_page_total_or_cap(
    make_client: Callable[..., Any],
    total: int,
    page_size: int,
    max_results: int | None,
    pages: list[int],
    ids: int,
) -> None:
    recorder = Recorder(discovery_server(total))
    results = list(
        make_client(recorder).iter_discover(
            "instagram", filters={}, page_size=page_size, max_results=max_results
        )
    )
    assert [json.loads(r.content)["paging"]["page"] for r in recorder.requests] == pages
    accounts = [a["user_id"] for p in results for a in p.accounts]
    assert accounts == [f"uc_{i}" for i in range(ids)]


@pytest.mark.parametrize(
    ("rpm", "limit", "per", "cap"),
    [
        (600, 10, 1, (588, 60)),
        (300, 5, 1, (294, 60)),
        (250, 25, 6, (245, 60)),
        (50, 5, 6, (49, 60)),
        (7, 7, 60, None),
    ],
)
def test_build_rate_budget_paces_per_second_when_it_can_capped_below_the_minute(
    rpm: int, limit: int, per: int, cap: tuple[int, int] | None
) -> None:
    config = parse_settings(
        {"influencers_club": {"requests_per_minute": rpm, "api_key": "k"}}, environ={}
    )
    budget = build_rate_budget(config)
    assert (budget.limit, budget.per_seconds, budget.cap) == (limit, per, cap)


def test_budget_key_is_per_account_and_never_the_key_itself() -> None:
    first = get_budget_key(settings(api_key="secret-one"))
    assert first == get_budget_key(settings(api_key="Bearer secret-one"))
    assert first != get_budget_key(settings(api_key="secret-two"))
    assert "secret" not in first


def test_build_enrichment_client_uses_the_settings() -> None:
    config = parse_settings(
        {"influencers_club": {"api_key": "k", "max_concurrency": 48}}, environ={}
    )
    with build_enrichment_client(config) as client:
        assert client.max_concurrency == 48
        assert client.budget.key == get_budget_key(config.influencers_club)


def test_retry_logs_never_contain_the_api_key(
    make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(ok({"detail": "upstream said Bearer test-key"}, 502), ok(FULL_BODY))
    with caplog.at_level("WARNING", logger="connector.enrich"):
        make_client(recorder).enrich_raw("found_jane", "instagram")
    assert caplog.records
    assert "test-key" not in caplog.text
    assert all("test-key" not in str(vars(r)) for r in caplog.records)


def credits_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ.get("HTTP_AUTHORIZATION") != "Bearer cli-key":
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"detail": "Token is invalid", "code": "authentication_failed"}']
    if environ["PATH_INFO"] != "/public/v1/accounts/credits/":
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"detail": "Not found."}']
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"credits_available": 1234.5, "credits_used": 65.5}']


@pytest.fixture(scope="module")
def credits_url() -> Iterator[str]:
    server = serve_in_thread(credits_app)
    yield server.url
    server.stop()


@pytest.mark.parametrize(("key", "code"), [("cli-key", 0), ("wrong-key", 1)])
def test_credits_command_prints_the_balance_or_an_error(
    credits_url: str, key: str, code: int, tmp_path: Path
) -> None:
    config = parse_settings(
        {"influencers_club": {"api_key": key, "base_url": credits_url}, "data_dir": str(tmp_path)},
        environ={},
    )
    runner = CliRunner()
    result = runner.invoke(credits_command, [], obj=CliContext(_settings=config))
    assert result.exit_code == code
    if code == 0:
        assert "available: 1,234.50" in result.output
        assert "used:      65.50" in result.output
    else:
        assert "influencers_club.api_key" in result.output
        assert key not in result.output


def test_credits_command_prints_json(credits_url: str, tmp_path: Path) -> None:
    config = parse_settings(
        {
            "influencers_club": {"api_key": "cli-key", "base_url": credits_url},
            "data_dir": str(tmp_path),
        },
        environ={},
    )
    result = CliRunner().invoke(credits_command, ["--json"], obj=CliContext(_settings=config))
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert (data["available"], data["used"]) == (1234.5, 65.5)


def test_format_credits_aligns_labels() -> None:
    assert format_credits({"available": 1.0, "used": 12.25}) == (
        "available: 1.00\nused:      12.25"
    )


# --- Against the influencers.club sandbox: real httpx over loopback HTTP. ---------------------


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[Any]:
    module = pytest.importorskip(
        "connector.sandbox.influencers_club", reason="influencers.club sandbox not built yet"
    )
    with module.InfluencersClubSandbox(balance=100.0) as box:
        yield box


@pytest.fixture
def sandbox(sandbox_server: Any) -> Any:
    from connector.sandbox.ic_state import DEFAULT_CONFIG

    sandbox_server.reset(100.0)
    sandbox_server.configure(
        **{**DEFAULT_CONFIG, "not_found_rate": 0.0, "no_email_rate": 0.0, "cold_rate": 0.0}
    )
    return sandbox_server


@pytest.fixture
def live_client(sandbox: Any, sleeps: list[float]) -> Iterator[EnrichmentClient]:
    client = EnrichmentClient(
        settings(api_key=sandbox.api_key, base_url=sandbox.url),
        budget=CountingBudget(),
        sleep=sleeps.append,
        random=lambda: 0.0,
    )
    yield client
    client.close()


def test_sandbox_full_enrichment_returns_the_report_and_charges_one_credit(
    sandbox: Any, live_client: EnrichmentClient
) -> None:
    result = live_client.enrich_full("found_jane", "instagram")
    assert isinstance(result.profile.get("instagram"), dict)
    assert result.credits_cost == 1.0
    assert sandbox.stats()["credits_charged"] == 1.0
    assert live_client.fetch_credits().available == 99.0


def test_sandbox_miss_is_free(sandbox: Any, live_client: EnrichmentClient) -> None:
    with pytest.raises(ProfileNotFoundError):
        live_client.enrich_full("notfound_jane", "instagram")
    assert sandbox.stats()["credits_charged"] == 0


def test_sandbox_raw_enrichment(sandbox: Any, live_client: EnrichmentClient) -> None:
    result = live_client.enrich_raw("real_jane", "tiktok")
    assert "tiktok" in result.profile
    assert result.credits_cost == pytest.approx(0.03)


def test_sandbox_rejects_a_wrong_key_as_auth_error(sandbox: Any) -> None:
    with (
        EnrichmentClient(
            settings(api_key="wrong", base_url=sandbox.url), budget=CountingBudget()
        ) as client,
        pytest.raises(AuthError),
    ):
        client.fetch_credits()


@pytest.mark.parametrize("status", [402, 403, 400])
def test_sandbox_empty_balance_is_out_of_credits(
    sandbox: Any, live_client: EnrichmentClient, status: int
) -> None:
    sandbox.configure(insufficient_credits_status=status)
    sandbox.set_balance(0)
    with pytest.raises(OutOfCreditsError):
        live_client.enrich_full("found_jane", "instagram")
    assert sandbox.stats()["credits_charged"] == 0


def test_sandbox_cold_gateway_timeout_is_retried_once(
    sandbox: Any, live_client: EnrichmentClient
) -> None:
    sandbox.inject_faults(504, count=1, html=True)
    result = live_client.enrich_full("found_cold", "instagram")
    assert result.handle == "found_cold"
    full = [r for r in sandbox.requests() if r["path"] == FULL_PATH]
    assert [r["status"] for r in full] == [504, 200]


def test_sandbox_repeated_gateway_timeouts_stop_after_one_retry(
    sandbox: Any, live_client: EnrichmentClient
) -> None:
    sandbox.inject_faults(504, count=5, html=True)
    with pytest.raises(TransientError):
        live_client.enrich_full("found_cold", "instagram")
    assert len([r for r in sandbox.requests() if r["path"] == FULL_PATH]) == 2


def test_sandbox_rate_limit_is_waited_out(sandbox: Any, live_client: EnrichmentClient) -> None:
    sandbox.inject_faults(429, count=2)
    assert live_client.enrich_full("found_jane", "instagram").credits_cost == 1.0
    assert sandbox.stats()["http_429"] == 2


def test_sandbox_batch_lifecycle(sandbox: Any, live_client: EnrichmentClient) -> None:
    sandbox.configure(batch_rows_per_second=1000, batch_queued_seconds=0)
    info = live_client.create_batch(
        ["found_a", "found_b", "notfound_c"], "instagram", metadata={"campaign": "bench"}
    )
    assert info.batch_id
    deadline = time.monotonic() + 10
    status = live_client.fetch_batch_status(info.batch_id)
    while not status.is_terminal and time.monotonic() < deadline:
        time.sleep(0.1)
        status = live_client.fetch_batch_status(info.batch_id)
    assert status.status == "finished"
    assert status.credits_used == 2.0
    rows = {row.input_value: row for row in live_client.fetch_batch_results(info.batch_id)}
    assert rows["found_a"].profile and rows["notfound_c"].profile is None


def wait_for_batch(client: EnrichmentClient, batch_id: str, *statuses: str) -> BatchStatus:
    deadline = time.monotonic() + 10
    status = client.fetch_batch_status(batch_id)
    while status.status not in statuses and time.monotonic() < deadline:
        time.sleep(0.05)
        status = client.fetch_batch_status(batch_id)
    return status


def test_sandbox_paused_batch_resumes_after_a_top_up(
    sandbox: Any, live_client: EnrichmentClient
) -> None:
    sandbox.configure(batch_rows_per_second=1000, batch_queued_seconds=0)
    sandbox.set_balance(1)
    info = live_client.create_batch(["found_a", "found_b", "found_c"], "instagram")
    status = wait_for_batch(live_client, info.batch_id, "paused_insufficient_credits")
    assert status.is_paused and status.status_message
    with pytest.raises(RequestRejectedError):
        live_client.fetch_batch_results(info.batch_id)
    sandbox.set_balance(10)
    live_client.resume_batch(info.batch_id)
    status = wait_for_batch(live_client, info.batch_id, "finished")
    assert status.credits_used == 3.0
    assert len(live_client.fetch_batch_results(info.batch_id)) == 3


def test_sandbox_discovery_pages_from_zero(sandbox: Any, live_client: EnrichmentClient) -> None:
    pages = list(live_client.iter_discover("instagram", filters={}, page_size=10, max_results=25))
    assert sum(len(p.accounts) for p in pages) == 25
    assert all(isinstance(p.credits_left, float | None) for p in pages)


def test_calls_in_flight_never_exceed_max_concurrency_across_callers() -> None:
    """Two sources enriching at once share the process-wide cap, not one cap each."""
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return httpx.Response(200, json=FULL_BODY)

    client = EnrichmentClient(
        settings(max_concurrency=3), budget=CountingBudget(), transport=httpx.MockTransport(handler)
    )
    items = [(f"found_{i}", "instagram") for i in range(12)]
    threads = [
        threading.Thread(target=lambda: list(enrich_many(client, items, max_concurrency=3)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert state["peak"] == 3
