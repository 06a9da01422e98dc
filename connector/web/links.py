"""Links from the dashboard to a record where it lives: the sheet row, the HubSpot contact."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from connector.config import HubSpotSourceSettings, Settings, SheetSourceSettings
from connector.errors import ConfigError

_CELL = re.compile(r"!([A-Z]{1,3})([0-9]+)$")
_CONTACT = re.compile(r"^contact ([0-9]+)$")
_GID = re.compile(r"[#?&]gid=([0-9]+)")
_KEY = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
SHEETS_URL = "https://docs.google.com/spreadsheets/d/"
NO_GID = (
    "links open the spreadsheet; paste the worksheet's URL (with #gid=) as the source's "
    "spreadsheet to link each row"
)
NO_PORTAL = "set hubspot.portal_id to link contacts to HubSpot"


@dataclass(frozen=True)
class RecordLink:
    """Where a record can be opened (``url`` None when it cannot be built) and why not."""

    url: str | None
    note: str = ""


def get_row_number(location: str) -> int | None:
    """The sheet row of a location such as ``Sheet1!A7``."""
    match = _CELL.search(location)
    return int(match.group(2)) if match else None


def get_contact_id(location: str) -> str | None:
    """The HubSpot contact id of a location such as ``contact 1234``."""
    match = _CONTACT.match(location.strip())
    return match.group(1) if match else None


def build_record_link(settings: Settings, source: str, location: str) -> RecordLink:
    """The URL of the record at ``location`` in ``source``, built from the settings."""
    try:
        config = settings.get_source(source)
    except ConfigError:
        return RecordLink(None, f"source {source!r} is no longer configured")
    if isinstance(config, SheetSourceSettings):
        return _sheet_link(config, location)
    if isinstance(config, HubSpotSourceSettings):
        contact = get_contact_id(location)
        if contact is None:
            return RecordLink(None)
        portal = settings.hubspot.portal_id
        if portal is None:
            return RecordLink(None, NO_PORTAL)
        base = settings.hubspot.app_url.rstrip("/")
        return RecordLink(f"{base}/contacts/{portal}/record/0-1/{contact}")
    return RecordLink(None)


def _sheet_link(config: SheetSourceSettings, location: str) -> RecordLink:
    text = config.spreadsheet.strip()
    match = _KEY.search(text)
    key = match.group(1) if match else text
    if not key or "/" in key:
        return RecordLink(None)
    base = f"{SHEETS_URL}{quote(key)}/edit"
    cell = _CELL.search(location)
    gid = _GID.search(text)
    if gid is None or cell is None:
        return RecordLink(base, NO_GID if cell is not None else "")
    return RecordLink(f"{base}#gid={gid.group(1)}&range={cell.group(1)}{cell.group(2)}")
