"""A signed HubSpot webhook for a new contact gets it enriched within one worker cycle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.pipeline.cycle import run_cycle
from connector.sandbox.server import LoopbackServer
from connector.sandbox.stack import SandboxStack
from connector.services import Services, build_services
from connector.web import create_app


@pytest.fixture
def stack() -> Iterator[SandboxStack]:
    with SandboxStack(ic_config={"not_found_rate": 0.0}) as running:
        yield running


def test_signed_webhook_leads_to_the_contact_being_written_in_one_cycle(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(["found_first"])
    server = LoopbackServer(None)
    settings = stack.build_settings(
        data_dir=tmp_path,
        sources=[{"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"}],
        media={"backend": "none"},
    )
    services: Services = build_services(settings)
    server.app = create_app(settings, services)
    with server:
        run_cycle(services, "crm")
        (contact_id,) = stack.hubspot.create_contacts(
            [{"email": "new@example.com", "instagram_handle": "@found_newcomer"}]
        )
        stack.hubspot.add_members(list_id, [contact_id])
        events = stack.hubspot.build_contact_events([contact_id], "contact.creation")
        statuses = stack.hubspot.fire_webhook(f"{server.url}/webhooks/hubspot", events)
        assert statuses == [200]
        assert services.store.take_poll_requests() == {"crm"}
        report = run_cycle(services, "crm")
    services.close()
    assert report.enriched == 1
    contact = stack.hubspot.get_contact(contact_id)
    assert contact["ic_status"] == "enriched"
    assert contact["ic_followers"]


def test_a_tampered_webhook_is_refused_and_enqueues_nothing(
    stack: SandboxStack, tmp_path: Path
) -> None:
    list_id = stack.seed_hubspot_list(["found_first"])
    settings = stack.build_settings(
        data_dir=tmp_path,
        sources=[{"name": "crm", "type": "hubspot", "list": list_id, "platform": "instagram"}],
        media={"backend": "none"},
        hubspot={"client_secret": "not-the-app-secret"},
    )
    services = build_services(settings)
    with LoopbackServer(create_app(settings, services)) as server:
        events = stack.hubspot.build_contact_events(["1"], "contact.creation")
        assert stack.hubspot.fire_webhook(f"{server.url}/webhooks/hubspot", events) == [401]
        assert services.store.take_poll_requests() == set()
    services.close()
