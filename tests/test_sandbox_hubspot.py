"""The HubSpot sandbox's lists, contacts and properties routes, driven by hubspot-api-client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
)
from hubspot.crm.lists import ApiException as ListsApiException
from hubspot.crm.lists import ListCreateRequest, ListSearchRequest
from hubspot.crm.lists.exceptions import NotFoundException as ListNotFound
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate

from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.hubspot_common import NOT_FOUND_MESSAGE

TIMEOUT = (2, 5)


@pytest.fixture(scope="module")
def running() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(limit=10_000) as started:
        yield started


@pytest.fixture
def sandbox(running: HubSpotSandbox) -> HubSpotSandbox:
    running.reset()
    running.create_property("instagram_handle", label="Instagram handle")
    running.create_property(
        "enrich_status",
        type="enumeration",
        field_type="select",
        group="social_enrichment",
        options=[{"label": "Pending", "value": "pending"}, {"label": "Done", "value": "done"}],
    )
    running.create_property("enriched_on", type="date", field_type="date")
    running.create_property("follower_count", type="number", field_type="number")
    running.create_property("verified", type="bool", field_type="booleancheckbox")
    return running


@pytest.fixture
def client(sandbox: HubSpotSandbox) -> HubSpot:
    return HubSpot(access_token=sandbox.access_token, host=sandbox.url, base_url=sandbox.url)


def _seed(sandbox: HubSpotSandbox, count: int) -> list[str]:
    return sandbox.create_contacts(
        [{"email": f"c{i}@example.com", "instagram_handle": f"@h{i}"} for i in range(count)]
    )


def test_lists_are_found_by_id_and_by_case_insensitive_name(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    list_id = sandbox.create_list("Creators Q3", member_ids=_seed(sandbox, 3))
    api = client.crm.lists.lists_api

    by_id = api.get_by_id(list_id, _request_timeout=TIMEOUT).list
    by_name = api.get_by_name("creators q3", "0-1", _request_timeout=TIMEOUT).list

    assert by_id.list_id == by_name.list_id == list_id
    assert (by_id.object_type_id, by_id.processing_type) == ("0-1", "MANUAL")
    assert (by_id.processing_status, by_id.size) == ("COMPLETE", 3)
    assert by_id.created_at.tzinfo is not None


def test_several_lists_by_repeated_list_ids(sandbox: HubSpotSandbox, client: HubSpot) -> None:
    first, second = sandbox.create_list("One"), sandbox.create_list("Two")

    found = client.crm.lists.lists_api.get_all(
        list_ids=[first, second, "999"], include_filters=True, _request_timeout=TIMEOUT
    )

    assert [item.name for item in found.lists] == ["One", "Two"]
    assert (
        sandbox.requests()[-1]["query"]
        == f"listIds={first}&listIds={second}&listIds=999&includeFilters=True"
    )


def test_unknown_or_deleted_list_is_404_object_not_found(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    list_id = sandbox.create_list("Gone")
    sandbox.delete_list(list_id)

    with pytest.raises(ListNotFound) as caught:
        client.crm.lists.lists_api.get_by_id(list_id, _request_timeout=TIMEOUT)

    assert json.loads(caught.value.body)["category"] == "OBJECT_NOT_FOUND"
    assert "correlationId" in json.loads(caught.value.body)


def test_memberships_page_ascending_with_opaque_after_tokens(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    ids = _seed(sandbox, 600)
    list_id = sandbox.create_list("Big", member_ids=reversed(ids))
    api = client.crm.lists.memberships_api

    seen: list[str] = []
    tokens: list[str] = []
    after = None
    while True:
        page = api.get_page(list_id, after=after, limit=250, _request_timeout=TIMEOUT)
        assert page.total == 600
        seen += [r.record_id for r in page.results]
        if page.paging is None or page.paging.next is None:
            break
        after = page.paging.next.after
        tokens.append(after)

    assert seen == ids
    assert len(tokens) == 2
    assert not any(token in ids for token in tokens)


def test_memberships_before_pages_backwards_and_limit_above_250_is_400(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    ids = _seed(sandbox, 5)
    list_id = sandbox.create_list("Small", member_ids=ids)
    api = client.crm.lists.memberships_api
    last = api.get_page(list_id, limit=4, _request_timeout=TIMEOUT)

    tail = api.get_page(list_id, after=last.paging.next.after, _request_timeout=TIMEOUT)
    back = api.get_page(list_id, before=tail.paging.prev.before, limit=2, _request_timeout=TIMEOUT)

    assert [r.record_id for r in tail.results] == ids[4:]
    assert [r.record_id for r in back.results] == [ids[3], ids[2]]
    with pytest.raises(ListsApiException) as caught:
        api.get_page(list_id, limit=251, _request_timeout=TIMEOUT)
    assert caught.value.status == 400


def test_join_order_memberships_follow_the_time_records_joined(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    ids = _seed(sandbox, 4)
    list_id = sandbox.create_list("Joined")
    for record_id in (ids[2], ids[0], ids[3], ids[1]):
        sandbox.add_members(list_id, [record_id])
        time.sleep(0.002)
    api = client.crm.lists.memberships_api

    first = api.get_page_ordered_by_added_to_list_date(list_id, limit=3, _request_timeout=TIMEOUT)
    rest = api.get_page_ordered_by_added_to_list_date(
        list_id, after=first.paging.next.after, _request_timeout=TIMEOUT
    )

    order = [r.record_id for r in first.results + rest.results]
    assert order == [ids[2], ids[0], ids[3], ids[1]]


def test_membership_add_reports_records_ids_added_and_refuses_dynamic_lists(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    ids = _seed(sandbox, 3)
    manual = sandbox.create_list("Manual", member_ids=ids[:1])
    dynamic = sandbox.create_list("Dynamic", processing_type="DYNAMIC")
    api = client.crm.lists.memberships_api

    added = api.add(manual, [ids[0], ids[1], "424242"], _request_timeout=TIMEOUT)

    assert added.records_ids_added == [ids[1]]
    assert added.record_ids_missing == ["424242"]
    with pytest.raises(ListsApiException) as caught:
        api.add(dynamic, [ids[2]], _request_timeout=TIMEOUT)
    assert caught.value.status == 400


def test_lists_create_with_trailing_slash_and_search(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    api = client.crm.lists.lists_api
    request = ListCreateRequest(name="Seeded", object_type_id="0-1", processing_type="MANUAL")

    created = api.create(request, _request_timeout=TIMEOUT)
    found = api.do_search(ListSearchRequest(query="seed"), _request_timeout=TIMEOUT)

    assert created is not None and created.list.name == "Seeded"
    assert [item.list_id for item in found.lists] == [created.list.list_id]
    assert found.lists[0].additional_properties["hs_list_size"] == "0"
    assert sandbox.requests()[0]["path"] == "/crm/v3/lists/"


def test_batch_read_returns_strings_and_the_always_added_properties(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    ids = _seed(sandbox, 2)
    sandbox.set_property(ids[0], "follower_count", "1200")
    body = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids], properties=["instagram_handle", "follower_count", "nope"]
    )

    response = client.crm.contacts.batch_api.read(body, archived=False, _request_timeout=TIMEOUT)

    assert type(response).__name__ == "BatchResponseSimplePublicObject"
    first = response.results[0].properties
    assert set(first) == {
        "instagram_handle",
        "follower_count",
        "hs_object_id",
        "createdate",
        "lastmodifieddate",
    }
    assert first["follower_count"] == "1200" and first["hs_object_id"] == ids[0]
    assert response.results[1].properties["follower_count"] is None


def test_batch_read_reports_missing_merged_and_archived_ids_as_207(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    ids = _seed(sandbox, 4)
    sandbox.delete_contact(ids[1])
    sandbox.merge_contacts(ids[2], ids[3])
    body = BatchReadInputSimplePublicObjectId(inputs=[{"id": i} for i in [*ids, "999"]])

    live = client.crm.contacts.batch_api.read(body, archived=False, _request_timeout=TIMEOUT)
    archived = client.crm.contacts.batch_api.read(body, archived=True, _request_timeout=TIMEOUT)

    assert [r.id for r in live.results] == [ids[0], ids[2]]
    assert live.num_errors == 1
    error = live.errors[0]
    assert (error.category, error.message) == ("OBJECT_NOT_FOUND", NOT_FOUND_MESSAGE)
    assert error.context == {"ids": [ids[1], ids[3], "999"]}
    assert [r.id for r in archived.results] == [ids[1]]
    assert archived.results[0].archived is True


def test_batches_over_100_inputs_are_rejected(sandbox: HubSpotSandbox, client: HubSpot) -> None:
    body = BatchReadInputSimplePublicObjectId(inputs=[{"id": str(i)} for i in range(101)])

    with pytest.raises(ContactsApiException) as caught:
        client.crm.contacts.batch_api.read(body, _request_timeout=TIMEOUT)

    assert caught.value.status == 400


def test_batch_update_writes_values_clears_with_empty_string_and_bumps_modified_date(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    (contact_id,) = _seed(sandbox, 1)
    before = sandbox.get_contact(contact_id)["lastmodifieddate"]
    time.sleep(0.002)
    inputs = [
        {
            "id": contact_id,
            "objectWriteTraceId": contact_id,
            "properties": {
                "enrich_status": "done",
                "enriched_on": "2026-11-25",
                "follower_count": "12.5",
                "verified": "true",
                "instagram_handle": "",
            },
        }
    ]

    response = client.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(inputs=inputs), _request_timeout=TIMEOUT
    )

    assert type(response).__name__ == "BatchResponseSimplePublicObject"
    stored = sandbox.get_contact(contact_id)
    assert stored["enrich_status"] == "done" and stored["instagram_handle"] is None
    assert str(stored["lastmodifieddate"]) > str(before)
    assert response.results[0].object_write_trace_id == contact_id


def test_batch_update_of_unknown_or_merged_ids_is_207_echoing_the_trace_id(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    ids = _seed(sandbox, 2)
    sandbox.merge_contacts(ids[0], ids[1])
    inputs = [
        {"id": i, "objectWriteTraceId": f"trace-{i}", "properties": {"enrich_status": "done"}}
        for i in [ids[0], ids[1], "777"]
    ]

    response = client.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(inputs=inputs), _request_timeout=TIMEOUT
    )

    assert [r.id for r in response.results] == [ids[0]]
    assert response.num_errors == 2
    assert [e.context for e in response.errors] == [
        {"ids": [ids[1]], "objectWriteTraceId": [f"trace-{ids[1]}"]},
        {"ids": ["777"], "objectWriteTraceId": ["trace-777"]},
    ]


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("missing_prop", "x", "PROPERTY_DOESNT_EXIST"),
        ("enrich_status", "Done", "INVALID_OPTION"),
        ("enriched_on", "1764072000123", "INVALID_DATE"),
        ("follower_count", "lots", "INVALID_DECIMAL"),
        ("verified", "yes", "INVALID_BOOLEAN"),
        ("email", "not-an-email", "INVALID_EMAIL"),
        ("hs_object_id", "5", "READ_ONLY_VALUE"),
    ],
)
def test_batch_update_with_an_invalid_value_is_a_400_with_embedded_json(
    sandbox: HubSpotSandbox, client: HubSpot, name: str, value: str, code: str
) -> None:
    (contact_id,) = _seed(sandbox, 1)
    inputs = [{"id": contact_id, "properties": {name: value}}]

    with pytest.raises(ContactsApiException) as caught:
        client.crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(inputs=inputs), _request_timeout=TIMEOUT
        )

    body = json.loads(caught.value.body)
    assert (caught.value.status, body["category"]) == (400, "VALIDATION_ERROR")
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    (problem,) = json.loads(body["message"][len(prefix) :])
    assert (problem["isValid"], problem["error"], problem["name"]) == (False, code, name)
    assert sandbox.get_contact(contact_id).get(name) != value


def test_midnight_epoch_millis_are_valid_dates(sandbox: HubSpotSandbox, client: HubSpot) -> None:
    (contact_id,) = _seed(sandbox, 1)
    inputs = [{"id": contact_id, "properties": {"enriched_on": "1764028800000"}}]

    client.crm.contacts.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(inputs=inputs), _request_timeout=TIMEOUT
    )

    assert sandbox.get_contact(contact_id)["enriched_on"] == "1764028800000"


def test_batch_create_is_201_and_upsert_reports_new_records(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    api = client.crm.contacts.batch_api
    created = api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[{"properties": {"email": "a@example.com", "instagram_handle": "a"}}]
        ),
        _request_timeout=TIMEOUT,
    )
    upserted = api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {"idProperty": "email", "id": "a@example.com", "properties": {"firstname": "A"}},
                {"idProperty": "email", "id": "b@example.com", "properties": {"firstname": "B"}},
            ]
        ),
        _request_timeout=TIMEOUT,
    )

    assert created is not None and created.results[0].properties["email"] == "a@example.com"
    assert [(r.new, r.properties["firstname"]) for r in upserted.results] == [
        (False, "A"),
        (True, "B"),
    ]
    assert sandbox.get_contact(upserted.results[1].id)["email"] == "b@example.com"


def test_contacts_page_and_search(sandbox: HubSpotSandbox, client: HubSpot) -> None:
    ids = _seed(sandbox, 5)
    sandbox.set_property(ids[3], "enrich_status", "done")

    page = client.crm.contacts.basic_api.get_page(
        limit=3, properties=["email"], _request_timeout=TIMEOUT
    )
    found = client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "enrich_status", "operator": "NOT_HAS_PROPERTY"}]}
            ],
            sorts=[{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
            limit=2,
        ),
        _request_timeout=TIMEOUT,
    )

    assert [r.id for r in page.results] == ids[:3] and page.paging.next.after == ids[3]
    assert found.total == 4 and [r.id for r in found.results] == [ids[4], ids[2]]


def test_properties_and_groups_are_created_with_201_and_duplicates_are_409(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    groups, core = client.crm.properties.groups_api, client.crm.properties.core_api
    group = groups.create(
        "contacts",
        PropertyGroupCreate(name="creator_data", label="Creator data"),
        _request_timeout=TIMEOUT,
    )
    created = core.create(
        "contacts",
        PropertyCreate(
            name="tiktok_handle",
            label="TikTok handle",
            type="string",
            field_type="text",
            group_name="creator_data",
        ),
        _request_timeout=TIMEOUT,
    )

    assert group is not None and group.name == "creator_data"
    assert created is not None and created.group_name == "creator_data"
    assert core.get_by_name("contacts", "tiktok_handle").label == "TikTok handle"
    assert groups.get_by_name("contacts", "creator_data").label == "Creator data"
    assert "tiktok_handle" in {p.name for p in core.get_all("contacts").results}
    assert "creator_data" in {g.name for g in groups.get_all("contacts").results}
    for call in (
        lambda: groups.create("contacts", PropertyGroupCreate(name="creator_data", label="x")),
        lambda: core.create(
            "contacts",
            PropertyCreate(
                name="tiktok_handle", label="x", type="string", field_type="text",
                group_name="creator_data",
            ),
        ),
    ):  # fmt: skip
        with pytest.raises(PropertiesApiException) as caught:
            call()
        assert caught.value.status == 409
        assert json.loads(caught.value.body)["category"] == "OBJECT_ALREADY_EXISTS"


@pytest.mark.parametrize(
    ("type_", "field_type", "group"),
    [("string", "text", "no_such_group"), ("bool", "text", "contactinformation")],
)
def test_property_create_rejects_unknown_groups_and_bad_type_pairs(
    client: HubSpot, type_: str, field_type: str, group: str
) -> None:
    spec = PropertyCreate(
        name="bad_one", label="Bad", type=type_, field_type=field_type, group_name=group
    )

    with pytest.raises(PropertiesApiException) as caught:
        client.crm.properties.core_api.create("contacts", spec, _request_timeout=TIMEOUT)

    assert caught.value.status == 400


def test_unknown_property_and_group_are_404(client: HubSpot) -> None:
    for call in (
        lambda: client.crm.properties.core_api.get_by_name("contacts", "nope"),
        lambda: client.crm.properties.groups_api.get_by_name("contacts", "nope"),
    ):
        with pytest.raises(PropertiesApiException) as caught:
            call()
        assert caught.value.status == 404


def test_the_api_request_escape_hatch_reaches_the_sandbox_through_base_url(
    sandbox: HubSpotSandbox, client: HubSpot
) -> None:
    ids = _seed(sandbox, 2)
    list_id = sandbox.create_list("Raw")

    response = client.api_request(
        {"method": "PUT", "path": f"/crm/v3/lists/{list_id}/memberships/add", "body": ids}
    )

    assert response.status_code == 200
    assert response.json()["recordsIdsAdded"] == ids
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
