"""What saved searches need from the composition root, stated as a protocol."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from connector.config import Settings
from connector.enrich.client import EnrichmentClient
from connector.sources.base import Source
from connector.sources.hubspot.client import HubSpotClient
from connector.store import Store


class DiscoveryServices(Protocol):
    """Settings, store, clients and sources a saved search works with (``services.Services``)."""

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock (UTC)."""

    @property
    def settings(self) -> Settings:
        """The frozen settings."""

    @property
    def store(self) -> Store:
        """The state store."""

    @property
    def worker_id(self) -> str:
        """This process's owner id for locks."""

    @property
    def enrichment(self) -> EnrichmentClient:
        """The influencers.club client."""

    @property
    def hubspot(self) -> HubSpotClient:
        """The HubSpot client."""

    def get_source(self, name: str) -> Source:
        """The source called ``name``."""

    def notify(self, kind: str, **data: Any) -> None:
        """Tell the alert rules that something happened."""
