"""All sandboxes together, plus the settings that point the connector at them."""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any

from connector.config import Settings, parse_settings
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.influencers_club import InfluencersClubSandbox
from connector.sandbox.sheets import SheetsSandbox

SHEET_HEADER = ["Handle", "Platform", "Notes"]


class SandboxStack:
    """influencers.club, Sheets/Drive and HubSpot emulators on loopback ports."""

    def __init__(
        self,
        *,
        balance: float = 1000.0,
        ic_config: dict[str, Any] | None = None,
        sheets_per_minute: int = 60,
        hubspot_limit: int = 100,
    ) -> None:
        self.ic = InfluencersClubSandbox(balance=balance, **(ic_config or {}))
        self.sheets = SheetsSandbox(
            reads_per_minute=sheets_per_minute, writes_per_minute=sheets_per_minute
        )
        self.hubspot = HubSpotSandbox(limit=hubspot_limit)
        self._service_account: dict[str, Any] | None = None
        self.contact_ids: dict[str, list[str]] = {}

    def start(self) -> SandboxStack:
        """Start every emulator; if one fails, the ones already started are stopped again."""
        try:
            for server in (self.ic, self.sheets, self.hubspot):
                server.start()
            self._service_account = self.sheets.service_account_info()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every emulator (each one even if another fails to stop)."""
        errors = []
        for server in (self.ic, self.sheets, self.hubspot):
            try:
                server.stop()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> SandboxStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def seed_sheet(
        self,
        rows: list[list[Any]],
        *,
        title: str = "Leads",
        worksheet: str = "Sheet1",
        header: list[str] | None = None,
    ) -> str:
        """Create a shared spreadsheet whose first row is ``header``; returns its key."""
        return self.sheets.create_spreadsheet(title, {worksheet: [header or SHEET_HEADER, *rows]})

    def seed_hubspot_list(
        self,
        handles: list[str],
        *,
        name: str = "Creators to enrich",
        handle_property: str = "instagram_handle",
        platforms: list[str] | None = None,
        platform_property: str | None = None,
        emails: list[str] | None = None,
    ) -> str:
        """Create contacts carrying ``handles`` and a manual list holding them; returns its id.

        ``emails`` gives the contacts' e-mails (default ``creator<i>@example.com``); an empty
        handle makes a contact with only an e-mail.
        """
        if handle_property not in self.hubspot.properties():
            self.hubspot.create_property(handle_property, label="Creator handle")
        if platform_property and platform_property not in self.hubspot.properties():
            self.hubspot.create_property(platform_property, label="Creator platform")
        contacts = []
        for i, handle in enumerate(handles):
            contact = {
                "email": emails[i] if emails else f"creator{i}@example.com",
                "firstname": f"Creator {i}",
                handle_property: handle,
            }
            if platforms and platform_property:
                contact[platform_property] = platforms[i % len(platforms)]
            contacts.append(contact)
        ids = self.hubspot.create_contacts(contacts)
        list_id = self.hubspot.create_list(name, member_ids=ids)
        self.contact_ids[list_id] = ids
        return list_id

    def settings_data(
        self,
        *,
        data_dir: str | Path,
        sources: list[dict[str, Any]] | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """A settings mapping wired to the sandboxes (merge ``overrides`` at the top level)."""
        assert self._service_account is not None, "start the stack first"
        data: dict[str, Any] = {
            "data_dir": str(data_dir),
            "influencers_club": {"api_key": self.ic.api_key, "base_url": self.ic.url},
            "google": {
                "base_url": self.sheets.url,
                "service_account_json": json.dumps(self._service_account),
            },
            "hubspot": {
                "access_token": self.hubspot.access_token,
                "base_url": self.hubspot.url,
                "client_secret": self.hubspot.client_secret,
            },
            "pipeline": {"batch_poll_seconds": 1},
            # The sandbox serves its pictures on loopback, which rehosting refuses by default.
            "media": {"allowed_hosts": ["127.0.0.1"]},
            "sources": sources or [],
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    def build_settings(self, **kwargs: Any) -> Settings:
        """``settings_data`` validated into ``Settings``."""
        return parse_settings(self.settings_data(**kwargs), environ={})
