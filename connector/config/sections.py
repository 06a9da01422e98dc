"""The settings sections: one validated, frozen pydantic model per part of the config file."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from limits import parse_many
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator

PLATFORMS = ("instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_HOST_NAME = re.compile(r"^\.?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", re.IGNORECASE)


def parse_duration(value: Any) -> Any:
    """Turn ``"15m"``, ``"45s"``, ``"2h"``, ``"7d"`` or a number of seconds into seconds."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"not a duration: {value!r} (use seconds or e.g. 45s, 15m, 2h, 7d)")
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
SignatureVersion = Literal["v1", "v2", "v3"]
Platform = Literal["instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans"]
# full, raw and profile are the API's tiers; auto takes the cheapest whose documented response
# carries every field the source's mapping reads (docs/mappings.md).
Mode = Literal["full", "raw", "profile", "auto"]
IdentifyBy = Literal["handle", "email", "handle_then_email"]


class SettingsSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InfluencersClubSettings(SettingsSection):
    """The influencers.club API account and how hard the connector may use it."""

    api_key: SecretStr | None = None
    base_url: str = "https://api-dashboard.influencers.club"
    requests_per_minute: int = Field(300, ge=1)
    # A ceiling: the calls in flight follow rate * latency (Little's law) up to it.
    max_concurrency: int = Field(256, ge=1, le=1024)
    connect_timeout: Seconds = 10.0
    read_timeout: Seconds = 30.0
    enrich_read_timeout: Seconds = Field(90.0, ge=1)
    batch_upload_timeout: Seconds = 60.0
    batch_results_timeout: Seconds = 120.0
    max_attempts: int = Field(4, ge=1, le=10)
    email_required: Literal["preferred", "must_have"] = "preferred"
    include_audience_data: bool = False
    include_lookalikes: bool = False

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


class GoogleSettings(SettingsSection):
    """Google service account used by every sheet source."""

    service_account_file: str | None = None
    service_account_json: SecretStr | None = None
    base_url: str | None = None
    reads_per_minute: int = Field(60, ge=1)
    writes_per_minute: int = Field(60, ge=1)
    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 60.0
    max_attempts: int = Field(6, ge=1, le=12)


class HubSpotSettings(SettingsSection):
    """HubSpot private-app / service-key token, limits and webhook secrets."""

    access_token: SecretStr | None = None
    base_url: str = "https://api.hubapi.com"
    requests_per_interval: int = Field(100, ge=1)
    interval_seconds: Seconds = 10.0
    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 30.0
    max_attempts: int = Field(5, ge=1, le=10)
    client_secret: SecretStr | None = None
    workflow_secret: SecretStr | None = None
    # v1 and v2 sign no timestamp, so a captured delivery can be replayed: accept them only on
    # the endpoints where the app really signs that way (workflow actions sign v2).
    app_webhook_signatures: list[SignatureVersion] = Field(default=["v3"], min_length=1)
    workflow_webhook_signatures: list[SignatureVersion] = Field(default=["v3", "v2"], min_length=1)
    bootstrap_properties: bool = True
    property_group: str = "influencers_club"
    property_group_label: str = "influencers.club"
    # The portal (hub) id, for links from the dashboard to contact records.
    portal_id: int | None = Field(None, ge=1)
    app_url: str = "https://app.hubspot.com"


class SheetSourceSettings(SettingsSection):
    """One watched worksheet."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    type: Literal["sheets"]
    spreadsheet: str
    worksheet: str = "Sheet1"
    header_row: int = Field(1, ge=1)
    handle_column: str = "Handle"
    platform_column: str | None = None
    platform: Platform | None = None
    email_column: str | None = None
    identify_by: IdentifyBy = "handle"
    mode: Mode | None = None
    status_column: str = "IC Status"
    error_column: str = "IC Error"
    enriched_at_column: str = "IC Enriched At"
    mapping: str = "mappings/sheets_default.yaml"
    poll_interval: Seconds = 60.0
    reconcile_every: Seconds = 300.0
    claim_lease: Seconds = 900.0
    backfill: bool = True
    enabled: bool = True


class HubSpotSourceSettings(SettingsSection):
    """One watched HubSpot contact list."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    type: Literal["hubspot"]
    list: str
    handle_property: str = "instagram_handle"
    platform_property: str | None = None
    platform: Platform | None = None
    email_property: str = "email"
    identify_by: IdentifyBy = "handle"
    mode: Mode | None = None
    status_property: str = "ic_status"
    error_property: str = "ic_error"
    enriched_at_property: str = "ic_enriched_at"
    mapping: str = "mappings/hubspot_contacts.yaml"
    poll_interval: Seconds = 300.0
    claim_lease: Seconds = 900.0
    enabled: bool = True


SourceSettings = Annotated[SheetSourceSettings | HubSpotSourceSettings, Field(discriminator="type")]


class PipelineSettings(SettingsSection):
    """How records are routed, cached and paid for."""

    mode: Mode = "full"
    batch_threshold: int = Field(50, ge=1)
    # The shortest gap between two status polls of one batch (``pipeline.cadence`` plans the
    # rest from the batch's ETA); the API asks for 30 to 60 s, so ``check_settings`` refuses less
    # against anything but a loopback sandbox.
    batch_poll_seconds: Seconds = Field(30.0, gt=0)
    refresh_after_days: float = Field(30, ge=0)
    not_found_refresh_days: float = Field(7, ge=0)
    reservation_lease: Seconds = 600.0
    outbox_flush_every: Seconds = 15.0
    max_credits_per_run: float | None = Field(None, ge=0)
    approval_over: float | None = Field(None, ge=0)


class ThresholdSettings(SettingsSection):
    """One rung of the low-balance ladder."""

    level: Literal["warn", "critical"]
    below: float = Field(ge=0)


class CreditsSettings(SettingsSection):
    """Scheduled balance checks and the rules that raise alerts."""

    check_every: Seconds = 900.0
    low_balance: list[ThresholdSettings] = Field(
        default_factory=lambda: [
            ThresholdSettings(level="warn", below=500),
            ThresholdSettings(level="critical", below=100),
        ]
    )
    hysteresis: float = Field(0.05, ge=0, le=1)
    forecast_days: float | None = Field(7, ge=0)
    # A burn rate from minutes of readings extrapolates noise to a day: an hour at the least.
    min_history: Annotated[Seconds, Field(ge=3600)] = 86400.0
    reminder_every: Seconds | None = None
    source_failing_after: Seconds = 3600.0


class SlackChannelSettings(SettingsSection):
    """A Slack incoming webhook."""

    type: Literal["slack"]
    webhook_url: SecretStr
    name: str | None = None


class WebhookChannelSettings(SettingsSection):
    """A generic HTTPS endpoint receiving Standard-Webhooks-signed JSON."""

    type: Literal["webhook"]
    # Secret: receivers often authenticate by a key in the URL (``?access_key=…``).
    url: SecretStr
    secret: SecretStr
    name: str | None = None


ChannelSettings = Annotated[
    SlackChannelSettings | WebhookChannelSettings, Field(discriminator="type")
]


class AlertsSettings(SettingsSection):
    """Where alerts go."""

    channels: list[ChannelSettings] = Field(default_factory=list)
    timeout: Seconds = 10.0
    max_attempts: int = Field(4, ge=1, le=10)


class WebSettings(SettingsSection):
    """The Flask app: auth for the dashboard/API, allowed hosts and webhook secrets."""

    auth_token: SecretStr | None = None
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    sheets_nudge_secret: SecretStr | None = None
    max_body_bytes: int = Field(1_000_000, ge=1024)
    trusted_hosts: list[str] = Field(default_factory=list)
    trusted_proxies: int = Field(0, ge=0, le=5)
    auth_failure_limit: str = "10 per minute; 100 per hour"

    @field_validator("trusted_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if not _HOST_NAME.fullmatch(host):
                raise ValueError(
                    f"{host!r} is not a host name (write e.g. connector.example.com or "
                    ".example.com for every subdomain, without scheme or port)"
                )
        return [host.lower() for host in value]

    @field_validator("auth_failure_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a rate limit (write e.g. '10 per minute; 100 per hour')"
            ) from exc
        return value


class S3MediaSettings(SettingsSection):
    """An S3-compatible bucket (AWS S3, Cloudflare R2, MinIO…) holding rehosted pictures."""

    bucket: str | None = None
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 30.0
    max_attempts: int = Field(4, ge=1, le=10)


MediaBackendName = Literal["local", "database", "s3", "hubspot", "none"]
# The backends whose pictures the web app serves at /media/ (the URLs are the connector's own).
SERVED_MEDIA_BACKENDS: tuple[MediaBackendName, ...] = ("local", "database", "s3")


class MediaSettings(SettingsSection):
    """Where rehosted profile pictures are stored."""

    # auto: the state database with PostgreSQL (web and worker apart), else the local directory.
    backend: Literal["auto"] | MediaBackendName = "auto"
    directory: str | None = None
    public_base_url: str | None = None
    max_bytes: int = Field(5_000_000, ge=1024)
    timeout: Seconds = 15.0
    hubspot_folder: str = "/influencers-club"
    retention_days: float = Field(30, ge=0)
    # Pictures are only fetched from public addresses; these hosts (by the name in the URL) may
    # resolve to private or loopback ones, e.g. the sandboxes on 127.0.0.1.
    allowed_hosts: list[str] = Field(default_factory=list)
    s3: S3MediaSettings = Field(default_factory=S3MediaSettings)

    @field_validator("allowed_hosts")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [host.strip().lower().strip("[]") for host in value]


class DiscoverySearchSettings(SettingsSection):
    """One saved creator search."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    platform: Platform
    filters: dict[str, Any] = Field(default_factory=dict)
    sort_by: Literal["relevancy", "engagement_rate", "number_of_followers", "growth_rate"] = (
        "relevancy"
    )
    sort_order: Literal["asc", "desc"] = "desc"
    target: int = Field(100, ge=1, le=10_000)
    page_size: int = Field(50, ge=1, le=50)
    every: Seconds | None = None
    destination: str


class DiscoverySettings(SettingsSection):
    """Saved searches that keep a destination topped up with new creators."""

    first_page: int = Field(0, ge=0, le=1)
    searches: list[DiscoverySearchSettings] = Field(default_factory=list)
