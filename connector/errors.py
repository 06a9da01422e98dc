"""The connector's exception tree, named by the reaction each error needs.

::

    ConnectorError
    ├── ConfigError            bad settings: fix the config, nothing runs
    ├── MappingError           bad mapping file: fix the YAML, nothing runs
    ├── FatalError             stop the run and alert
    │   ├── AuthError          an API key/token was rejected
    │   └── OutOfCreditsError  the influencers.club balance cannot pay
    ├── RetryableError         try again later (honour ``retry_after``)
    │   ├── RateLimitedError   429 from a remote API
    │   └── TransientError     5xx, gateway pages, timeouts, connection errors
    ├── RowError               terminal for one record, the others go on
    │   ├── InvalidHandleError      the handle text cannot be a handle
    │   ├── InvalidEmailError       the e-mail is malformed or role-based (never looked up)
    │   ├── ProfileNotFoundError    the API has no such creator (free)
    │   └── RequestRejectedError    the API refused the input (4xx validation)
    └── SourceError            one source is unusable (unshared sheet, deleted list)

Third-party exceptions are translated into these at each boundary with ``raise … from exc``.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class: a message for humans plus an optional hint on how to fix it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(ConnectorError):
    """The settings are invalid; ``problems`` lists every problem found, with its location."""

    def __init__(self, problems: list[str], *, source: str | None = None) -> None:
        where = f" in {source}" if source else ""
        super().__init__(f"invalid configuration{where}:\n  " + "\n  ".join(problems))
        self.problems = problems
        self.source = source


class MappingError(ConnectorError):
    """A mapping file is invalid; ``problems`` lists each as ``file:line:col: path: msg``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid mapping:\n  " + "\n  ".join(problems))
        self.problems = problems


class FatalError(ConnectorError):
    """Stop the current run: retrying cannot help until a human acts."""


class AuthError(FatalError):
    """A remote API rejected the credentials (401/403)."""


class OutOfCreditsError(FatalError):
    """The influencers.club balance cannot pay for the requested work."""


class RetryableError(ConnectorError):
    """A temporary failure; ``retry_after`` is the server's hint in seconds, when it gave one.

    ``status`` is the HTTP status the remote answered with (None: no answer, e.g. a timeout).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after
        self.status = status


class RateLimitedError(RetryableError):
    """The remote API answered 429."""


class TransientError(RetryableError):
    """5xx, an HTML gateway page, a timeout or a dropped connection."""


class RowError(ConnectorError):
    """Terminal for one record; the message is written back as that record's status."""


class InvalidHandleError(RowError):
    """The handle text cannot be a handle on the platform (placeholder, spaces, bad characters)."""


class InvalidEmailError(RowError):
    """The e-mail text is malformed or a role-based address (``info@``, ``sales@`` …)."""


class ProfileNotFoundError(RowError):
    """influencers.club has no creator for this handle (or none with the required email)."""


class RequestRejectedError(RowError):
    """The API refused this input as invalid (400/404/422 that is not a miss)."""


class SourceError(ConnectorError):
    """A sheet or HubSpot list cannot be read or written; retried on the next cycle."""


def format_error(exc: ConnectorError) -> str:
    """``error: …`` as the CLI and the web app's start-up print it (one problem: one line)."""
    if isinstance(exc, ConfigError) and len(exc.problems) == 1:
        return f"error: invalid configuration: {exc.problems[0]}"
    return f"error: {exc}"
