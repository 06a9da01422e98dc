"""HubSpot signature checks: documented vectors, v3 round trips, clocks and URI decoding."""

from __future__ import annotations

import pytest
from hubspot.utils.signature import Signature
from hypothesis import given
from hypothesis import strategies as st

from connector.sources.hubspot.signature import (
    DECODED_ESCAPES,
    InvalidSignatureError,
    build_v1,
    build_v2,
    build_v3,
    normalise_uri,
    verify_v1,
    verify_v2,
    verify_v3,
)

DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
DOC_V1 = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
DOC_V2_GET = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
SECRET = "sandbox-client-secret"
URI = "https://connector.example.com/webhooks/hubspot"
NOW = 1_700_000_000.0
TS = str(int(NOW * 1000))


def clock() -> float:
    return NOW


def sign(body: bytes = b"[]", *, uri: str = URI, ts: str = TS, secret: str = SECRET) -> str:
    return build_v3(secret, "POST", uri, body, ts)


def test_v1_matches_hubspots_documented_example() -> None:
    assert build_v1(DOC_SECRET, DOC_BODY) == DOC_V1
    verify_v1(DOC_V1, client_secret=DOC_SECRET, body=DOC_BODY)


def test_v1_rejects_a_tampered_body() -> None:
    with pytest.raises(InvalidSignatureError, match="does not match"):
        verify_v1(DOC_V1, client_secret=DOC_SECRET, body=DOC_BODY.replace(b"123", b"124"))


def test_v2_matches_hubspots_documented_get_example() -> None:
    uri = "https://www.example.com/webhook_uri"
    assert build_v2(DOC_SECRET, "GET", uri, b"") == DOC_V2_GET
    verify_v2(DOC_V2_GET, client_secret=DOC_SECRET, method="GET", uri=uri, body=b"")


def test_v2_uses_the_uri_exactly_as_sent() -> None:
    sent = "https://x.example/hook?a=b%3Ac"
    signature = build_v2(SECRET, "POST", sent, b"{}")
    verify_v2(signature, client_secret=SECRET, method="POST", uri=sent, body=b"{}")
    with pytest.raises(InvalidSignatureError):
        verify_v2(
            signature, client_secret=SECRET, method="POST", uri=normalise_uri(sent), body=b"{}"
        )


def test_v3_round_trip_agrees_with_the_hubspot_library() -> None:
    body = b'[{"objectId":1001}]'
    signature = sign(body)
    assert signature == Signature.get_signature(SECRET, body.decode(), "v3", URI, "POST", TS)
    verify_v3(
        signature, client_secret=SECRET, method="POST", uri=URI, body=body, timestamp=TS, now=clock
    )


@pytest.mark.parametrize(
    ("offset", "message"),
    [(-301.0, "old"), (-3600.0, "old"), (61.0, "future"), (3600.0, "future")],
)
def test_v3_rejects_stale_and_future_timestamps(offset: float, message: str) -> None:
    ts = str(int((NOW + offset) * 1000))
    with pytest.raises(InvalidSignatureError, match=message):
        verify_v3(
            sign(ts=ts),
            client_secret=SECRET,
            method="POST",
            uri=URI,
            body=b"[]",
            timestamp=ts,
            now=clock,
        )


@pytest.mark.parametrize("offset", [-299.0, 0.0, 59.0])
def test_v3_accepts_timestamps_inside_the_window(offset: float) -> None:
    ts = str(int((NOW + offset) * 1000))
    verify_v3(
        sign(ts=ts),
        client_secret=SECRET,
        method="POST",
        uri=URI,
        body=b"[]",
        timestamp=ts,
        now=clock,
    )


@pytest.mark.parametrize(
    ("signature", "secret", "body", "timestamp"),
    [
        pytest.param(sign(b"[1]"), SECRET, b"[2]", TS, id="tampered-body"),
        pytest.param(sign(secret="other"), SECRET, b"[]", TS, id="wrong-secret"),
        pytest.param(sign(), SECRET, b"[]", str(int(TS) + 1), id="changed-timestamp"),
        pytest.param("", SECRET, b"[]", TS, id="missing-signature"),
        pytest.param(sign(), SECRET, b"[]", None, id="missing-timestamp"),
        pytest.param(sign(), SECRET, b"[]", "12.5", id="malformed-timestamp"),
    ],
)
def test_v3_rejects_bad_requests(
    signature: str, secret: str, body: bytes, timestamp: str | None
) -> None:
    with pytest.raises(InvalidSignatureError):
        verify_v3(
            signature,
            client_secret=secret,
            method="POST",
            uri=URI,
            body=body,
            timestamp=timestamp,
            now=clock,
        )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://x.example/hook", "https://x.example/hook"),
        ("https://x.example/hook?x=a%3Ab%2Fc", "https://x.example/hook?x=a:b/c"),
        (
            "https://x.example/h?q=%3F%40%21%24%27%28%29%2A%2C%3B",
            "https://x.example/h?q=?@!$'()*,;",
        ),
        ("https://x.example/h?q=%3a%2f", "https://x.example/h?q=:/"),
        ("https://x.example/a%20b%26c%3Dd%25", "https://x.example/a%20b%26c%3Dd%25"),
        ("https://x.example/%253A", "https://x.example/%253A"),
    ],
)
def test_normalise_uri_decodes_exactly_hubspots_table(raw: str, expected: str) -> None:
    assert normalise_uri(raw) == expected


def test_v3_signature_over_an_encoded_query_matches_the_decoded_uri() -> None:
    encoded = "https://connector.example.com/webhooks/hubspot?source=a%3Ab&x=%2520"
    decoded = "https://connector.example.com/webhooks/hubspot?source=a:b&x=%2520"
    signature = Signature.get_signature(SECRET, "[]", "v3", decoded, "POST", TS)
    verify_v3(
        signature,
        client_secret=SECRET,
        method="POST",
        uri=encoded,
        body=b"[]",
        timestamp=TS,
        now=clock,
    )


@given(st.text(alphabet=st.characters(blacklist_characters="%"), max_size=60))
def test_normalise_uri_leaves_text_without_escapes_alone(text: str) -> None:
    assert normalise_uri(text) == text


@given(st.lists(st.sampled_from(sorted(DECODED_ESCAPES)), max_size=20), st.booleans())
def test_normalise_uri_decodes_every_table_escape_in_any_case(
    escapes: list[str], lower: bool
) -> None:
    raw = "".join(e.lower() if lower else e for e in escapes)
    assert normalise_uri(raw) == "".join(DECODED_ESCAPES[e] for e in escapes)
