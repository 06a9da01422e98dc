"""HubSpot client verbs for discovery: find by property, batch create/upsert, add to a list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.config import HubSpotSettings
from connector.errors import SourceError, TransientError
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sources.hubspot.client import HubSpotClient, build_hubspot_client

CREATE = "/crm/v3/objects/contacts/batch/create"


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(limit=1000) as sb:
        sb.create_property("tiktok_handle", label="TikTok Handle")
        yield sb


@pytest.fixture
def client(sandbox: HubSpotSandbox) -> HubSpotClient:
    settings = HubSpotSettings(
        access_token=sandbox.access_token,
        base_url=sandbox.url,
        requests_per_interval=1000,
        max_attempts=3,
    )
    return build_hubspot_client(settings)


def creates(sandbox: HubSpotSandbox) -> int:
    return sum(1 for r in sandbox.requests() if r["path"] == CREATE)


def test_contacts_are_created_in_batches_of_100_with_ids_in_input_order(
    sandbox: HubSpotSandbox, client: HubSpotClient
) -> None:
    inputs = [{"tiktok_handle": f"creator{i}", "firstname": f"C{i}"} for i in range(150)]
    outcome = client.create_contacts(inputs)
    assert creates(sandbox) == 2
    assert sorted(outcome.ids) == list(range(150))
    assert outcome.failed == {}
    assert sandbox.get_contact(outcome.ids[149])["tiktok_handle"] == "creator149"


def test_a_rejected_input_fails_alone_in_a_207(
    sandbox: HubSpotSandbox, client: HubSpotClient
) -> None:
    sandbox.create_contacts([{"email": "taken@example.com"}])
    outcome = client.create_contacts(
        [{"tiktok_handle": "fresh"}, {"email": "taken@example.com", "tiktok_handle": "dup"}]
    )
    assert list(outcome.ids) == [0]
    assert "already exists" in outcome.failed[1]


def test_create_is_not_retried_after_a_server_error_but_is_after_a_429(
    sandbox: HubSpotSandbox, client: HubSpotClient
) -> None:
    sandbox.inject_faults(500, 1, path_prefix=CREATE)
    with pytest.raises(TransientError):
        client.create_contacts([{"tiktok_handle": "once"}])
    assert creates(sandbox) == 1
    sandbox.reset_stats()
    sandbox.inject_faults(429, 1, path_prefix=CREATE)
    outcome = client.create_contacts([{"tiktok_handle": "twice"}])
    assert creates(sandbox) == 2
    assert len(outcome.ids) == 1


def test_upsert_by_email_creates_then_updates(client: HubSpotClient) -> None:
    first = client.upsert_contacts({"a@example.com": {"tiktok_handle": "a1"}}, id_property="email")
    second = client.upsert_contacts(
        {"a@example.com": {"tiktok_handle": "a2"}, "b@example.com": {}}, id_property="email"
    )
    assert second.ids[0] == first.ids[0]
    assert second.ids[1] != first.ids[0]
    found = client.fetch_contacts([first.ids[0]], ["tiktok_handle"]).found
    assert found[first.ids[0]]["tiktok_handle"] == "a2"


def test_contacts_are_found_by_a_property_value_case_insensitively(
    sandbox: HubSpotSandbox, client: HubSpotClient
) -> None:
    ids = sandbox.create_contacts(
        [{"tiktok_handle": f"Handle{i}"} for i in range(230)] + [{"tiktok_handle": "@other"}]
    )
    wanted = [f"handle{i}" for i in range(230)] + ["@OTHER", "nobody"]
    found = client.fetch_contact_ids_by("tiktok_handle", wanted)
    assert len(found) == 231
    assert found["handle0"] == ids[0]
    assert found["@other"] == ids[-1]
    assert "nobody" not in found


def test_contacts_are_added_to_a_manual_list_once(
    sandbox: HubSpotSandbox, client: HubSpotClient
) -> None:
    ids = sandbox.create_contacts([{"tiktok_handle": f"m{i}"} for i in range(3)])
    list_id = sandbox.create_list("Discovered", member_ids=ids[:1])
    assert client.add_to_list(list_id, ids + ids) == 2
    assert sorted(client.iter_memberships(list_id)) == sorted(ids)
    dynamic = sandbox.create_list("Smart", processing_type="DYNAMIC")
    with pytest.raises(SourceError):
        client.add_to_list(dynamic, ids)
