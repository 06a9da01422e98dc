"""Google client plumbing for sheet sources: gspread client, retries, budgets, errors."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import gspread
import requests
from google.auth import exceptions as google_auth_errors
from google.oauth2 import service_account
from limits import storage

from connector.config import GoogleSettings, Settings
from connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    RateLimitedError,
    RetryableError,
    SourceError,
    TransientError,
)
from connector.ratelimit import RateBudget, build_storage
from connector.retry import RetryPolicy, call_with_retries

T = TypeVar("T")

SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive.readonly",
)
GOOGLE_PREFIXES = ("https://sheets.googleapis.com", "https://www.googleapis.com")
DRIVE_FILES_URL = "https://www.googleapis.com/drive/v3/files"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
DRIVE_RATE_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})
MAX_RETRY_AFTER = 120.0
_TAGS = re.compile(r"<[^>]+>")


def build_http_client_class(base_url: str | None) -> type[gspread.HTTPClient]:
    """Return ``HTTPClient``, or a subclass sending Google URLs to ``base_url`` (the sandbox)."""
    if not base_url:
        return gspread.HTTPClient
    target = base_url.rstrip("/")

    class RedirectingHTTPClient(gspread.HTTPClient):
        """Swaps the Google API prefixes for the sandbox URL; touches no globals."""

        def request(self, method: str, endpoint: str, *args: Any, **kwargs: Any) -> Any:
            for prefix in GOOGLE_PREFIXES:
                if endpoint.startswith(prefix):
                    endpoint = target + endpoint[len(prefix) :]
                    break
            return super().request(method, endpoint, *args, **kwargs)

    return RedirectingHTTPClient


def load_service_account_info(settings: GoogleSettings) -> dict[str, Any]:
    """The service-account key (from the JSON setting or the file); ``ConfigError`` says why not."""
    if (
        settings.service_account_json is not None
        and settings.service_account_json.get_secret_value()
    ):
        raw = settings.service_account_json.get_secret_value()
        where = "google.service_account_json"
    elif settings.service_account_file:
        where = f"google.service_account_file ({settings.service_account_file})"
        try:
            with open(settings.service_account_file, encoding="utf-8") as handle:
                raw = handle.read()
        except OSError as exc:
            raise ConfigError([f"{where}: cannot read: {exc.strerror}"]) from exc
    else:
        raise ConfigError(
            ["google: set service_account_file or service_account_json to use sheet sources"]
        )
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError([f"{where}: not valid JSON ({exc.msg})"]) from exc
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigError([f"{where}: not a service-account key (expected type service_account)"])
    return info


def build_gspread_client(settings: GoogleSettings) -> gspread.Client:
    """Build a gspread client for the service account, with timeouts and the sandbox redirect."""
    info = load_service_account_info(settings)
    try:
        credentials = service_account.Credentials.from_service_account_info(
            info, scopes=list(SCOPES)
        )
    except (ValueError, KeyError) as exc:
        raise ConfigError([f"google: unusable service-account key: {exc}"]) from exc
    client = gspread.Client(
        auth=credentials, http_client=build_http_client_class(settings.base_url)
    )
    client.set_timeout((settings.connect_timeout, settings.read_timeout))
    return client


def get_client_email(client: gspread.Client) -> str | None:
    """The service account's email, which users must share their sheets with."""
    auth = getattr(client.http_client, "auth", None)
    return getattr(auth, "service_account_email", None)


def build_sheets_budgets(settings: Settings) -> tuple[RateBudget, RateBudget]:
    """The Sheets read/write budgets of the configured service account, on the shared storage."""
    try:
        account = str(load_service_account_info(settings.google).get("client_email") or "default")
    except ConfigError:
        account = "default"
    return build_google_budgets(
        settings.google, build_storage(settings.rate_limit_storage), account=account
    )


def build_google_budgets(
    settings: GoogleSettings,
    store: storage.Storage,
    *,
    account: str,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[RateBudget, RateBudget]:
    """The Sheets read and write budgets shared by every source of one service account."""
    reads = RateBudget(
        store,
        limit=settings.reads_per_minute,
        per_seconds=60,
        key=f"sheets:read:{account}",
        sleep=sleep,
    )
    writes = RateBudget(
        store,
        limit=settings.writes_per_minute,
        per_seconds=60,
        key=f"sheets:write:{account}",
        sleep=sleep,
    )
    return reads, writes


def build_retry_policy(settings: GoogleSettings) -> RetryPolicy:
    """Google's truncated exponential backoff, ``google.max_attempts`` attempts in all."""
    return RetryPolicy(
        attempts=settings.max_attempts,
        wait_initial=1.0,
        wait_max=32.0,
        max_retry_after=MAX_RETRY_AFTER,
    )


def call_google(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    budget: RateBudget | None = None,
    what: str = "Google API",
    client_email: str | None = None,
    idempotent: bool = True,
) -> T:
    """Run ``fn`` (one Google request) with budget, bounded retries and error translation.

    ``fn`` must build its request body afresh on each call: gspread mutates some bodies.
    Non-idempotent calls (``append``) are retried only when the server cannot have applied them.
    """

    def attempt() -> T:
        if budget is not None:
            budget.acquire()
        try:
            return fn()
        except Exception as exc:
            error = translate_google_error(exc, what=what, client_email=client_email)
            if error is None:
                raise
            raise error from exc

    def check(error: RetryableError) -> bool:
        return idempotent or _not_applied(error.__cause__)

    return call_with_retries(attempt, policy=policy, what=what, should_retry=check)


def _not_applied(exc: BaseException | None) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    response = getattr(exc, "response", None)
    return response is not None and response.status_code == 429


def fetch_drive_version(
    client: gspread.Client, spreadsheet_id: str, *, policy: RetryPolicy | None = None
) -> int:
    """The Drive file ``version`` (bumped by every change), one Drive call without Sheets quota."""

    def get() -> int:
        response = client.http_client.request(
            "get",
            f"{DRIVE_FILES_URL}/{spreadsheet_id}",
            params={"fields": "version,modifiedTime", "supportsAllDrives": True},
        )
        return int(response.json()["version"])

    return call_google(
        get,
        policy=policy or RetryPolicy(attempts=1),
        what=f"Drive file {spreadsheet_id}",
        client_email=get_client_email(client),
    )


def translate_google_error(
    exc: BaseException, *, what: str = "Google API", client_email: str | None = None
) -> ConnectorError | None:
    """Map a gspread/requests/google-auth exception to ``connector.errors`` (None: not ours)."""
    share = _share_hint(client_email)
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, gspread.SpreadsheetNotFound):
        return SourceError(f"spreadsheet {what} not found", hint="check the URL or key")
    if isinstance(exc, gspread.WorksheetNotFound):
        return SourceError(f"worksheet not found in {what}: {exc}")
    if isinstance(exc, gspread.exceptions.APIError):
        return _translate_api_error(exc, what=what, share=share)
    if isinstance(exc, PermissionError):
        return SourceError(f"no access to {what}", hint=share)
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return TransientError(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(exc, google_auth_errors.RefreshError):
        if getattr(exc, "retryable", False):
            return TransientError(f"Google token refresh failed: {exc}")
        return AuthError(
            f"Google rejected the service-account credentials: {exc}",
            hint="check the key is current and the account is not disabled",
        )
    if isinstance(exc, google_auth_errors.TransportError):
        return TransientError(f"Google token endpoint unreachable: {exc}")
    return None


def _share_hint(client_email: str | None) -> str:
    who = client_email or "the service account's client_email"
    return f"share the sheet with {who} as an Editor"


def _translate_api_error(
    exc: gspread.exceptions.APIError, *, what: str, share: str
) -> ConnectorError:
    response = exc.response
    status = response.status_code
    message = _error_message(exc)
    text = f"{what}: HTTP {status}: {message}"
    if status == 429:
        return RateLimitedError(text, retry_after=_retry_after(response))
    if status == 403 and _drive_reason(exc) in DRIVE_RATE_REASONS:
        return RateLimitedError(text, retry_after=_retry_after(response))
    if status in RETRY_STATUSES or status >= 500:
        return TransientError(text, retry_after=_retry_after(response))
    if status == 401:
        return AuthError(text, hint="check the service-account key")
    if status == 403:
        lowered = message.lower()
        if "scope" in lowered:
            return AuthError(text, hint="the client needs the spreadsheets and drive scopes")
        if "has not been used" in lowered or "disabled" in lowered:
            return SourceError(text, hint="enable the Google Sheets and Drive APIs")
        return SourceError(f"no access to {what} (HTTP 403)", hint=share)
    if status == 404:
        return SourceError(f"{what} not found (HTTP 404)", hint=f"check the URL; {share}")
    return SourceError(text)


def _error_message(exc: gspread.exceptions.APIError) -> str:
    error = exc.error if isinstance(exc.error, dict) else {}
    message = str(error.get("message", ""))
    if exc.code == -1 or not message:
        body = " ".join(_TAGS.sub(" ", exc.response.text or "").split())
        return f"non-JSON response: {body[:200]}" if body else "empty response"
    return message[:500]


def _drive_reason(exc: gspread.exceptions.APIError) -> str | None:
    errors = exc.error.get("errors") if isinstance(exc.error, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        reason = errors[0].get("reason")
        return str(reason) if reason else None
    return None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
