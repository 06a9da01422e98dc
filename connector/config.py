"""One validated, frozen settings object, loaded from a YAML file with ``${VAR}`` interpolation."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator

from connector.config_sections import (
    PLATFORMS,
    AlertsSettings,
    ChannelSettings,
    CreditsSettings,
    DiscoverySearchSettings,
    DiscoverySettings,
    GoogleSettings,
    HubSpotSettings,
    HubSpotSourceSettings,
    InfluencersClubSettings,
    MediaSettings,
    PipelineSettings,
    Platform,
    Seconds,
    SettingsSection,
    SheetSourceSettings,
    SlackChannelSettings,
    SourceSettings,
    ThresholdSettings,
    WebhookChannelSettings,
    WebSettings,
    parse_duration,
)
from connector.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "PLATFORMS",
    "AlertsSettings",
    "ChannelSettings",
    "CreditsSettings",
    "DiscoverySearchSettings",
    "DiscoverySettings",
    "GoogleSettings",
    "HubSpotSettings",
    "HubSpotSourceSettings",
    "InfluencersClubSettings",
    "MediaSettings",
    "PipelineSettings",
    "Platform",
    "Seconds",
    "Settings",
    "SheetSourceSettings",
    "SlackChannelSettings",
    "SourceSettings",
    "ThresholdSettings",
    "WebSettings",
    "WebhookChannelSettings",
    "check_settings",
    "interpolate",
    "load_settings",
    "parse_duration",
    "parse_settings",
]

DEFAULT_CONFIG_PATH = "connector.yaml"

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+(@)")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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
