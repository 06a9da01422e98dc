"""Sources: where handles come from and where results go back (Google Sheets, HubSpot)."""

from connector.sources.base import (
    PendingRecord,
    RecordUpdate,
    Source,
    Status,
    WriteResult,
)

__all__ = ["PendingRecord", "RecordUpdate", "Source", "Status", "WriteResult"]
