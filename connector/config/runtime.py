"""What valid settings still get wrong at run time: placeholders, missing credentials, bad URLs.

The settings model checks types and ranges when the file loads; these checks find what would
only fail later, in a poll or an alert, and say how to fix each. They read nothing but the
settings (``connector config check`` adds the checks that need mappings and key files).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import SecretStr

from connector.config.masking import mask_url
from connector.config.sections import HubSpotSourceSettings, SheetSourceSettings
from connector.config.settings import Settings

Level = Literal["error", "warning"]

_PLACEHOLDER = re.compile(r"\bYOUR[_-][A-Z0-9_-]+|\byour[_-][a-z0-9_-]+|<[A-Za-z][\w .-]*>|…")
_CHANGE_ME = re.compile(r"(?i)^(change[_-]?me|todo|tbd|xxx+|placeholder)$")
_EXAMPLE_HOSTS = ("example.com", "example.net", "example.org")
_EXAMPLE_TLDS = (".example", ".invalid", ".test")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, where in the settings, what is wrong and how to fix it."""

    level: Level
    path: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        """JSON-ready."""
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.level}: {self.path}: {self.message}\n  fix: {self.fix}"


def error(path: str, message: str, fix: str) -> Finding:
    """A problem that will make something fail."""
    return Finding("error", path, message, fix)


def warning(path: str, message: str, fix: str) -> Finding:
    """A setup that works only under conditions the connector cannot see."""
    return Finding("warning", path, message, fix)


def check_runtime_settings(settings: Settings) -> list[Finding]:
    """Every problem these settings will run into (no network, no files)."""
    return [
        *check_placeholders(settings),
        *check_urls(settings),
        *check_credentials(settings),
        *check_alert_channels(settings),
        *check_media(settings),
        *check_deployment(settings),
    ]


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, bool]]:
    """(path, value, is_secret) for every leaf of the settings."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    elif isinstance(value, SecretStr):
        yield path, value.get_secret_value(), True
    else:
        yield path, value, False


def check_placeholders(settings: Settings) -> list[Finding]:
    """Values still holding an example's placeholder (``YOUR_SHEET_KEY``, ``<app>``, …)."""
    found = []
    for path, value, secret in _walk(settings.model_dump(mode="python"), ""):
        if not isinstance(value, str) or not value:
            continue
        match = _PLACEHOLDER.search(value) or _CHANGE_ME.match(value.strip())
        if match is None:
            continue
        shown = "a placeholder" if secret else f"the placeholder {match.group(0)!r}"
        found.append(
            error(
                path,
                f"still holds {shown} from the example configuration",
                "replace it with your own value (or remove the setting)",
            )
        )
    return found


def _url_problem(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL"
    host = parts.hostname.lower()
    if host in _EXAMPLE_HOSTS or host.endswith(tuple("." + h for h in _EXAMPLE_HOSTS)):
        return f"points at {host}, a reserved example domain"
    if host.endswith(_EXAMPLE_TLDS):
        return f"points at {host}, which can never resolve"
    return None


def _urls(settings: Settings) -> Iterator[tuple[str, str | None, str]]:
    """(path, value, what it is for) for every URL the connector calls or hands out."""
    yield "influencers_club.base_url", settings.influencers_club.base_url, "the API address"
    yield "google.base_url", settings.google.base_url, "the Google API address"
    yield "hubspot.base_url", settings.hubspot.base_url, "the HubSpot API address"
    yield "public_base_url", settings.public_base_url, "the web app's public address"
    yield "media.public_base_url", settings.media.public_base_url, "where pictures are served"
    yield "media.s3.endpoint_url", settings.media.s3.endpoint_url, "the S3 endpoint"


def check_urls(settings: Settings) -> list[Finding]:
    """URLs that are not http(s), or point at example domains."""
    found = []
    for path, url, what in _urls(settings):
        if not url:
            continue
        problem = _url_problem(url)
        if problem:
            found.append(
                error(
                    path,
                    f"{mask_url(url)!r} {problem}",
                    f"set it to {what}, e.g. https://host/…",
                )
            )
    public = settings.public_base_url
    if public and urlsplit(public).scheme == "http" and not _is_loopback(public):
        found.append(
            warning(
                "public_base_url",
                f"{mask_url(public)!r} is plain http: HubSpot sends webhooks only to https, and "
                "browsers send the dashboard's session cookie in the clear",
                "put a TLS reverse proxy in front and use its https:// address",
            )
        )
    return found


def _is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOOPBACK


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value().strip() if value is not None else ""


def check_credentials(settings: Settings) -> list[Finding]:
    """API keys and tokens the configured sources, searches and alerts will need."""
    found = []
    if not _secret(settings.influencers_club.api_key):
        # Without sources or searches nothing is enriched; only balance checks would fail.
        needed = any(s.enabled for s in settings.sources) or bool(settings.discovery.searches)
        found.append(
            (error if needed else warning)(
                "influencers_club.api_key",
                "no influencers.club API key: every enrichment, search and balance check fails",
                "set IC_API_KEY (the key from the influencers.club dashboard)",
            )
        )
    google = settings.google
    has_google = bool(_secret(google.service_account_json) or google.service_account_file)
    hubspot_token = bool(_secret(settings.hubspot.access_token))
    for index, source in enumerate(settings.sources):
        if not source.enabled:
            continue
        path = f"sources[{index}]"
        if isinstance(source, SheetSourceSettings) and not has_google:
            found.append(
                error(
                    path,
                    f"sheet source {source.name!r} needs Google credentials, and none are set",
                    "set google.service_account_file (GOOGLE_SERVICE_ACCOUNT_FILE) or "
                    "google.service_account_json (GOOGLE_SERVICE_ACCOUNT_JSON), and share the "
                    "sheet with the service account's e-mail",
                )
            )
        if isinstance(source, HubSpotSourceSettings) and not hubspot_token:
            found.append(
                error(
                    path,
                    f"HubSpot source {source.name!r} needs hubspot.access_token, which is not set",
                    "set HUBSPOT_ACCESS_TOKEN to a private-app token with the crm.objects.contacts "
                    "and crm.lists scopes",
                )
            )
    return found


def check_alert_channels(settings: Settings) -> list[Finding]:
    """Alert destinations that cannot receive, and webhook secrets receivers cannot verify."""
    found = []
    for index, channel in enumerate(settings.alerts.channels):
        path = f"alerts.channels[{index}]"
        if channel.type == "slack":
            url = _secret(channel.webhook_url)
            problem = "is empty" if not url else _url_problem(url)
            if problem:
                found.append(
                    error(
                        f"{path}.webhook_url",
                        f"the Slack webhook URL {problem}",
                        "set SLACK_WEBHOOK_URL to the incoming-webhook URL from your Slack app "
                        "(https://hooks.slack.com/services/…)",
                    )
                )
            continue
        # The URL is a secret (it may carry an access key): named masked, never whole.
        url = _secret(channel.url)
        problem = "is empty" if not url else _url_problem(url)
        if problem:
            found.append(
                error(
                    f"{path}.url",
                    f"the alert webhook URL {mask_url(url)!r} {problem}",
                    "set it to the https:// endpoint that receives the alerts",
                )
            )
        elif urlsplit(url).scheme == "http" and not _is_loopback(url):
            found.append(
                warning(
                    f"{path}.url",
                    f"the alert webhook URL {mask_url(url)!r} is plain http: alerts travel "
                    "unencrypted",
                    "use the receiver's https:// address",
                )
            )
        secret_problem = check_webhook_secret(_secret(channel.secret))
        if secret_problem:
            found.append(
                error(
                    f"{path}.secret",
                    secret_problem,
                    'generate one with: python -c "import base64, secrets; '
                    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\" "
                    "and give the same secret to the receiver",
                )
            )
    return found


def check_webhook_secret(secret: str) -> str | None:
    """Why ``secret`` is not a Standard Webhooks secret (``whsec_`` + base64), or None."""
    if not secret:
        return "the webhook signing secret is empty"
    if not secret.startswith("whsec_"):
        return "the webhook signing secret is not in whsec_<base64> form"
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return "the part after whsec_ is not valid base64"
    if len(key) < 24:
        return f"the webhook signing secret is only {len(key)} bytes (24 to 64 expected)"
    return None


def check_media(settings: Settings) -> list[Finding]:
    """What the chosen ``media.backend`` needs."""
    media, backend = settings.media, settings.media_backend
    found = []
    if backend == "s3":
        if not media.s3.bucket:
            found.append(
                error(
                    "media.s3.bucket",
                    "media.backend is s3 but no bucket is named",
                    "set media.s3.bucket (and endpoint_url for R2, MinIO and other non-AWS stores)",
                )
            )
        if bool(_secret(media.s3.access_key_id)) != bool(_secret(media.s3.secret_access_key)):
            found.append(
                error(
                    "media.s3",
                    "only one of access_key_id and secret_access_key is set",
                    "set both, or neither to use the AWS_* environment or an instance role",
                )
            )
    if backend == "hubspot" and not _secret(settings.hubspot.access_token):
        found.append(
            error(
                "media.backend",
                "media.backend is hubspot but hubspot.access_token is not set",
                "set HUBSPOT_ACCESS_TOKEN (with the files scope), or choose another backend",
            )
        )
    return found


def check_deployment(settings: Settings) -> list[Finding]:
    """Settings that only work when web and worker share a machine, or with one worker."""
    found = []
    several = settings.uses_postgresql or settings.rate_limit_storage.startswith("redis")
    if settings.media_backend == "local" and several:
        found.append(
            warning(
                "media.backend",
                "local pictures live on the worker's disk, and with PostgreSQL or Redis the web "
                "process usually runs elsewhere (a PaaS, other containers): it would answer 404",
                "use media.backend: database (the default with PostgreSQL) or s3; keep local "
                "only if every web process reads the worker's media.directory (one machine or "
                "a shared volume)",
            )
        )
    if settings.uses_postgresql and settings.rate_limit_storage.startswith("memory://"):
        found.append(
            warning(
                "rate_limit_storage",
                "with PostgreSQL you may run several workers, but memory:// gives each its own "
                "request budget, so together they can exceed the APIs' limits",
                "set rate_limit_storage to a redis:// URL (REDIS_URL) before adding workers",
            )
        )
    return found
