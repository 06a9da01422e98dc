"""Access to the dashboard and JSON API: bearer token, basic auth or a signed session cookie.

The rule: with ``web.auth_token`` or ``web.basic_auth_user`` + ``basic_auth_password``
configured, every dashboard and API request must present them (the dashboard also accepts the
session cookie set by ``/login`` or a one-off ``?token=``). With neither configured, they answer
only requests from this machine that name a loopback host (``hosts.is_loopback_request``);
everything else gets 401 saying how to set ``web.auth_token``. Webhooks never use this: they
verify their own signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from flask import g, request, session

from connector.config import Settings, WebSettings
from connector.web.hosts import is_loopback_request

SET_TOKEN = (
    "set web.auth_token, e.g. CONNECTOR_TOKEN=$(openssl rand -hex 32) (see docs/security.md)"
)
NO_CREDENTIALS = (
    f"no credentials are configured, so only localhost on this machine may use the dashboard "
    f"and API: {SET_TOKEN}"
)
_SESSION_KEY = "auth"
_CSRF_KEY = "csrf"
_FAILED = "connector_credentials_failed"


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return getter() if getter else ""


def _same(given: str, expected: str) -> bool:
    # Hashing first makes the comparison independent of the secret's length as well.
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def get_token(web: WebSettings) -> str:
    """The configured bearer token, or ``""``."""
    return _secret(web.auth_token)


def has_basic_auth(web: WebSettings) -> bool:
    """True when both a basic-auth user and password are configured."""
    return bool(web.basic_auth_user and _secret(web.basic_auth_password))


def is_auth_configured(web: WebSettings) -> bool:
    """True when a token or basic-auth credentials protect the dashboard and API."""
    return bool(get_token(web)) or has_basic_auth(web)


def is_local_access(settings: Settings) -> bool:
    """No credentials are configured and the request is this machine talking to itself."""
    return not is_auth_configured(settings.web) and is_loopback_request()


def build_secret_key(settings: Settings) -> bytes:
    """The session-signing key, derived from the credentials so rotating them logs everyone out."""
    web = settings.web
    material = "\0".join(
        [
            "connector-session-v1",
            get_token(web),
            web.basic_auth_user or "",
            _secret(web.basic_auth_password),
            settings.resolved_database_url,
        ]
    )
    return hashlib.sha256(material.encode()).digest()


def check_token(settings: Settings, given: str) -> bool:
    """True when ``given`` is the configured token (or, with basic auth only, its password)."""
    web = settings.web
    expected = get_token(web) or (_secret(web.basic_auth_password) if has_basic_auth(web) else "")
    return _counted(bool(expected) and _same(given, expected))


def check_headers(settings: Settings) -> bool:
    """True when the ``Authorization`` header carries the token or the basic-auth credentials."""
    header = request.headers.get("Authorization", "").strip()
    return bool(header) and _counted(_check_authorization(settings.web, header))


def _check_authorization(web: WebSettings, header: str) -> bool:
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer" and get_token(web):
        return _same(value, get_token(web))
    if scheme == "basic" and has_basic_auth(web):
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        user_ok = _same(user, web.basic_auth_user or "")
        return _same(password, _secret(web.basic_auth_password)) and user_ok
    return False


def _counted(ok: bool) -> bool:
    if not ok:
        g.setdefault(_FAILED, True)
    return ok


def has_failed_credentials() -> bool:
    """True when this request presented a token or password that was wrong (a guess)."""
    return bool(g.get(_FAILED))


def check_session() -> bool:
    """True when the signed session cookie says this browser logged in."""
    return session.get(_SESSION_KEY) is True


def start_session() -> None:
    """Mark this browser's session as logged in, with a fresh CSRF token."""
    session.clear()
    session[_SESSION_KEY] = True
    session[_CSRF_KEY] = secrets.token_urlsafe(24)
    session.permanent = True


def get_csrf_token() -> str:
    """The per-session CSRF token that dashboard forms carry (created on first use)."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session[_CSRF_KEY] = token
    return token


def check_csrf(given: str | None) -> bool:
    """True when a form's CSRF token matches the session's."""
    expected = session.get(_CSRF_KEY)
    return isinstance(expected, str) and given is not None and _same(given, expected)
