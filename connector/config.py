"""One validated, frozen settings object, loaded from a YAML file with ``${VAR}`` interpolation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from connector.errors import ConfigError

DEFAULT_CONFIG_PATH = "connector.yaml"
PLATFORMS = ("instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+(@)")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
Platform = Literal["instagram", "youtube", "tiktok", "twitter", "twitch", "onlyfans"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InfluencersClubSettings(_Section):
    """The influencers.club API account and how hard the connector may use it."""

    api_key: SecretStr | None = None
    base_url: str = "https://api-dashboard.influencers.club"
    requests_per_minute: int = Field(300, ge=1)
    max_concurrency: int = Field(32, ge=1, le=256)
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


class GoogleSettings(_Section):
    """Google service account used by every sheet source."""

    service_account_file: str | None = None
    service_account_json: SecretStr | None = None
    base_url: str | None = None
    reads_per_minute: int = Field(60, ge=1)
    writes_per_minute: int = Field(60, ge=1)
    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 60.0
    max_attempts: int = Field(6, ge=1, le=12)


class HubSpotSettings(_Section):
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
    bootstrap_properties: bool = True
    property_group: str = "influencers_club"
    property_group_label: str = "influencers.club"


class SheetSourceSettings(_Section):
    """One watched worksheet."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    type: Literal["sheets"]
    spreadsheet: str
    worksheet: str = "Sheet1"
    header_row: int = Field(1, ge=1)
    handle_column: str = "Handle"
    platform_column: str | None = None
    platform: Platform | None = None
    status_column: str = "IC Status"
    error_column: str = "IC Error"
    enriched_at_column: str = "IC Enriched At"
    mapping: str = "mappings/sheets_default.yaml"
    poll_interval: Seconds = 60.0
    reconcile_every: Seconds = 300.0
    claim_lease: Seconds = 900.0
    backfill: bool = True
    enabled: bool = True


class HubSpotSourceSettings(_Section):
    """One watched HubSpot contact list."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    type: Literal["hubspot"]
    list: str
    handle_property: str = "instagram_handle"
    platform_property: str | None = None
    platform: Platform | None = None
    status_property: str = "ic_status"
    error_property: str = "ic_error"
    enriched_at_property: str = "ic_enriched_at"
    mapping: str = "mappings/hubspot_contacts.yaml"
    poll_interval: Seconds = 300.0
    claim_lease: Seconds = 900.0
    enabled: bool = True


SourceSettings = Annotated[SheetSourceSettings | HubSpotSourceSettings, Field(discriminator="type")]


class PipelineSettings(_Section):
    """How records are routed, cached and paid for."""

    mode: Literal["full"] = "full"
    batch_threshold: int = Field(50, ge=1)
    batch_poll_seconds: Seconds = Field(45.0, gt=0)
    refresh_after_days: float = Field(30, ge=0)
    not_found_refresh_days: float = Field(7, ge=0)
    reservation_lease: Seconds = 600.0
    outbox_flush_every: Seconds = 15.0
    max_credits_per_run: float | None = Field(None, ge=0)
    approval_over: float | None = Field(None, ge=0)


class ThresholdSettings(_Section):
    """One rung of the low-balance ladder."""

    level: Literal["warn", "critical"]
    below: float = Field(ge=0)


class CreditsSettings(_Section):
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
    min_history: Seconds = 86400.0
    reminder_every: Seconds | None = None
    source_failing_after: Seconds = 3600.0


class SlackChannelSettings(_Section):
    """A Slack incoming webhook."""

    type: Literal["slack"]
    webhook_url: SecretStr
    name: str | None = None


class WebhookChannelSettings(_Section):
    """A generic HTTPS endpoint receiving Standard-Webhooks-signed JSON."""

    type: Literal["webhook"]
    url: str
    secret: SecretStr
    name: str | None = None


ChannelSettings = Annotated[
    SlackChannelSettings | WebhookChannelSettings, Field(discriminator="type")
]


class AlertsSettings(_Section):
    """Where alerts go."""

    channels: list[ChannelSettings] = Field(default_factory=list)
    timeout: Seconds = 10.0
    max_attempts: int = Field(4, ge=1, le=10)


class WebSettings(_Section):
    """The Flask app: auth for the dashboard/API and webhook secrets."""

    auth_token: SecretStr | None = None
    basic_auth_user: str | None = None
    basic_auth_password: SecretStr | None = None
    sheets_nudge_secret: SecretStr | None = None
    max_body_bytes: int = Field(1_000_000, ge=1024)


class MediaSettings(_Section):
    """Where rehosted profile pictures are stored."""

    backend: Literal["local", "hubspot", "none"] = "local"
    directory: str | None = None
    public_base_url: str | None = None
    max_bytes: int = Field(5_000_000, ge=1024)
    timeout: Seconds = 15.0
    hubspot_folder: str = "/influencers-club"
    retention_days: float = Field(30, ge=0)


class DiscoverySearchSettings(_Section):
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


class DiscoverySettings(_Section):
    """Saved searches that keep a destination topped up with new creators."""

    first_page: int = Field(0, ge=0, le=1)
    searches: list[DiscoverySearchSettings] = Field(default_factory=list)


class Settings(_Section):
    """Everything the connector reads from its configuration."""

    data_dir: str = "./data"
    database_url: SecretStr | None = None
    rate_limit_storage: str = "memory://"
    public_base_url: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    influencers_club: InfluencersClubSettings = Field(default_factory=InfluencersClubSettings)
    google: GoogleSettings = Field(default_factory=GoogleSettings)
    hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)
    sources: list[SourceSettings] = Field(default_factory=list)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    credits: CreditsSettings = Field(default_factory=CreditsSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("must be memory:// or a redis:// URL")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or a SQLite file in ``data_dir``."""
        if self.database_url is None or not self.database_url.get_secret_value():
            return f"sqlite:///{Path(self.data_dir).resolve() / 'connector.db'}"
        url = self.database_url.get_secret_value()
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    def get_source(self, name: str) -> SheetSourceSettings | HubSpotSourceSettings:
        """Return the source called ``name`` or raise ``ConfigError`` listing the known ones."""
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError([f"unknown source {name!r} (known: {known})"])

    def masked(self) -> dict[str, Any]:
        """A JSON-ready dict of the settings with every secret shown as ``**********``."""
        return _mask(self.model_dump(mode="python"))


def check_settings(settings: Settings) -> list[str]:
    """Problems that span sections: unique source names, search destinations and filters."""
    problems = []
    names = [s.name for s in settings.sources]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"sources: source name {name!r} is used more than once")
    for index, search in enumerate(settings.discovery.searches):
        if search.destination not in names:
            problems.append(
                f"discovery.searches[{index}].destination: {search.destination!r} is not a "
                f"configured source (known: {', '.join(names) or 'none'})"
            )
    from connector.discovery import check_discovery_settings

    problems.extend(check_discovery_settings(settings))
    if settings.pipeline.batch_poll_seconds < 30 and not _is_loopback(
        settings.influencers_club.base_url
    ):
        problems.append(
            "pipeline.batch_poll_seconds: must be at least 30 against the real API "
            "(shorter intervals are only allowed for the loopback sandbox)"
        )
    return problems


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********" if value.get_secret_value() else ""
    if isinstance(value, str):
        # URLs such as redis://:password@host carry their secret inline.
        return _URL_PASSWORD.sub(r"\1**********\2", value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def interpolate(value: Any, environ: Mapping[str, str], path: str, problems: list[str]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a parsed YAML tree."""
    if isinstance(value, dict):
        return {
            k: interpolate(v, environ, f"{path}.{k}" if path else str(k), problems)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate(v, environ, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(
            f"{path}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}})"
        )
        return ""

    whole = _VAR.fullmatch(value)
    result = _VAR.sub(replace, value)
    if whole and result == "" and whole.group(2) is not None:
        return None
    return result


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map each YAML path (tuple of keys/indexes) to its 1-based line number."""
    index: dict[tuple[Any, ...], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                index[(*path, key_node.value)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key_node.value))
                index[(*path, key_node.value)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic puts the discriminator tag ("sheets") into the location of union members.
    return tuple(p for p in loc if p not in ("sheets", "hubspot", "slack", "webhook"))


def parse_settings(
    data: Mapping[str, Any] | None,
    *,
    environ: Mapping[str, str] | None = None,
    source: str = "<settings>",
    text: str | None = None,
) -> Settings:
    """Validate a parsed YAML mapping into ``Settings``; every problem is reported at once."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(["the top level must be a mapping of settings"], source=source)
    resolved = interpolate(dict(data), environ, "", problems)
    lines = _line_index(text) if text else {}
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = _clean_loc(tuple(error["loc"]))
            line = lines.get(loc) or lines.get(loc[:-1])
            where = f"{source}:{line}: " if line else f"{source}: "
            msg = error["msg"]
            if error["type"] == "extra_forbidden":
                msg = "unknown setting (check the spelling; see connector.example.yaml)"
            problems.append(f"{where}{_format_loc(loc)}: {msg}")
        raise ConfigError(problems, source=source) from exc
    problems.extend(f"{source}: {problem}" for problem in check_settings(settings))
    if problems:
        raise ConfigError(problems, source=source)
    return settings


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings from ``path``, ``$CONNECTOR_CONFIG`` or ``./connector.yaml``."""
    environ = os.environ if environ is None else environ
    chosen = Path(path or environ.get("CONNECTOR_CONFIG") or DEFAULT_CONFIG_PATH)
    try:
        text = chosen.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            [
                f"config file {chosen} not found (copy connector.example.yaml to connector.yaml, "
                "or pass --config PATH / set CONNECTOR_CONFIG)"
            ]
        ) from exc
    except OSError as exc:
        raise ConfigError([f"cannot read config file {chosen}: {exc.strerror}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{chosen}:{mark.line + 1}:{mark.column + 1}" if mark else str(chosen)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from exc
    return parse_settings(data, environ=environ, source=str(chosen), text=text)
