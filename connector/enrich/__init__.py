"""The influencers.club enrichment client, its error classification and concurrent enrichment."""

from connector.enrich.classify import classify_response, translate_transport_error
from connector.enrich.client import EnrichmentClient, build_enrichment_client, build_rate_budget
from connector.enrich.concurrent import enrich_many
from connector.enrich.models import (
    BatchInfo,
    BatchRow,
    BatchStatus,
    CallCancelledError,
    CreditBalance,
    DiscoveryPage,
    EnrichResult,
)

__all__ = [
    "BatchInfo",
    "BatchRow",
    "BatchStatus",
    "CallCancelledError",
    "CreditBalance",
    "DiscoveryPage",
    "EnrichResult",
    "EnrichmentClient",
    "build_enrichment_client",
    "build_rate_budget",
    "classify_response",
    "enrich_many",
    "translate_transport_error",
]
