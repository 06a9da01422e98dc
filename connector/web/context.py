"""How request handlers reach the ``Services`` the app was built with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from connector.config import HubSpotSourceSettings, SheetSourceSettings
from connector.services import Services

EXTENSION = "connector"


@dataclass(frozen=True)
class SourceInfo:
    """What the webhook blueprints need to know about one configured source."""

    name: str
    kind: str
    settings: SheetSourceSettings | HubSpotSourceSettings


class WebServices:
    """``Services`` plus ``sources`` (name → ``SourceInfo``) for the HubSpot webhook blueprint.

    Attribute access falls through to the wrapped ``Services``, so blueprints may treat this
    object as the services themselves; ``sources`` is built from settings so a webhook never
    constructs API clients.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self.store = services.store
        self.sources = {
            s.name: SourceInfo(s.name, s.type, s) for s in services.settings.sources if s.enabled
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.services, name)


def install_services(app: Flask, services: Services) -> None:
    """Keep ``services`` in ``app.extensions["connector"]``."""
    app.extensions[EXTENSION] = WebServices(services)


def get_services() -> Services:
    """The ``Services`` of the current app."""
    installed = current_app.extensions[EXTENSION]
    return installed.services if isinstance(installed, WebServices) else installed
