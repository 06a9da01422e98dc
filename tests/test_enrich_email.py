"""Enrich by E-mail, the Profile tier and basic batches: wire format and tolerant parsing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from connector.config import InfluencersClubSettings
from connector.enrich.client import EMAIL_PATH, PROFILE_PATH, EnrichmentClient
from connector.enrich.models import EmailMatch, parse_email_match
from connector.errors import ProfileNotFoundError, RequestRejectedError
from connector.ratelimit import RateBudget, build_storage
from connector.sandbox.ic_emails import build_email_result
from connector.sandbox.influencers_club import InfluencersClubSandbox

DOCUMENTED = {
    "platform": "instagram",
    "userId": "123",
    "url": "https://www.instagram.com/jane",
    "username": "jane",
    "fullname": "Jane Doe",
    "picture": "https://pictures.example/jane.jpg",
    "followers": 48250,
}
LIVE_NAMES = {
    "platform": "tiktok",
    "user_id": "456",
    "url": "https://www.tiktok.com/@jane",
    "username": "jane",
    "full_name": "Jane Doe",
    "profile_picture": "https://pictures.example/jane.jpg",
    "follower_count": "1200",
}


def budget() -> RateBudget:
    return RateBudget(build_storage("memory://"), limit=1000, per_seconds=1, key="email-tests")


@pytest.fixture
def make_client() -> Iterator[Callable[[Callable[[httpx.Request], httpx.Response]], Any]]:
    clients: list[EnrichmentClient] = []

    def make(handler: Callable[[httpx.Request], httpx.Response]) -> EnrichmentClient:
        client = EnrichmentClient(
            InfluencersClubSettings(api_key="k", base_url="https://api.test"),
            budget=budget(),
            transport=httpx.MockTransport(handler),
            sleep=lambda _: None,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (DOCUMENTED, ("instagram", "jane", "123", "Jane Doe", 48250)),
        (LIVE_NAMES, ("tiktok", "jane", "456", "Jane Doe", 1200)),
        # Unknown keys are ignored; missing optional keys are allowed.
        ({**DOCUMENTED, "is_verified": True, "new_key": {"a": 1}}, ("instagram", "jane", "123",
                                                                   "Jane Doe", 48250)),
        ({"platform": "YouTube", "username": "jane"}, ("youtube", "jane", None, None, None)),
        ({"url": "https://x.com/jane"}, (None, None, None, None, None)),
    ],
)  # fmt: skip
def test_both_generations_of_the_answer_are_read(
    result: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    match = parse_email_match(
        {"result": result, "credits_cost": 0.05}, email="j@x.io", default_cost=0.05
    )
    assert match is not None
    assert (match.platform, match.username, match.user_id, match.full_name, match.followers) == (
        expected
    )
    assert match.credits_cost == 0.05


@pytest.mark.parametrize("result", [None, {}, [], ""])
def test_an_empty_result_names_no_creator(result: Any) -> None:
    assert parse_email_match({"result": result}, email="j@x.io", default_cost=0.05) is None


def test_a_list_result_counts_its_first_creator() -> None:
    match = parse_email_match({"result": [LIVE_NAMES]}, email="j@x.io", default_cost=0.05)
    assert match is not None and match.platform == "tiktok" and match.credits_cost == 0.05


def test_enrich_email_posts_the_address_and_reads_the_match(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"credits_cost": 0.05, "result": DOCUMENTED})

    match = make_client(answer).enrich_email("  jane@example.com ")
    assert seen[0].url.path == EMAIL_PATH
    assert json.loads(seen[0].content) == {"email": "jane@example.com"}
    assert isinstance(match, EmailMatch) and match.email == "jane@example.com"


def test_an_email_miss_is_profile_not_found(make_client: Any) -> None:
    def miss(_: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "creator_not_found"})

    with pytest.raises(ProfileNotFoundError):
        make_client(miss).enrich_email("nobody@example.com")


def test_a_malformed_email_is_refused_before_sending(make_client: Any) -> None:
    sent: list[httpx.Request] = []
    client = make_client(lambda r: sent.append(r) or httpx.Response(200, json={}))
    with pytest.raises(RequestRejectedError):
        client.enrich_email("not an email")
    assert sent == []


def test_profile_tier_sends_handle_platform_and_email_required(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"result": {"email": "j@x.io"}, "credits_cost": 0.2})

    result = make_client(answer).enrich_profile("jane", "instagram")
    assert seen[0].url.path == PROFILE_PATH
    assert json.loads(seen[0].content) == {
        "handle": "jane",
        "platform": "instagram",
        "email_required": "preferred",
    }
    assert result.credits_cost == 0.2


def test_a_basic_batch_uploads_an_email_column_without_platform(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"batch_id": "bch_1", "status": "queued"})

    make_client(answer).create_email_batch(["a@x.io", "b@x.io"], metadata={"run_id": "r"})
    body = seen[0].content.decode()
    assert 'name="enrichment_mode"\r\n\r\nbasic' in body
    assert 'name="platform"' not in body
    assert "email\na@x.io\nb@x.io\n" in body


# --- The sandbox: the same verbs over loopback HTTP, billed like the API. ------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[InfluencersClubSandbox]:
    with InfluencersClubSandbox(balance=100.0, not_found_rate=0.0) as box:
        yield box


@pytest.fixture
def live(sandbox: InfluencersClubSandbox) -> Iterator[EnrichmentClient]:
    sandbox.reset(100.0)
    client = EnrichmentClient(
        InfluencersClubSettings(api_key=sandbox.api_key, base_url=sandbox.url),
        budget=budget(),
        sleep=lambda _: None,
    )
    yield client
    client.close()


def test_sandbox_bills_an_email_hit_and_not_a_miss(
    sandbox: InfluencersClubSandbox, live: EnrichmentClient
) -> None:
    match = live.enrich_email("found_mia+tiktok@example.com")
    assert (match.platform, match.username) == ("tiktok", "found_mia")
    with pytest.raises(ProfileNotFoundError):
        live.enrich_email("ghost_mia@example.com")
    stats = sandbox.stats()
    assert stats["credits_by_kind"] == {"email": 0.05}
    assert stats["email_charges"] == {"found_mia+tiktok@example.com": 1}
    assert live.fetch_credits().available == pytest.approx(99.95)


def test_sandbox_answers_in_both_generations_of_key_names() -> None:
    shapes = {frozenset(build_email_result(f"found_{i}@example.com") or {}) for i in range(40)}
    assert shapes == {frozenset(DOCUMENTED), frozenset(LIVE_NAMES)}


def test_sandbox_profile_tier_carries_identity_and_a_lighter_block(
    sandbox: InfluencersClubSandbox, live: EnrichmentClient
) -> None:
    result = live.enrich_profile("found_pia", "instagram")
    block = result.profile["instagram"]
    assert "follower_count" in block and "post_data" not in block
    assert "ai_niches" not in result.profile
    assert sandbox.stats()["credits_by_kind"] == {"profile": 0.2}


def test_sandbox_basic_batch_bills_each_hit(
    sandbox: InfluencersClubSandbox, live: EnrichmentClient
) -> None:
    info = live.create_email_batch(["found_q1@example.com", "ghost_q2@example.com"])
    sandbox.configure(batch_rows_per_second=1000, batch_queued_seconds=0)
    for _ in range(50):
        if live.fetch_batch_status(info.batch_id).status == "finished":
            break
    rows = live.fetch_batch_results(info.batch_id)
    assert [(r.input_value, r.status) for r in rows] == [
        ("found_q1@example.com", "success"),
        ("ghost_q2@example.com", "not_found"),
    ]
    assert rows[0].profile and rows[0].profile["username"] == "found_q1"
    assert sandbox.stats()["credits_by_kind"] == {"email": 0.05}
