"""Tests for connector.enrich.classify: every status class maps to a product error or success."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.enrich.classify import (
    classify_response,
    extract_message,
    parse_retry_after,
    translate_transport_error,
)
from connector.errors import (
    AuthError,
    ConnectorError,
    FatalError,
    OutOfCreditsError,
    ProfileNotFoundError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
)

URL = "https://api.test/public/v1/creators/enrich/handle/full/"
NGINX_504 = (
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def make_response(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    if isinstance(body, str):
        content = body.encode()
    elif body is None:
        content = b""
    else:
        content = json.dumps(body).encode()
    return httpx.Response(
        status, content=content, headers=headers or {}, request=httpx.Request("POST", URL)
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (100, "", RequestRejectedError),
        (101, "", RequestRejectedError),
        (200, {"result": {"instagram": {}}, "credits_cost": 1.0}, None),
        (201, {"batch_id": "bch_1", "status": "queued"}, None),
        (202, [], None),
        (204, None, None),
        (200, "", None),
        (200, NGINX_504, TransientError),
        (200, "plain text, not json", TransientError),
        (300, "", RequestRejectedError),
        (301, "", FatalError),
        (302, "", FatalError),
        (303, "", RequestRejectedError),
        (304, "", RequestRejectedError),
        (307, "", FatalError),
        (308, "", FatalError),
        (400, {"error": "Invalid platform"}, RequestRejectedError),
        (400, {"error": "creator_not_found"}, ProfileNotFoundError),
        (400, {"error": "No data found for the provided input."}, ProfileNotFoundError),
        (400, {"detail": "Insufficient credits"}, OutOfCreditsError),
        (
            400,
            {"error": "Batch is not finished", "current_status": "paused_insufficient_credits"},
            RequestRejectedError,
        ),
        (401, {"detail": "Token is invalid", "code": "authentication_failed"}, AuthError),
        (402, {"detail": "Payment required"}, OutOfCreditsError),
        (403, {"detail": "You do not have permission"}, AuthError),
        (403, {"error": "insufficient_credits"}, OutOfCreditsError),
        (404, {"error": "Not found."}, RequestRejectedError),
        (404, {"error": "creator_not_found"}, RequestRejectedError),
        (405, {"detail": 'Method "GET" not allowed.'}, RequestRejectedError),
        (408, "", TransientError),
        (
            409,
            {"error": "batch is not paused", "current_status": "processing"},
            RequestRejectedError,
        ),
        (410, "", RequestRejectedError),
        (413, "", RequestRejectedError),
        (418, "", RequestRejectedError),
        (422, {"handle": ["This field is required."]}, RequestRejectedError),
        (429, {"detail": "Request was throttled."}, RateLimitedError),
        (500, {"detail": "Server error"}, TransientError),
        (502, NGINX_504.replace("504 Gateway Time-out", "502 Bad Gateway"), TransientError),
        (503, "", TransientError),
        (504, NGINX_504, TransientError),
        (599, "", TransientError),
    ],
)
def test_classify_response_maps_every_status_class(
    status: int, body: object, expected: type[ConnectorError] | None
) -> None:
    response = make_response(status, body)
    if expected is None:
        classify_response(response)
        return
    with pytest.raises(ConnectorError) as info:
        classify_response(response)
    assert type(info.value) is expected


@given(status=st.integers(min_value=100, max_value=599), body=st.text(max_size=200))
def test_classify_response_only_returns_or_raises_connector_errors(status: int, body: str) -> None:
    with contextlib.suppress(ConnectorError):
        classify_response(make_response(status, body))


def test_redirect_is_fatal_with_a_trailing_slash_hint() -> None:
    response = make_response(301, "", {"location": "/public/v1/accounts/credits/"})
    with pytest.raises(FatalError) as info:
        classify_response(response)
    assert "must end with '/'" in (info.value.hint or "")


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "You do not have enough credits to perform this action."},
        {"error": "insufficient_credits"},
        {"error": {"credits": ["Insufficient credits."]}},
        {"message": "Not enough credits", "credits_available": 0},
        {"detail": "You don't have enough credits."},
        {"detail": "No credits left on this account."},
        {"error": "Credit balance exhausted"},
        "Out of credits",
        [{"msg": "insufficient balance", "loc": ["body"]}],
    ],
)
@pytest.mark.parametrize("status", [402, 403, 400])
def test_out_of_credits_is_recognised_in_any_body_shape(status: int, body: object) -> None:
    with pytest.raises(OutOfCreditsError) as info:
        classify_response(make_response(status, body))
    assert f"HTTP {status}" in info.value.message
    assert "top up" in (info.value.hint or "")


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "You do not have permission to perform this action."},
        {"detail": "Your plan does not include API access."},
        "",
        "<html><head><title>403 Forbidden</title></head></html>",
    ],
)
def test_a_403_without_credit_wording_is_an_auth_error_that_mentions_the_balance(
    body: object,
) -> None:
    with pytest.raises(AuthError) as info:
        classify_response(make_response(403, body))
    assert "HTTP 403" in info.value.message
    assert "connector credits" in (info.value.hint or "")


def test_auth_error_hint_names_the_api_key_setting() -> None:
    with pytest.raises(AuthError) as info:
        classify_response(make_response(401, {"detail": "Token is invalid"}))
    assert "influencers_club.api_key" in (info.value.hint or "")
    assert "Token is invalid" in info.value.message


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0.5", 0.5), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_rate_limited_carries_retry_after_from_the_header(
    header: str | None, expected: float | None
) -> None:
    headers = {"retry-after": header} if header is not None else {}
    with pytest.raises(RateLimitedError) as info:
        classify_response(make_response(429, {"detail": "throttled"}, headers))
    assert info.value.retry_after == expected


def test_retry_after_accepts_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    seconds = parse_retry_after(format_datetime(when, usegmt=True))
    assert seconds is not None and 25 <= seconds <= 31


def test_gateway_page_message_uses_the_html_title() -> None:
    with pytest.raises(TransientError) as info:
        classify_response(make_response(504, NGINX_504))
    assert "504 Gateway Time-out" in info.value.message
    assert "<html>" not in info.value.message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "m", "detail": "d", "error": "e"}, "m"),
        ({"detail": "d", "error": "e"}, "d"),
        ({"error": "e"}, "e"),
        ({"response_meta": {"error_message": "meta"}}, "meta"),
        ({"error": ["first", "second"]}, "first; second"),
        ({"error": {"handle": ["This field is required."]}}, "handle: This field is required."),
        (
            {"error": {"filters": {"engagement_percent": ["A valid number is required."]}}},
            "filters.engagement_percent: A valid number is required.",
        ),
        (
            {"platform": ['"x" is not a valid choice.'], "handle": ["Required."]},
            'platform: "x" is not a valid choice.; handle: Required.',
        ),
        ([{"loc": ["body", "handle"], "msg": "field required"}], "body.handle: field required"),
    ],
)
def test_extract_message_follows_the_documented_order_and_flattens(
    body: object, expected: str
) -> None:
    assert extract_message(json.dumps(body)) == expected


def test_extract_message_falls_back_to_the_first_300_characters_of_the_body() -> None:
    text = "x" * 1000
    assert extract_message(text) == "x" * 300


def test_error_messages_never_carry_a_bearer_token() -> None:
    body = {"detail": "bad header Authorization: Bearer eyJhbGciOi.secret.token"}
    with pytest.raises(AuthError) as info:
        classify_response(make_response(401, body))
    assert "eyJhbGciOi" not in str(info.value)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectTimeout("connect timed out"), TransientError),
        (httpx.ReadTimeout("read timed out"), TransientError),
        (httpx.WriteTimeout("write timed out"), TransientError),
        (httpx.PoolTimeout("pool timed out"), TransientError),
        (httpx.ConnectError("refused"), TransientError),
        (httpx.ReadError("reset"), TransientError),
        (httpx.WriteError("broken pipe"), TransientError),
        (httpx.RemoteProtocolError("peer closed connection"), TransientError),
        (httpx.ProxyError("proxy down"), TransientError),
        (httpx.DecodingError("bad gzip"), TransientError),
        (httpx.UnsupportedProtocol("ftp"), FatalError),
        (httpx.LocalProtocolError("bad header"), FatalError),
        (httpx.InvalidURL("bad url"), FatalError),
        (httpx.TooManyRedirects("loop"), FatalError),
    ],
)
def test_translate_transport_error_maps_httpx_exceptions(
    exc: Exception, expected: type[ConnectorError]
) -> None:
    error = translate_transport_error(exc)
    assert type(error) is expected


def test_translate_transport_error_covers_every_httpx_exception_class() -> None:
    classes = [getattr(httpx, name) for name in dir(httpx)]
    errors = [c for c in classes if isinstance(c, type) and issubclass(c, Exception)]
    for cls in errors:
        try:
            exc = cls("boom")
        except TypeError:
            continue
        assert isinstance(translate_transport_error(exc), ConnectorError), cls
