"""Shared CLI state: where the config lives, logging flags, and error translation."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from connector.config import Settings, load_settings
from connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    FatalError,
    MappingError,
    OutOfCreditsError,
    RetryableError,
    RowError,
    SourceError,
    format_error,
)
from connector.logs import configure_logging

F = TypeVar("F", bound=Callable[..., Any])
_LEVELS = {-2: "ERROR", -1: "WARNING", 0: "INFO", 1: "DEBUG"}


@dataclass
class CliContext:
    """What every command may need: the settings (loaded once, lazily) and logging flags."""

    config_path: str | None = None
    verbosity: int = 0
    log_json: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """Load and validate the settings, configuring logging from them."""
        if self._settings is None:
            self._settings = load_settings(self.config_path)
            self.setup_logging(self._settings)
        return self._settings

    def setup_logging(self, settings: Settings | None = None) -> None:
        """Configure logging from the flags, falling back to the settings' level and format."""
        base = settings.log_level if settings else "INFO"
        level = _LEVELS[max(-2, min(1, self.verbosity))] if self.verbosity else base
        fmt = "json" if self.log_json else (settings.log_format if settings else "text")
        configure_logging(level, fmt)


class NotFoundError(ConnectorError):
    """Something named on the command line does not exist (a run id, a saved search)."""


class BadInputError(ConnectorError):
    """A file or value given on the command line cannot be used."""


class CheckFailedError(ConnectorError):
    """A check the command ran found a problem (e.g. no live worker)."""


# Most specific first: the label says what kind of failure it is, the message what and why
# (configuration and mapping errors name themselves: "invalid configuration", "invalid mapping").
_LABELS: tuple[tuple[type[ConnectorError], str], ...] = (
    (ConfigError, ""),
    (MappingError, ""),
    (NotFoundError, "not found"),
    (BadInputError, "bad input"),
    (CheckFailedError, "check failed"),
    (AuthError, "authentication failed"),
    (OutOfCreditsError, "out of credits"),
    (FatalError, "stopped"),
    (RetryableError, "temporary failure, try again later"),
    (SourceError, "source unavailable"),
    (RowError, "rejected"),
)


def describe_error(exc: ConnectorError) -> str:
    """``error: <kind>: <message>`` for one failure (config and mapping errors list problems)."""
    for kind, label in _LABELS:
        if isinstance(exc, kind) and label:
            return f"error: {label}: {exc}"
    return format_error(exc)


def handle_errors(func: F) -> F:
    """Turn ``ConnectorError`` into ``error: <kind>: …`` on stderr and a non-zero exit.

    A configuration problem (the settings, their files and directories: what stops a process
    from starting) exits 2; any other failure exits 1. Never a traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConnectorError as exc:
            logging.getLogger("connector.cli").debug("command failed", exc_info=True)
            click.echo(describe_error(exc), err=True)
            raise SystemExit(2 if isinstance(exc, ConfigError) else 1) from exc

    return wrapper  # type: ignore[return-value]


def get_context() -> CliContext:
    """The ``CliContext`` of the running command."""
    ctx = click.get_current_context()
    obj = ctx.find_object(CliContext)
    if obj is None:
        obj = CliContext()
        ctx.obj = obj
    return obj
