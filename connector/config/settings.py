"""The root settings model and the checks that span its sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from connector.config.masking import mask_value
from connector.config.search_filters import check_search, check_search_destination
from connector.config.sections import (
    AlertsSettings,
    CreditsSettings,
    DiscoverySettings,
    GoogleSettings,
    HubSpotSettings,
    HubSpotSourceSettings,
    InfluencersClubSettings,
    MediaBackendName,
    MediaSettings,
    PipelineSettings,
    SettingsSection,
    SheetSourceSettings,
    SourceSettings,
    WebSettings,
)
from connector.errors import ConfigError


class Settings(SettingsSection):
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

    @property
    def uses_postgresql(self) -> bool:
        """Whether the state store is PostgreSQL (so web and workers may run on other hosts)."""
        return self.resolved_database_url.startswith("postgresql")

    @property
    def media_backend(self) -> MediaBackendName:
        """``media.backend`` with ``auto`` decided: ``database`` on PostgreSQL, else ``local``."""
        if self.media.backend == "auto":
            return "database" if self.uses_postgresql else "local"
        return self.media.backend

    def get_source(self, name: str) -> SheetSourceSettings | HubSpotSourceSettings:
        """Return the source called ``name`` or raise ``ConfigError`` listing the known ones."""
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError([f"unknown source {name!r} (known: {known})"])

    def masked(self) -> dict[str, Any]:
        """A JSON-ready dict of the settings with every secret shown as ``**********``."""
        return mask_value(self.model_dump(mode="python"))


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
    problems.extend(check_searches(settings))
    for index, source in enumerate(settings.sources):
        if (
            isinstance(source, SheetSourceSettings)
            and source.identify_by != "handle"
            and not source.email_column
        ):
            problems.append(
                f"sources[{index}].identify_by: {source.identify_by} needs the e-mail column: "
                "set email_column (e.g. Email)"
            )
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


def check_searches(settings: Settings) -> list[str]:
    """Every problem with the saved searches' filters, sort and destinations (no network)."""
    problems: list[str] = []
    names = {s.name for s in settings.sources}
    for index, search in enumerate(settings.discovery.searches):
        path = f"discovery.searches[{index}]"
        problems.extend(
            check_search(
                search.platform, search.filters, search.sort_by, search.sort_order, path=path
            )
        )
        if search.destination in names:
            config = settings.get_source(search.destination)
            problems.extend(check_search_destination(config, search.platform, path=path))
    return problems
