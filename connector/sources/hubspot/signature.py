"""Pure HubSpot request-signature checks (v1, v2, v3) with an injected clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable

MAX_AGE_SECONDS = 300.0
MAX_FUTURE_SECONDS = 60.0
# The escapes HubSpot decodes before signing a v3 URI; every other escape stays as sent.
DECODED_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


class InvalidSignatureError(Exception):
    """The request's signature is missing, stale, from the future or does not match."""


def normalise_uri(uri: str) -> str:
    """Decode exactly HubSpot's table of escapes (``%3A`` → ``:`` …), case-insensitively."""
    return _ESCAPE.sub(lambda m: DECODED_ESCAPES.get(m.group(0).upper(), m.group(0)), uri)


def build_v1(client_secret: str, body: bytes) -> str:
    """Hex SHA-256 of ``secret + body`` (legacy Webhooks API signature)."""
    return hashlib.sha256(client_secret.encode("utf-8") + body).hexdigest()


def build_v2(client_secret: str, method: str, uri: str, body: bytes) -> str:
    """Hex SHA-256 of ``secret + method + uri + body`` (workflow actions, CRM cards)."""
    source = client_secret.encode("utf-8") + method.upper().encode() + uri.encode("utf-8") + body
    return hashlib.sha256(source).hexdigest()


def build_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """Base64 HMAC-SHA256 over ``method + normalised uri + body + timestamp``."""
    message = (
        method.upper().encode()
        + normalise_uri(uri).encode("utf-8")
        + body
        + str(timestamp).encode()
    )
    digest = hmac.new(client_secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _compare(expected: str, given: str | None) -> None:
    if not given:
        raise InvalidSignatureError("missing signature")
    if not hmac.compare_digest(expected.encode(), given.strip().encode()):
        raise InvalidSignatureError("signature does not match")


def verify_v1(signature: str | None, *, client_secret: str, body: bytes) -> None:
    """Raise ``InvalidSignatureError`` unless ``signature`` is the v1 hash of ``body``."""
    _compare(build_v1(client_secret, body), (signature or "").lower() or None)


def verify_v2(
    signature: str | None, *, client_secret: str, method: str, uri: str, body: bytes
) -> None:
    """Raise ``InvalidSignatureError`` unless ``signature`` is the v2 hash (URI as sent)."""
    _compare(build_v2(client_secret, method, uri, body), (signature or "").lower() or None)


def verify_v3(
    signature: str | None,
    *,
    client_secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str | None,
    now: Callable[[], float] = time.time,
    max_age: float = MAX_AGE_SECONDS,
    max_future: float = MAX_FUTURE_SECONDS,
) -> None:
    """Raise ``InvalidSignatureError`` unless the v3 signature matches and is fresh.

    ``timestamp`` is HubSpot's ``X-HubSpot-Request-Timestamp`` in epoch milliseconds; requests
    older than ``max_age`` or more than ``max_future`` seconds ahead are rejected before hashing.
    """
    if not timestamp or not timestamp.strip().isdigit():
        raise InvalidSignatureError("missing or malformed X-HubSpot-Request-Timestamp")
    age = now() - int(timestamp) / 1000
    if age > max_age:
        raise InvalidSignatureError(f"request timestamp is {age:.0f}s old (limit {max_age:.0f}s)")
    if -age > max_future:
        raise InvalidSignatureError(f"request timestamp is {-age:.0f}s in the future")
    _compare(build_v3(client_secret, method, uri, body, timestamp.strip()), signature)
