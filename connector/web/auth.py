"""Access to the dashboard and JSON API: bearer token, basic auth or a signed session cookie.

The rule: with ``web.auth_token`` or ``web.basic_auth_user`` + ``basic_auth_password``
configured, every dashboard and API request must present them (the dashboard also accepts the
session cookie set by ``/login`` or a one-off ``?token=``). With neither configured, both are
open only while ``public_base_url`` is unset or a loopback address; otherwise they answer 403.
Webhooks never use this: they verify their own signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
from urllib.parse import urlsplit

from flask import request, session

from connector.config import Settings, WebSettings

log = logging.getLogger(__name__)

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_SESSION_KEY = "auth"
_CSRF_KEY = "csrf"


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


def is_open_access(settings: Settings) -> bool:
    """No credentials configured and the app is not published: everything is open."""
    if is_auth_configured(settings.web):
        return False
    host = urlsplit(settings.public_base_url or "").hostname
    return not settings.public_base_url or host in _LOOPBACK


def log_access_rule(settings: Settings) -> None:
    """Warn at start-up when the dashboard and API are open or disabled."""
    if is_auth_configured(settings.web):
        return
    if is_open_access(settings):
        log.warning(
            "dashboard and API are open without authentication (no web.auth_token or basic "
            "auth, and public_base_url is unset or loopback); do not expose this port"
        )
    else:
        log.warning(
            "dashboard and API are disabled: public_base_url is public but no web.auth_token "
            "or basic auth is configured"
        )


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
    token = get_token(web)
    if token:
        return _same(given, token)
    return has_basic_auth(web) and _same(given, _secret(web.basic_auth_password))


def check_headers(settings: Settings) -> bool:
    """True when the ``Authorization`` header carries the token or the basic-auth credentials."""
    web = settings.web
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
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


def check_same_origin() -> bool:
    """False for a browser request another site triggered (guards cookie and cached basic auth)."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.host
