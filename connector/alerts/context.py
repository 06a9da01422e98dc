"""What the alert rules and credit checks need from the composition root, as a protocol."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from connector.config import Settings
from connector.enrich.client import EnrichmentClient
from connector.store import Store

EventHook = Callable[[str, dict[str, Any]], None]


class AlertServices(Protocol):
    """The settings, store, clock and credits client the alerts read (``services.Services``)."""

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock (UTC)."""

    @property
    def event_hooks(self) -> list[EventHook]:
        """Hooks ``notify`` calls; the alert engine installs itself here."""

    @property
    def settings(self) -> Settings:
        """The frozen settings."""

    @property
    def store(self) -> Store:
        """The state store."""

    @property
    def enrichment(self) -> EnrichmentClient:
        """The influencers.club client (its free credits call)."""
