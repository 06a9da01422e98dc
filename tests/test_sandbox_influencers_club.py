"""The influencers.club sandbox over HTTP: auth, billing, limits, faults, batches, discovery."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner

from connector.cli.sandbox import STARTERS, sandbox_group
from connector.sandbox.ic_state import DEFAULT_CONFIG
from connector.sandbox.images import build_image_url
from connector.sandbox.influencers_club import InfluencersClubSandbox

FULL = "/public/v1/creators/enrich/handle/full/"
RAW = "/public/v1/creators/enrich/handle/raw/"
CREDITS = "/public/v1/accounts/credits/"
BATCH = "/public/v1/enrichment/batch/"
DISCOVERY = "/public/v1/discovery/"


FAST_BATCHES = {"batch_queued_seconds": 0.05, "batch_rows_per_second": 200}


@pytest.fixture(scope="module")
def running() -> Iterator[InfluencersClubSandbox]:
    # One server per module: stopping a werkzeug server waits for its 0.5 s poll interval.
    with InfluencersClubSandbox() as started:
        yield started


@pytest.fixture
def sandbox(running: InfluencersClubSandbox) -> InfluencersClubSandbox:
    running.reset(balance=1000.0)
    running.configure(**{**DEFAULT_CONFIG, **FAST_BATCHES})
    return running


@pytest.fixture
def client(sandbox: InfluencersClubSandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as http:
        yield http


def enrich(client: httpx.Client, handle: str, platform: str = "instagram", **extra: Any):
    return client.post(FULL, json={"handle": handle, "platform": platform, **extra})


def test_missing_auth_header_answers_401_credentials_not_provided(sandbox):
    response = httpx.get(sandbox.url + CREDITS)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_wrong_key_answers_401_token_invalid(sandbox):
    response = httpx.get(sandbox.url + CREDITS, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Token is invalid", "code": "authentication_failed"}


def test_slashless_path_answers_301_with_an_empty_body(client):
    response = client.post(FULL.rstrip("/"), json={"handle": "foundjane", "platform": "instagram"})
    assert response.status_code == 301
    assert response.content == b""
    assert response.headers["Location"] == FULL


def test_plural_credits_path_works_and_singular_404s(sandbox, client):
    assert client.get(CREDITS).json() == {"credits_available": 1000.0, "credits_used": 0.0}
    assert client.get("/public/v1/account/credits/").status_code == 404
    sandbox.configure(singular_credits_path_404=False)
    assert client.get("/public/v1/account/credits/").status_code == 200


def test_full_call_bills_one_credit_inside_the_envelope(sandbox, client):
    response = enrich(client, "FoundJane")
    assert response.status_code == 200
    body = response.json()
    assert body["credits_cost"] == 1.0 and body["trial_searches_left"] == 0
    assert body["result"]["instagram"]["username"] == "foundjane"
    assert client.get(CREDITS).json() == {"credits_available": 999.0, "credits_used": 1.0}
    stats = sandbox.stats()
    assert stats["charges"] == {"instagram:foundjane": 1}
    assert stats["requests_by_endpoint"]["enrich_full"] == 1
    assert sandbox.requests()[0]["credits"] == 1.0


def test_raw_call_bills_three_hundredths_and_returns_the_platform_block(sandbox, client):
    response = client.post(RAW, json={"handle": "foundjane", "platform": "tiktok"})
    assert response.status_code == 200
    assert response.json()["credits_cost"] == 0.03
    assert set(response.json()["result"]) == {"tiktok"}
    assert sandbox.stats()["balance"] == pytest.approx(999.97)


def test_a_miss_is_free_and_names_creator_not_found(sandbox, client):
    response = enrich(client, "ghost_account")
    assert response.status_code == 400
    assert "creator_not_found" in response.text
    assert sandbox.stats()["credits_used"] == 0


def test_must_have_without_email_is_a_free_miss(sandbox, client):
    sandbox.configure(no_email_rate=1.0)
    assert enrich(client, "foundjane", email_required="must_have").status_code == 400
    preferred = enrich(client, "foundjane", email_required="preferred")
    assert preferred.status_code == 200 and preferred.json()["result"]["email"] is None
    assert sandbox.stats()["charges"] == {"instagram:foundjane": 1}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"handle": "  ", "platform": "instagram"}, "handle", "blank"),
        ({"handle": "x" * 201, "platform": "instagram"}, "handle", "200"),
        ({"platform": "instagram"}, "handle", "required"),
        ({"handle": "foundjane", "platform": "x"}, "platform", '"x" is not a valid choice.'),
        ({"handle": "foundjane", "platform": "instagram", "email_required": "no"}, "email_required",
         "valid choice"),
    ],
)  # fmt: skip
def test_invalid_bodies_answer_400_field_errors(client, body, field, message):
    response = client.post(FULL, json=body)
    assert response.status_code == 400
    assert message in response.json()["error"][field][0]


def test_insufficient_credits_answers_the_configured_status_and_charges_nothing(sandbox, client):
    sandbox.set_balance(0.5)
    response = enrich(client, "foundjane")
    assert response.status_code == 402
    assert response.json() == {"detail": "Insufficient credits", "code": "insufficient_credits"}
    assert (
        client.post(RAW, json={"handle": "foundjane", "platform": "instagram"}).status_code == 200
    )
    sandbox.configure(insufficient_credits_status=403)
    assert enrich(client, "foundjane").status_code == 403
    # A cheaper tier's charges are counted apart from Full's: a creator may have both.
    assert sandbox.stats()["charges"] == {"raw|instagram:foundjane": 1}
    assert sandbox.stats()["credits_by_kind"] == {"raw": 0.03}


def test_rate_limit_answers_429_with_retry_after_once_the_window_is_full(sandbox, client):
    sandbox.configure(rate_limit_per_minute=3)
    assert [client.get(CREDITS).status_code for _ in range(3)] == [200, 200, 200]
    throttled = client.get(CREDITS)
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert throttled.json()["detail"].startswith("Request was throttled. Expected available in ")
    sandbox.configure(send_retry_after=False)
    again = client.get(CREDITS)
    assert again.status_code == 429 and "Retry-After" not in again.headers
    assert sandbox.stats()["http_429"] == 2


def test_throttled_and_unauthenticated_requests_do_not_fill_the_window(sandbox, client):
    sandbox.configure(rate_limit_per_minute=2)
    for _ in range(3):
        httpx.get(sandbox.url + CREDITS, headers={"Authorization": "Bearer wrong"})
    assert client.get(CREDITS).status_code == 200


def test_injected_faults_answer_the_next_requests_then_stop(sandbox, client):
    sandbox.inject_faults(503, count=2)
    sandbox.inject_faults(502, html=True)
    sandbox.inject_faults(429)
    assert [client.get(CREDITS).status_code for _ in range(2)] == [503, 503]
    gateway = client.get(CREDITS)
    assert gateway.status_code == 502 and "<html>" in gateway.text
    assert gateway.headers["Content-Type"].startswith("text/html")
    throttled = client.get(CREDITS)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert client.get(CREDITS).status_code == 200


def test_an_injected_fault_with_a_path_waits_for_a_request_to_that_path(sandbox, client):
    sandbox.inject_faults(502, html=True, path=BATCH)
    assert client.get(CREDITS).status_code == 200
    assert upload(client, "handle\nfoundjane\n", platform="instagram").status_code == 502
    assert upload(client, "handle\nfoundjane\n", platform="instagram").status_code == 201
    with pytest.raises(ValueError, match="/public/"):
        sandbox.inject_faults(502, path="/elsewhere/")


def test_realistic_faults_preset_and_explicit_keys_win(sandbox):
    sandbox.configure(faults="realistic", cold_rate=0.0)
    config = sandbox.state.config
    assert config["faults"] == "realistic"
    assert (config["gateway_error_rate"], config["throttle_rate"]) == (0.02, 0.005)
    assert config["retry_after_format"] == "both"
    assert config["insufficient_credits_status"] == 403
    assert config["cold_rate"] == 0.0
    sandbox.configure(faults="none")
    assert config["gateway_error_rate"] == 0.0 and config["insufficient_credits_status"] == 402
    for bad in ({"faults": "chaos"}, {"retry_after_format": "minutes"}, {"fault_seed": 1.5}):
        with pytest.raises(ValueError):
            sandbox.configure(**bad)


def test_random_gateway_502s_hit_any_call_and_neither_create_nor_bill(sandbox, client):
    sandbox.configure(gateway_error_rate=1.0)
    for response in (
        client.get(CREDITS),
        enrich(client, "foundjane"),
        upload(client, "handle\nfoundjane\n", platform="instagram"),
        client.get(f"{BATCH}bch_nope/status/"),
    ):
        assert response.status_code == 502
        assert response.headers["Content-Type"].startswith("text/html")
        assert "<title>502 Bad Gateway</title>" in response.text
    stats = sandbox.stats()
    assert (stats["credits_used"], stats["batches"]) == (0, 0)
    sandbox.configure(gateway_error_rate=0.02, fault_seed=7)
    statuses = [client.get(CREDITS).status_code for _ in range(250)]
    assert 1 <= statuses.count(502) <= 15 and set(statuses) == {200, 502}


@pytest.mark.parametrize("form", ["seconds", "date", "both"])
def test_retry_after_comes_as_seconds_or_as_an_http_date(sandbox, client, form):
    sandbox.configure(throttle_rate=1.0, retry_after_format=form, fault_seed=3)
    values = [client.get(CREDITS).headers["Retry-After"] for _ in range(12)]
    seconds = [v for v in values if v.isdigit()]
    dates = [parsedate_to_datetime(v) for v in values if not v.isdigit()]
    assert all(1 <= int(v) <= 2 for v in seconds)
    now = datetime.now(UTC)
    assert all(now <= d <= now + timedelta(seconds=4) for d in dates)
    expected = {"seconds": (12, 0), "date": (0, 12)}.get(form)
    if expected:
        assert (len(seconds), len(dates)) == expected
    else:
        assert seconds and dates


def test_out_of_credits_is_a_403_permission_refusal_with_realistic_faults(sandbox, client):
    sandbox.configure(faults="realistic", gateway_error_rate=0.0, throttle_rate=0.0, cold_rate=0)
    sandbox.set_balance(0)
    refused = enrich(client, "foundjane")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "You do not have enough credits to perform this action."}
    paged = discover(client, "instagram", limit=5)
    assert paged.status_code == 403 and "enough credits" in paged.text
    sandbox.set_balance(10)
    sandbox.inject_faults(402, path=FULL)
    spent_elsewhere = enrich(client, "foundjane")
    assert spent_elsewhere.status_code == 402
    assert spent_elsewhere.json()["code"] == "insufficient_credits"
    assert enrich(client, "foundjane").status_code == 200


def test_fault_delay_is_applied(sandbox, client):
    sandbox.inject_faults(504, delay=0.2, html=True)
    started = time.monotonic()
    assert client.get(CREDITS).status_code == 504
    assert time.monotonic() - started >= 0.2


def test_cold_handle_answers_html_504_first_and_warm_data_next(sandbox, client):
    sandbox.configure(cold_rate=1.0, cold_delay=0.05)
    cold = enrich(client, "foundjane")
    assert cold.status_code == 504 and "nginx" in cold.text
    assert sandbox.stats()["credits_used"] == 0
    assert enrich(client, "foundjane").status_code == 200
    sandbox.configure(bill_cold_504=True)
    assert enrich(client, "foundjohn").status_code == 504
    assert sandbox.stats()["charges"] == {"instagram:foundjane": 1, "instagram:foundjohn": 1}


def test_latency_and_jitter_delay_enrich_calls(sandbox, client):
    sandbox.configure(latency=0.15, jitter=0.05)
    started = time.monotonic()
    assert enrich(client, "foundjane").status_code == 200
    assert 0.1 <= time.monotonic() - started < 2


def upload(client: httpx.Client, csv_text: str, **form: str) -> httpx.Response:
    data = {"enrichment_mode": "full", "platform": "instagram", "include_audience_data": "false",
            "include_lookalikes": "false", "email_required": "preferred", **form}  # fmt: skip
    files = {"file": ("batch.csv", csv_text.encode(), "text/csv")}
    return client.post(BATCH, data=data, files=files)


def wait_for(client: httpx.Client, batch_id: str, statuses: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = client.get(f"{BATCH}{batch_id}/status/").json()
        if status["status"] in statuses:
            return status
        time.sleep(0.02)
    raise AssertionError(f"batch stuck in {status['status']}")


def test_batch_lifecycle_bills_each_found_row_including_duplicates(sandbox, client):
    created = upload(
        client, "handle\nfoundann\nghostbob\nfoundann\n@FoundCid\n", metadata='{"t": 1}'
    )
    assert created.status_code == 201
    body = created.json()
    assert body["batch_id"].startswith("bch_") and len(body["batch_id"]) == 36
    assert body["status"] == "queued" and body["og_input_number"] == 4
    assert body["type_report"] == "ENRICH_BY_HANDLE" and body["metadata"] == {"t": 1}
    batch_id = body["batch_id"]
    not_yet = client.get(f"{BATCH}{batch_id}/?format=json")
    assert not_yet.status_code == 400 and not_yet.json()["error"] == "Batch is not finished"
    status = wait_for(client, batch_id, {"finished"})
    assert status["total_rows"] == status["processed_rows"] == 4
    assert (status["success_count"], status["failed_count"]) == (3, 1)
    assert status["credits_used"] == "3.00" and status["started_at"].endswith("Z")
    results = client.get(f"{BATCH}{batch_id}/", params={"format": "json"}).json()
    assert [r["status"] for r in results] == ["success", "not_found", "success", "success"]
    assert results[0]["input_value"] == "foundann" and results[1]["enrichment_data"] is None
    assert results[0]["enrichment_data"]["instagram"]["username"] == "foundann"
    stats = sandbox.stats()
    assert stats["charges"] == {"instagram:foundann": 2, "instagram:@foundcid": 1}
    assert stats["balance"] == 997.0


def test_batch_pauses_when_credits_run_out_and_resume_continues(sandbox, client):
    sandbox.set_balance(2.5)
    batch_id = upload(client, "handle\n" + "\n".join(f"found{i}" for i in range(5))).json()[
        "batch_id"
    ]
    paused = wait_for(client, batch_id, {"paused_insufficient_credits", "finished"})
    assert paused["status"] == "paused_insufficient_credits"
    assert paused["processed_rows"] == 2 and paused["status_message"]
    sandbox.set_balance(10)
    resumed = client.post(f"{BATCH}{batch_id}/resume/", json={})
    assert resumed.status_code == 200
    assert wait_for(client, batch_id, {"finished"})["success_count"] == 5
    again = client.post(f"{BATCH}{batch_id}/resume/", json={})
    assert again.status_code == 400 and again.json()["current_status"] == "finished"
    assert client.get(CREDITS).json()["credits_available"] == 7.0


def test_batch_csv_results_404_by_default_and_download_url_serves_csv(sandbox, client):
    batch_id = upload(client, "handle\nfoundann\nghostbob\n", enrichment_mode="raw").json()[
        "batch_id"
    ]
    wait_for(client, batch_id, {"finished"})
    assert client.get(f"{BATCH}{batch_id}/").status_code == 404
    sandbox.configure(batch_csv_results="csv")
    direct = client.get(f"{BATCH}{batch_id}/", params={"format": "csv"})
    assert direct.status_code == 200
    assert direct.text.splitlines()[0].startswith("input_value,status,")
    download = client.get(f"{BATCH}{batch_id}/download/").json()
    assert download["expires_in"] == 3600 and download["invalid_records"] == 1
    assert download["total_results"] == 2 and download["batch_id"] == batch_id
    csv_file = httpx.get(download["download_url"])
    assert csv_file.status_code == 200 and "instagram.follower_count" in csv_file.text
    assert "foundann" in csv_file.text
    assert sandbox.stats()["credits_used"] == pytest.approx(0.03)


def test_unknown_batch_answers_404(client):
    assert client.get(f"{BATCH}bch_{'0' * 32}/status/").status_code == 404


@pytest.mark.parametrize(
    ("csv_text", "form", "needle"),
    [
        ("name\nfoundann\n", {}, "handle"),
        ("handle,platform\nfoundann,instagram\n", {}, "one column"),
        ("handle\n" + "a\n" * 10_001, {}, "10,000"),
        ("handle\n", {}, "no rows"),
        ("handle\nfoundann\n", {"platform": "snapchat"}, "valid choice"),
        ("handle\nfoundann\n", {"enrichment_mode": "turbo"}, "valid choice"),
        ("handle\nfoundann\n", {"metadata": "{nope"}, "JSON"),
    ],
)
def test_batch_create_rejects_bad_files_and_fields(client, csv_text, form, needle):
    response = upload(client, csv_text, **form)
    assert response.status_code == 400
    assert needle in str(response.json()["error"])


def test_batch_create_rejects_files_over_10_mb(client):
    response = upload(client, "handle\n" + "x" * (10 * 1024 * 1024))
    assert response.status_code == 400 and "10 MB" in response.json()["error"]


def discover(
    client: httpx.Client,
    platform: str = "tiktok",
    *,
    limit: int = 10,
    page: int = 0,
    sort_by: str = "number_of_followers",
    order: str = "desc",
    **filters: Any,
) -> httpx.Response:
    body = {"platform": platform, "paging": {"limit": limit, "page": page},
            "sort": {"sort_by": sort_by, "sort_order": order}, "filters": filters}  # fmt: skip
    return client.post(DISCOVERY, json=body)


def test_discovery_pages_sorts_and_bills_per_creator(sandbox, client):
    first = discover(client, limit=10).json()
    assert first["total"] == 10_000 and first["limit"] == 10 and len(first["accounts"]) == 10
    followers = [a["profile"]["followers"] for a in first["accounts"]]
    assert followers == sorted(followers, reverse=True)
    assert first["accounts"][0]["user_id"].startswith("uc_")
    assert first["credits_cost"] == pytest.approx(0.1)
    assert first["credits_left"] == pytest.approx(999.9)
    second = discover(client, limit=10, page=1).json()
    assert not {a["user_id"] for a in first["accounts"]} & {
        a["user_id"] for a in second["accounts"]
    }
    ascending = discover(client, sort_by="engagement_rate", order="asc", limit=5).json()
    rates = [a["profile"]["engagement_percent"] for a in ascending["accounts"]]
    assert rates == sorted(rates)
    stats = sandbox.stats()
    assert stats["discovery_credits"] == pytest.approx(0.25)
    assert sum(stats["discovery_charges"].values()) == 25


def test_discovery_filters_use_the_platform_follower_key(client):
    subscribers = {"min": 10_000, "max": 20_000}
    engagement = {"min": 1.0}
    response = discover(
        client,
        "youtube",
        limit=50,
        number_of_subscribers=subscribers,
        engagement_percent=engagement,
    )
    body = response.json()
    assert 0 < body["total"] < 10_000
    for account in body["accounts"]:
        assert 10_000 <= account["profile"]["followers"] <= 20_000
        assert account["profile"]["engagement_percent"] >= 1.0
    ignored = discover(client, "youtube", number_of_followers={"min": 10**9}).json()
    assert ignored["total"] == 10_000 and ignored["credits_cost"] == pytest.approx(0.1)


def test_discovery_exclude_handles_is_case_insensitive_and_ignores_at(client):
    top = [a["profile"]["username"] for a in discover(client, limit=3).json()["accounts"]]
    excluded = [f"@{top[0].upper()}", top[1]]
    after = [
        a["profile"]["username"]
        for a in discover(client, limit=3, exclude_handles=excluded).json()["accounts"]
    ]
    assert after[0] == top[2] and top[0] not in after and top[1] not in after
    too_many = discover(client, exclude_handles=[f"h{i}" for i in range(10_001)])
    assert too_many.status_code == 400


def test_discovery_caps_at_10000_results_and_validates_limit(sandbox, client):
    assert len(discover(client, limit=50, page=199).json()["accounts"]) == 50
    beyond = discover(client, limit=50, page=200).json()
    assert beyond["accounts"] == [] and beyond["credits_cost"] == 0
    assert discover(client, limit=51).status_code == 400
    assert discover(client, "snapchat").status_code == 400


def test_discovered_creators_enrich_with_the_same_follower_count(sandbox, client):
    sandbox.configure(not_found_rate=1.0)
    account = discover(client, "instagram", limit=1).json()["accounts"][0]["profile"]
    result = enrich(client, account["username"]).json()["result"]["instagram"]
    assert result["follower_count"] == account["followers"]
    assert result["engagement_percent"] == account["engagement_percent"]


def test_profile_pictures_are_served_from_the_sandbox(sandbox, client):
    result = enrich(client, "foundjane").json()["result"]["instagram"]
    picture = httpx.get(result["profile_picture"])
    assert picture.status_code == 200
    assert picture.headers["Content-Type"] in ("image/png", "image/jpeg")
    assert picture.content[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0")
    assert httpx.get(result["profile_picture"]).content == picture.content
    assert sandbox.check_image_url(result["profile_picture"])


def test_expired_or_tampered_pictures_answer_403(sandbox):
    expired = build_image_url(
        sandbox.url, "instagram", "foundjane", "sd", lifetime=1, now=time.time() - 100
    )
    response = httpx.get(expired)
    assert response.status_code == 403 and "Request has expired" in response.text
    valid = build_image_url(sandbox.url, "instagram", "foundjane", "sd", lifetime=60)
    tampered = valid.replace("/img/", "/img/x")
    assert httpx.get(tampered).status_code == 403


def test_oversized_and_mistyped_pictures(sandbox):
    big = httpx.get(build_image_url(sandbox.url, "instagram", "foundbigpic", "sd", lifetime=60))
    assert big.status_code == 200 and len(big.content) > 6_000_000
    bad = httpx.get(build_image_url(sandbox.url, "instagram", "foundbadpic", "hd", lifetime=60))
    assert bad.headers["Content-Type"] == "image/jpeg" and bad.content.startswith(b"<html>")


def test_http_control_endpoints(sandbox, client):
    base = sandbox.url + "/_sandbox"
    assert httpx.post(f"{base}/config", json={"nope": 1}).status_code == 400
    assert httpx.post(f"{base}/config", json={"latency": -1}).status_code == 400
    assert (
        httpx.post(f"{base}/config", json={"rate_limit_per_minute": 5}).json()[
            "rate_limit_per_minute"
        ]
        == 5
    )
    assert httpx.post(f"{base}/faults", json={"status": 500, "count": 1}).status_code == 200
    assert httpx.post(f"{base}/faults", json={"status": 418}).status_code == 400
    assert client.get(CREDITS).status_code == 500
    assert httpx.post(f"{base}/balance", json={"credits_available": 12.5}).status_code == 200
    assert client.get(CREDITS).json()["credits_available"] == 12.5
    stats = httpx.get(f"{base}/stats").json()
    assert stats["requests"] == 2 and stats["balance"] == 12.5
    log = httpx.get(f"{base}/requests").json()
    assert [entry["status"] for entry in log] == [500, 200]
    assert {"t", "method", "path", "status", "credits"} <= set(log[0])
    assert httpx.post(f"{base}/reset", json={}).status_code == 200
    assert sandbox.stats()["requests"] == 0 and sandbox.stats()["balance"] == 12.5


def test_python_api_rejects_unknown_config_keys():
    with pytest.raises(ValueError, match="unknown sandbox config key"):
        InfluencersClubSandbox(turbo=True)
    sandbox = InfluencersClubSandbox()
    with pytest.raises(ValueError):
        sandbox.configure(batch_csv_results="xml")
    with pytest.raises(RuntimeError):
        _ = sandbox.url


def test_cli_starter_runs_the_sandbox_and_describes_the_config():
    started = STARTERS["influencers-club"](
        {"port": 0, "api_key": "k", "balance": 5.0, "latency": 0.0, "jitter": 0.0}
    )
    try:
        response = httpx.get(started.url + CREDITS, headers={"Authorization": "Bearer k"})
        assert response.json()["credits_available"] == 5.0
        assert any(started.url in line for line in started.lines)
    finally:
        started.stop()
    result = CliRunner().invoke(sandbox_group, ["serve", "--help"])
    assert result.exit_code == 0 and "--api-key" in result.output


@pytest.mark.parametrize(("bill", "charged"), [(False, 0.0), (True, 1.0)])
def test_a_full_call_whose_client_hung_up_is_billed_only_when_configured(
    sandbox: InfluencersClubSandbox, bill: bool, charged: float
) -> None:
    sandbox.configure(latency=0.3, bill_disconnected_full=bill, not_found_rate=0.0)
    body = json.dumps({"handle": "found_gone", "platform": "instagram"}).encode()
    parts = urlsplit(sandbox.url)
    request = (
        f"POST /public/v1/creators/enrich/handle/full/ HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {sandbox.api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((parts.hostname, parts.port)) as conn:
        conn.sendall(request)
    time.sleep(0.8)
    stats = sandbox.stats()
    assert stats["credits_charged"] == charged
    assert stats["disconnected_unbilled"] == (0 if bill else 1)


def test_the_request_log_says_when_each_request_arrived_and_was_answered(
    sandbox: InfluencersClubSandbox,
) -> None:
    sandbox.configure(latency=0.2, jitter=0.0)
    httpx.post(
        f"{sandbox.url}/public/v1/creators/enrich/handle/raw/",
        json={"handle": "found_timing", "platform": "instagram"},
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    )
    (entry,) = sandbox.requests()
    assert entry["t"] - entry["start"] >= 0.2


@pytest.mark.parametrize(
    ("starts", "most"),
    [([], 0), ([5.0], 1), ([0.0, 10.0, 59.9, 60.0, 61.0, 130.0], 4), ([0.0, 60.0, 120.0], 1)],
)
def test_the_busiest_minute_counts_requests_by_arrival(starts: list[float], most: int) -> None:
    sandbox = InfluencersClubSandbox()
    with sandbox.state.lock:
        sandbox.state.log.extend({"start": start, "t": start} for start in starts)
    assert sandbox.count_max_window() == most
