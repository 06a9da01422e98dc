"""Helpers shared by the web app tests: settings, an app client, auth and login."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from connector.config import Settings
from connector.services import Services
from connector.store import Store
from connector.web import create_app

TOKEN = "s3cret-token"


def build_settings(tmp_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "data_dir": str(tmp_path),
        "web": {"auth_token": TOKEN},
        "hubspot": {"client_secret": "hs-secret"},
        "sources": [
            {"name": "leads", "type": "sheets", "spreadsheet": "sheet-key"},
            {"name": "crm", "type": "hubspot", "list": "42"},
            {"name": "old", "type": "sheets", "spreadsheet": "other", "enabled": False},
        ],
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Settings.model_validate(data)


def build_client(store: Store, settings: Settings) -> FlaskClient:
    app = create_app(services=Services(settings=settings, store=store))
    return app.test_client()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: FlaskClient) -> str:
    """Log the browser in and return the page's CSRF token."""
    assert client.get(f"/?token={TOKEN}").status_code == 302
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "the dashboard renders a CSRF token"
    return match.group(1)
