"""The composition root: builds the store, clients, sources, mappings and alerts from settings."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gspread

from connector.alerts.context import EventHook
from connector.alerts.engine import install_alerts
from connector.alerts.preflight import Hold, check_spend
from connector.config import HubSpotSourceSettings, Settings, SheetSourceSettings
from connector.enrich.client import EnrichmentClient, build_enrichment_client
from connector.errors import ConfigError
from connector.mapping import Mapping, TransformContext, load_mapping
from connector.mapping.tiers import TierAdvice, analyse_tiers
from connector.media.store import MediaStore, build_media_store, get_media_url_prefix
from connector.ratelimit import RateBudget, build_storage
from connector.sources.base import Source
from connector.sources.hubspot.client import HubSpotClient, build_hubspot_client
from connector.sources.hubspot.source import HubSpotSource
from connector.sources.sheets.google import (
    build_gspread_client,
    build_retry_policy,
    build_sheets_budgets,
)
from connector.sources.sheets.source import SheetsSource
from connector.store import Store
from connector.store.models import WorkItem

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def build_worker_id() -> str:
    """A process-unique id used as the owner of reservations and claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Services:
    """Everything a worker, a CLI command or the web app needs, built once from settings."""

    settings: Settings
    store: Store
    clock: Callable[[], datetime] = utc_now
    worker_id: str = field(default_factory=build_worker_id)
    event_hooks: list[EventHook] = field(default_factory=list)
    # Set when the worker was asked to stop: no new paid call starts, unstarted work is handed
    # back for another worker, and the running step ends early.
    stopping: threading.Event = field(default_factory=threading.Event)
    _enrichment: EnrichmentClient | None = None
    _sources: dict[str, Source] = field(default_factory=dict)
    _mappings: dict[str, Mapping] = field(default_factory=dict)
    _tiers: dict[str, TierAdvice] = field(default_factory=dict)
    _google: gspread.Client | None = None
    _google_budgets: tuple[RateBudget, RateBudget] | None = None
    _hubspot: HubSpotClient | None = None
    _media: MediaStore | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def enrichment(self) -> EnrichmentClient:
        """The influencers.club client (built on first use)."""
        with self._lock:
            if self._enrichment is None:
                self._enrichment = build_enrichment_client(self.settings)
            return self._enrichment

    @property
    def source_names(self) -> list[str]:
        """Names of the enabled sources, in configuration order."""
        return [s.name for s in self.settings.sources if s.enabled]

    def get_mapping(self, source_name: str) -> Mapping:
        """The loaded mapping of a source (validated once)."""
        with self._lock:
            if source_name not in self._mappings:
                config = self.settings.get_source(source_name)
                mapping = load_mapping(resolve_mapping_path(config.mapping))
                for warning in mapping.warnings:
                    log.warning(
                        "mapping key unknown", extra={"source": source_name, "problem": warning}
                    )
                self._mappings[source_name] = mapping
            return self._mappings[source_name]

    def get_tier_advice(self, source_name: str) -> TierAdvice:
        """The tier advice of a source's mapping, computed once per loaded mapping."""
        mapping = self.get_mapping(source_name)
        with self._lock:
            if source_name not in self._tiers:
                self._tiers[source_name] = analyse_tiers(mapping)
            return self._tiers[source_name]

    def get_mode(self, source_name: str, platform: str) -> str:
        """The tier a creator on ``platform`` is enriched in for this source.

        The source's ``mode`` (default ``pipeline.mode``); ``auto`` takes the cheapest tier
        whose documented response carries every field the mapping reads on that platform.
        """
        mode = self.settings.get_source(source_name).mode or self.settings.pipeline.mode
        if mode == "auto":
            return self.get_tier_advice(source_name).get_tier(platform)
        return mode

    def get_source(self, name: str) -> Source:
        """The source object called ``name`` (built on first use)."""
        with self._lock:
            if name not in self._sources:
                config = self.settings.get_source(name)
                if isinstance(config, SheetSourceSettings):
                    self._sources[name] = self._build_sheet_source(config)
                elif isinstance(config, HubSpotSourceSettings):
                    self._sources[name] = self._build_hubspot_source(config)
                else:  # pragma: no cover - the settings model admits only the two types
                    raise ConfigError([f"source {name!r}: unsupported type"])
            return self._sources[name]

    def _build_sheet_source(self, config: SheetSourceSettings) -> Source:
        if self._google is None or self._google_budgets is None:
            self._google = build_gspread_client(self.settings.google)
            self._google_budgets = build_sheets_budgets(self.settings)
        reads, writes = self._google_budgets
        return SheetsSource(
            config,
            client=self._google,
            mapping=self.get_mapping(config.name),
            reads=reads,
            writes=writes,
            clock=self.clock,
            worker_id=self.worker_id,
            retry=build_retry_policy(self.settings.google),
            media_url_prefix=get_media_url_prefix(self.settings),
        )

    def _build_hubspot_source(self, config: HubSpotSourceSettings) -> Source:
        return HubSpotSource(
            config,
            client=self.hubspot,
            mapping=self.get_mapping(config.name),
            store=self.store,
            hubspot=self.settings.hubspot,
            claim_lease=config.claim_lease,
        )

    @property
    def hubspot(self) -> HubSpotClient:
        """The HubSpot client (built on first use)."""
        with self._lock:
            if self._hubspot is None:
                self._hubspot = build_hubspot_client(
                    self.settings.hubspot, storage_uri=self.settings.rate_limit_storage
                )
            return self._hubspot

    def build_budget(self, *, limit: int, per_seconds: float, key: str) -> RateBudget:
        """A request budget on the configured storage (memory or Redis)."""
        return RateBudget(
            build_storage(self.settings.rate_limit_storage),
            limit=limit,
            per_seconds=per_seconds,
            key=key,
        )

    def check_spend(
        self, quote: float, *, run_id: str | None, detail: str | None = None
    ) -> Hold | None:
        """Pre-flight: hold work the balance, the cap or the approval threshold does not allow."""
        return check_spend(self, quote, run_id=run_id, detail=detail)

    def notify(self, kind: str, **data: Any) -> None:
        """Tell the alert rules (and the log) that something happened."""
        log.info(
            "event",
            extra={
                "kind": kind,
                **{k: v for k, v in data.items() if isinstance(v, str | int | float)},
            },
        )
        for hook in self.event_hooks:
            try:
                hook(kind, data)
            except Exception:
                log.exception("event hook failed", extra={"kind": kind})

    def transform_context(self, item: WorkItem) -> TransformContext:
        """Effects a mapping may use while applied to one record (image rehosting)."""
        media = self.media
        if media is None:
            return TransformContext()
        return TransformContext(
            rehost=lambda url: media.rehost(url, source=item.source, identity=item.identity)
        )

    @property
    def media(self) -> MediaStore | None:
        """The media store for rehosted pictures, or None when disabled."""
        if self.settings.media_backend == "none":
            return None
        with self._lock:
            if self._media is None:
                self._media = build_media_store(
                    self.settings, self.store, files=lambda: self.hubspot.files
                )
            return self._media

    def close(self) -> None:
        """Release clients and the database."""
        if self._enrichment is not None:
            self._enrichment.close()
        if self._media is not None:
            self._media.close()
        self.store.close()


def resolve_mapping_path(path: str) -> Path:
    """A source's ``mapping`` path: as written, else the copy shipped with the connector."""
    candidate = Path(path)
    if candidate.is_absolute() or candidate.exists():
        return candidate
    bundled = Path(__file__).resolve().parent.parent / path
    return bundled if bundled.exists() else candidate


def build_services(
    settings: Settings,
    *,
    clock: Callable[[], datetime] | None = None,
    worker_id: str | None = None,
) -> Services:
    """Open the store (migrating it) and assemble the services; clients are built lazily."""
    try:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            [
                f"data_dir: cannot create {settings.data_dir} ({exc.strerror or exc}): "
                "point data_dir at a writable directory"
            ]
        ) from exc
    clock = clock or utc_now
    store = Store.from_settings(settings, clock=clock)
    services = Services(
        settings=settings, store=store, clock=clock, worker_id=worker_id or build_worker_id()
    )
    install_alerts(services)
    return services
