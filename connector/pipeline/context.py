"""What the pipeline needs from the composition root, stated as a protocol it can be typed by."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from connector.alerts.preflight import Hold
from connector.config import Settings
from connector.enrich.client import EnrichmentClient
from connector.mapping import Mapping, TransformContext
from connector.mapping.tiers import TierAdvice
from connector.sources.base import Source
from connector.store import Store
from connector.store.models import WorkItem


class PipelineServices(Protocol):
    """The store, settings, clients and hooks one cycle works with (``services.Services``)."""

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
        """This process's owner id for claims and reservations."""

    @property
    def stopping(self) -> threading.Event:
        """Set once the worker is asked to stop: start nothing new, hand unstarted work back."""

    @property
    def enrichment(self) -> EnrichmentClient:
        """The influencers.club client."""

    def get_source(self, name: str) -> Source:
        """The source called ``name``."""

    def get_mapping(self, source_name: str) -> Mapping:
        """The mapping of a source."""

    def get_mode(self, source_name: str, platform: str) -> str:
        """The enrichment tier of a creator on ``platform`` from this source (``auto`` resolved)."""

    def get_tier_advice(self, source_name: str) -> TierAdvice:
        """What the source's mapping needs from each tier (computed once per mapping)."""

    def notify(self, kind: str, **data: Any) -> None:
        """Tell the alert rules that something happened."""

    def check_spend(
        self, quote: float, *, run_id: str | None, detail: str | None = None
    ) -> Hold | None:
        """Pre-flight: a hold when ``quote`` credits (itemised in ``detail``) may not be spent."""

    def transform_context(self, item: WorkItem) -> TransformContext:
        """Effects a mapping may use while applied to ``item``."""
