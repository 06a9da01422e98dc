"""The HubSpot source against the sandbox through the real hubspot-api-client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hubspot.crm.contacts import exceptions as contacts_exceptions
from hubspot.crm.lists import exceptions as lists_exceptions
from hubspot.crm.properties import exceptions as properties_exceptions
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError

from connector.config import HubSpotSettings, HubSpotSourceSettings
from connector.errors import (
    AuthError,
    RateLimitedError,
    RequestRejectedError,
    SourceError,
    TransientError,
)
from connector.mapping import Mapping, parse_mapping
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sources.base import RecordUpdate, Source, Status
from connector.sources.hubspot.client import HubSpotClient, build_hubspot_client
from connector.sources.hubspot.errors import build_retry, translate_error
from connector.sources.hubspot.properties import apply_value, check_field_type
from connector.sources.hubspot.source import HubSpotSource
from connector.store import Store

MAPPING = """
kind: hubspot
fields:
  - target: ic_followers
    source: followers
    type: number
  - target: ic_verified
    source: is_verified
    type: bool
  - target: ic_tier
    source: tier
    type: enumeration
    options: [nano, micro, macro]
  - target: ic_last_post
    source: last_post
    type: date
"""
CREATED = {
    "ic_followers",
    "ic_verified",
    "ic_tier",
    "ic_last_post",
    "ic_status",
    "ic_error",
    "ic_enriched_at",
}


class Clock:
    """A settable clock for claim leases."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sandbox() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(limit=1000) as sb:
        sb.create_property("instagram_handle", label="Instagram Handle")
        yield sb


@pytest.fixture
def store(sqlite_url: str) -> Store:
    return Store.open(sqlite_url)


@pytest.fixture
def mapping() -> Mapping:
    return parse_mapping(MAPPING)


def build_settings(sandbox: HubSpotSandbox, **overrides: Any) -> HubSpotSettings:
    values: dict[str, Any] = {
        "access_token": sandbox.access_token,
        "base_url": sandbox.url,
        "requests_per_interval": 1000,
        "max_attempts": 3,
    }
    return HubSpotSettings(**{**values, **overrides})


def build_source(
    sandbox: HubSpotSandbox,
    store: Store,
    mapping: Mapping,
    *,
    list_ref: str,
    clock: Clock | None = None,
    settings: HubSpotSettings | None = None,
    **source: Any,
) -> HubSpotSource:
    hubspot = settings or build_settings(sandbox)
    config = HubSpotSourceSettings(
        name="leads",
        type="hubspot",
        list=list_ref,
        handle_property="instagram_handle",
        platform="instagram",
        **source,
    )
    return HubSpotSource(
        config,
        client=build_hubspot_client(hubspot),
        mapping=mapping,
        store=store,
        hubspot=hubspot,
        clock=clock or Clock(),
    )


def seed(
    sandbox: HubSpotSandbox, count: int, *, name: str = "Creators", processing_type: str = "MANUAL"
) -> tuple[list[str], str]:
    ids = sandbox.create_contacts(
        [{"email": f"c{i}@example.com", "instagram_handle": f"@creator{i}"} for i in range(count)]
    )
    return ids, sandbox.create_list(name, processing_type=processing_type, member_ids=ids)


def enriched(key: str, **values: Any) -> RecordUpdate:
    return RecordUpdate(
        key=key,
        status=Status.ENRICHED,
        values=values,
        enriched_at=datetime(2026, 5, 1, 12, 30, tzinfo=UTC),
    )


def test_source_satisfies_the_protocol(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    assert isinstance(build_source(sandbox, store, mapping, list_ref=list_id), Source)


def test_new_members_are_enriched_and_written_back(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, _ = seed(sandbox, 3)
    source = build_source(sandbox, store, mapping, list_ref="creators")
    source.bootstrap_properties()
    pending = source.fetch_pending()
    assert [p.key for p in pending] == ids
    first = pending[0]
    assert (first.identity, first.handle_text, first.platform_text, first.location) == (
        ids[0],
        "@creator0",
        "instagram",
        f"contact {ids[0]}",
    )
    assert first.current == dict.fromkeys(
        ("ic_followers", "ic_verified", "ic_tier", "ic_last_post")
    )
    result = source.write_back(
        [
            enriched(
                p.key,
                ic_followers=1200.0,
                ic_verified=True,
                ic_tier="Macro",
                ic_last_post=datetime(2026, 4, 30, 18, 5, tzinfo=UTC),
            )
            for p in pending
        ]
    )
    assert result.written == ids and not result.missing and not result.failed
    contact = sandbox.get_contact(ids[0])
    assert {
        k: contact[k]
        for k in (
            "ic_followers",
            "ic_verified",
            "ic_tier",
            "ic_last_post",
            "ic_status",
            "ic_enriched_at",
        )
    } == {
        "ic_followers": "1200",
        "ic_verified": "true",
        "ic_tier": "macro",
        "ic_last_post": "2026-04-30",
        "ic_status": "enriched",
        "ic_enriched_at": "2026-05-01T12:30:00.000Z",
    }
    assert source.fetch_pending() == []


def test_calls_are_batched_and_traced(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 260)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    sandbox.reset_stats()
    pending = source.fetch_pending()
    source.write_back([enriched(p.key, ic_followers=1) for p in pending])
    log = sandbox.requests()
    pages = [r for r in log if r["endpoint"] == "memberships.get_page"]
    reads = [r for r in log if r["endpoint"] == "contacts.batch_read"]
    updates = [r for r in log if r["endpoint"] == "contacts.batch_update"]
    assert len(pages) == 2 and all("limit=250" in r["query"] for r in pages)
    assert [len(r["json"]["inputs"]) for r in reads] == [100, 100, 60]
    assert [len(r["json"]["inputs"]) for r in updates] == [100, 100, 60]
    assert all(i["objectWriteTraceId"] == i["id"] for r in updates for i in r["json"]["inputs"])
    assert len(log) == 1 + 2 + 3 + 3
    assert len(pending) == len(ids)


def test_properties_are_created_once_and_only_once(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    assert set(source.bootstrap_properties()) == CREATED
    assert source.bootstrap_properties() == []
    again = build_source(sandbox, store, mapping, list_ref=list_id)
    assert again.bootstrap_properties() == []
    assert sandbox.stats()["by_endpoint"]["properties.create"] == len(CREATED)
    props = sandbox.properties()
    assert props["ic_tier"]["groupName"] == "influencers_club"
    assert [o["value"] for o in props["ic_tier"]["options"]] == ["nano", "micro", "macro"]
    assert (props["ic_enriched_at"]["type"], props["ic_enriched_at"]["fieldType"]) == (
        "datetime",
        "date",
    )
    assert (props["ic_verified"]["type"], props["ic_verified"]["fieldType"]) == (
        "bool",
        "booleancheckbox",
    )
    assert "not found" in [o["value"] for o in props["ic_status"]["options"]]
    assert source.check() == []


def test_check_lists_missing_properties_when_bootstrap_is_off(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    settings = build_settings(sandbox, bootstrap_properties=False)
    source = build_source(sandbox, store, mapping, list_ref=list_id, settings=settings)
    problems = source.check()
    text = "\n".join(problems)
    for name in CREATED:
        assert f"{name!r}" in text
    assert "type number, field type number" in text
    assert "options nano, micro, macro" in text
    assert "properties.create" not in sandbox.stats()["by_endpoint"]


def test_check_names_a_label_used_instead_of_the_internal_name(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    hubspot = build_settings(sandbox)
    config = HubSpotSourceSettings(
        name="leads", type="hubspot", list=list_id, handle_property="Instagram Handle"
    )
    source = HubSpotSource(
        config, client=build_hubspot_client(hubspot), mapping=mapping, store=store, hubspot=hubspot
    )
    assert any("use the internal name 'instagram_handle'" in p for p in source.check())


def test_check_reports_a_deleted_list_and_a_bad_token(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    sandbox.delete_list(list_id)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    assert any("does not exist" in p for p in source.check())
    with pytest.raises(SourceError):
        source.fetch_pending()
    bad = build_source(
        sandbox,
        store,
        mapping,
        list_ref=list_id,
        settings=build_settings(sandbox, access_token="pat-wrong"),
    )
    with pytest.raises(AuthError):
        bad.fetch_pending()


def test_missing_scopes_are_an_auth_error(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    sandbox.inject_faults(403, 1)
    with pytest.raises(AuthError, match="scopes"):
        source.fetch_pending()


def test_deleted_and_merged_members_are_terminal(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 4)
    sandbox.delete_contact(ids[1])
    sandbox.merge_contacts(ids[2], ids[3])
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    pending = source.fetch_pending()
    assert ids[1] not in [p.key for p in pending] and ids[3] not in [p.key for p in pending]
    known = store.get_known_records("leads")
    assert known[ids[1]].startswith("gone") and known[ids[3]].startswith("gone")
    sandbox.reset_stats()
    source.write_back([enriched(p.key) for p in pending])
    assert source.fetch_pending() == []
    assert sandbox.stats()["by_endpoint"].get("contacts.batch_read") is None


def test_partial_failures_are_reported_per_contact(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 5)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    pending = source.fetch_pending()
    sandbox.merge_contacts(ids[0], ids[1])
    updates = [enriched(p.key, ic_tier="micro") for p in pending]
    updates[3] = enriched(ids[3], ic_tier="giga")
    result = source.write_back(updates)
    assert result.missing == [ids[1]]
    assert set(result.failed) == {ids[3]} and "giga" in result.failed[ids[3]]
    assert sorted(result.written) == sorted([ids[0], ids[2], ids[4]])
    assert sandbox.get_contact(ids[4])["ic_tier"] == "micro"
    assert sandbox.get_contact(ids[3])["ic_tier"] is None
    assert source.fetch_pending() == []


def test_rate_limit_bursts_are_absorbed(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 3)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    sandbox.inject_faults(429, 2, path_prefix="/crm/v3/objects/contacts/batch/read")
    pending = source.fetch_pending()
    assert [p.key for p in pending] == ids
    sandbox.inject_faults(429, 1, path_prefix="/crm/v3/objects/contacts/batch/update")
    assert source.write_back([enriched(p.key) for p in pending]).written == ids
    assert sandbox.stats()["http_429"] == 3


def test_daily_limit_is_not_retried_on_a_short_loop(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    sandbox.reset_stats()
    sandbox.inject_faults(429, 5, policy="DAILY")
    with pytest.raises(RateLimitedError) as caught:
        source.fetch_pending()
    assert caught.value.retry_after is not None and caught.value.retry_after >= 3600
    assert sandbox.stats()["requests"] == 1


def test_server_errors_and_timeouts_become_transient(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    settings = build_settings(sandbox, max_attempts=1, read_timeout=0.3)
    source = build_source(sandbox, store, mapping, list_ref=list_id, settings=settings)
    sandbox.inject_faults(503, 2)
    with pytest.raises(TransientError):
        source.fetch_pending()
    sandbox.inject_faults(200, 2, delay=1.0)
    with pytest.raises(TransientError):
        source.fetch_pending()


def test_a_changed_handle_is_re_enriched(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 2)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    source.write_back([enriched(p.key) for p in source.fetch_pending()])
    sandbox.set_property(ids[0], "instagram_handle", "@renamed")
    sandbox.set_property(ids[1], "ic_status", "")
    store.add_record_hints("leads", [ids[0], ids[1]])
    pending = source.fetch_pending()
    assert [(p.key, p.handle_text) for p in pending] == [(ids[0], "@renamed")]


def test_a_retry_status_set_by_a_human_is_picked_up_on_a_hint(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 1)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    source.write_back([enriched(p.key) for p in source.fetch_pending()])
    sandbox.set_property(ids[0], "ic_status", "retry")
    assert source.fetch_pending() == []
    store.add_record_hints("leads", ids)
    assert [p.key for p in source.fetch_pending()] == ids


def test_members_leaving_a_dynamic_list_are_not_an_error(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 3, processing_type="DYNAMIC")
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    pending = source.fetch_pending()
    sandbox.remove_members(list_id, [ids[0]])
    assert source.write_back([enriched(p.key) for p in pending]).written == ids
    sandbox.remove_members(list_id, [ids[1]])
    assert source.fetch_pending() == []


def test_dry_run_writes_nothing(sandbox: HubSpotSandbox, store: Store, mapping: Mapping) -> None:
    ids, list_id = seed(sandbox, 2)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    store.add_record_hints("leads", ids)
    assert [p.key for p in source.fetch_pending(claim=False)] == ids
    assert store.get_known_records("leads") == {}
    assert store.take_record_hints("leads") == ids
    assert "contacts.batch_update" not in sandbox.stats()["by_endpoint"]
    assert [p.key for p in source.fetch_pending(claim=False)] == ids


def test_claims_hold_until_their_lease_runs_out(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 2)
    clock = Clock()
    source = build_source(sandbox, store, mapping, list_ref=list_id, clock=clock)
    assert len(source.fetch_pending()) == 2
    assert source.fetch_pending() == []
    clock.now += 3601
    assert [p.key for p in source.fetch_pending()] == ids


def test_interim_and_revisit_statuses(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 2)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    source.fetch_pending()
    assert source.mark([ids[0]], Status.ENRICHING).written == [ids[0]]
    assert source.mark([ids[1]], Status.AWAITING_CREDITS).written == [ids[1]]
    assert sandbox.get_contact(ids[0])["ic_status"] == "enriching"
    assert [p.key for p in source.fetch_pending()] == [ids[1]]
    source.mark([ids[0]], Status.ERROR, "boom")
    assert sandbox.get_contact(ids[0])["ic_error"] == "boom"
    assert [p.key for p in source.fetch_pending()] == []


def test_client_reads_lists_properties_and_contacts(sandbox: HubSpotSandbox) -> None:
    ids, list_id = seed(sandbox, 3)
    client: HubSpotClient = build_hubspot_client(build_settings(sandbox))
    found = client.fetch_list(list_id)
    assert (found.list_id, found.object_type_id, found.processing_type) == (
        list_id,
        "0-1",
        "MANUAL",
    )
    assert list(client.iter_memberships(list_id, limit=2)) == ids
    assert client.fetch_property("nope") is None
    assert client.fetch_property("instagram_handle").label == "Instagram Handle"  # type: ignore[union-attr]
    batch = client.fetch_contacts([*ids, "999999"], ["instagram_handle"])
    assert batch.found[ids[0]]["instagram_handle"] == "@creator0"
    assert batch.missing == ["999999"]
    assert client.ensure_group("influencers_club", "influencers.club") is True
    assert client.ensure_group("influencers_club", "influencers.club") is False
    definition = {
        "name": "x_one",
        "label": "X",
        "type": "string",
        "fieldType": "text",
        "groupName": "influencers_club",
    }
    assert client.create_property(definition) is True
    assert client.create_property(definition) is False


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        (None, "number", ""),
        ("", "string", ""),
        (1200, "number", "1200"),
        (1200.0, "number", "1200"),
        (0.0345, "number", "0.0345"),
        (1e-7, "number", "0.0000001"),
        (float("nan"), "number", ""),
        (True, "bool", "true"),
        (False, "bool", "false"),
        ("yes", "bool", "true"),
        (date(2026, 1, 2), "date", "2026-01-02"),
        (datetime(2026, 1, 2, 23, 30, tzinfo=UTC), "date", "2026-01-02"),
        ("2026-01-02T10:00:00Z", "date", "2026-01-02"),
        (1_767_312_000_000, "date", "2026-01-02"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "datetime", "2026-01-02T03:04:05.000Z"),
        (datetime(2026, 1, 2, 3, 4, 5), "datetime", "2026-01-02T03:04:05.000Z"),
        (date(2026, 1, 2), "datetime", "2026-01-02T00:00:00.000Z"),
        ("Micro", "enumeration", "micro"),
        (["nano", "Micro"], "enumeration", "nano;micro"),
        (["a", "b"], "string", "a, b"),
        ({"b": 1, "a": 2}, "string", '{"a": 2, "b": 1}'),
        (True, "string", "true"),
    ],
)
def test_values_become_hubspot_strings(value: Any, type_: str, expected: str) -> None:
    options = [{"label": "Nano", "value": "nano"}, {"label": "Micro", "value": "micro"}]
    assert apply_value(value, type_, options) == expected


@pytest.mark.parametrize(
    ("type_", "field_type", "ok"),
    [
        ("string", "text", True),
        ("datetime", "date", True),
        ("bool", "booleancheckbox", True),
        ("enumeration", "select", True),
        ("number", "text", False),
        ("bool", "select", False),
        ("money", "number", False),
    ],
)
def test_type_and_field_type_pairs(type_: str, field_type: str, ok: bool) -> None:
    assert (check_field_type(type_, field_type) is None) is ok


def api_error(module: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    exc = module.ApiException(status=status, reason="reason")
    exc.body = body
    exc.headers = headers
    return exc


@pytest.mark.parametrize("module", [lists_exceptions, contacts_exceptions, properties_exceptions])
@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (401, '{"category": "INVALID_AUTHENTICATION"}', AuthError, "access token"),
        (
            403,
            json.dumps(
                {
                    "category": "MISSING_SCOPES",
                    "errors": [
                        {
                            "context": {
                                "requiredGranularScopes": [
                                    "crm.lists.read",
                                    "crm.objects.contacts.write",
                                ]
                            }
                        }
                    ],
                }
            ),
            AuthError,
            "crm.lists.read, crm.objects.contacts.write",
        ),
        (404, '{"category": "OBJECT_NOT_FOUND", "message": "gone"}', SourceError, "gone"),
        (429, '{"policyName": "TEN_SECONDLY_ROLLING"}', RateLimitedError, "rate limit"),
        (429, b'{"policyName": "DAILY"}', RateLimitedError, "daily"),
        (502, "<html>bad gateway</html>", TransientError, "502"),
        (0, None, TransientError, "(0)"),
        (
            400,
            json.dumps(
                {
                    "category": "VALIDATION_ERROR",
                    "message": "Property values were not "
                    'valid: [{"isValid":false,"message":"Property \\"x\\" does not exist",'
                    '"error":"PROPERTY_DOESNT_EXIST","name":"x"}]',
                }
            ),
            RequestRejectedError,
            'x: Property "x" does not exist',
        ),
    ],
)
def test_errors_from_every_module_are_translated(
    module: Any, status: int, body: Any, kind: type[Exception], text: str
) -> None:
    translated = translate_error(api_error(module, status, body), "do things")
    assert type(translated) is kind
    assert text in str(translated)


def test_daily_limits_wait_long_and_bursts_honour_retry_after() -> None:
    daily = translate_error(api_error(contacts_exceptions, 429, '{"policyName":"DAILY"}'), "x")
    assert isinstance(daily, RateLimitedError) and daily.retry_after == 3600
    burst = translate_error(api_error(contacts_exceptions, 429, "{}", {"Retry-After": "7"}), "x")
    assert isinstance(burst, RateLimitedError) and burst.retry_after == 7


@pytest.mark.parametrize(
    "exc",
    [
        MaxRetryError(None, "/crm", "too many"),  # type: ignore[arg-type]
        ProtocolError("connection aborted"),
        ReadTimeoutError(None, "/crm", "read timed out"),  # type: ignore[arg-type]
        ConnectionRefusedError("refused"),
    ],
)
def test_transport_errors_are_transient(exc: Exception) -> None:
    assert isinstance(translate_error(exc, "read"), TransientError)


def test_programming_errors_are_not_swallowed() -> None:
    with pytest.raises(KeyError):
        translate_error(KeyError("bug"), "read")


def test_retry_policy_matches_the_reference() -> None:
    retry = build_retry(5)
    assert retry.total == 5 and retry.backoff_factor == 1.0
    assert retry.allowed_methods is None and retry.respect_retry_after_header
    assert not retry.raise_on_status
    assert set(retry.status_forcelist or ()) == {429, 500, 502, 503, 504}


def test_reconcile_finds_handle_changes_without_webhooks(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 2)
    clock = Clock()
    hubspot = build_settings(sandbox)
    config = HubSpotSourceSettings(
        name="leads",
        type="hubspot",
        list=list_id,
        handle_property="instagram_handle",
        platform="instagram",
    )
    source = HubSpotSource(
        config,
        client=build_hubspot_client(hubspot),
        mapping=mapping,
        store=store,
        hubspot=hubspot,
        clock=clock,
        reconcile_every=3600,
    )
    source.bootstrap_properties()
    source.write_back([enriched(p.key) for p in source.fetch_pending()])
    sandbox.set_property(ids[1], "instagram_handle", "@moved")
    assert source.fetch_pending() == []
    clock.now += 3600
    assert [p.handle_text for p in source.fetch_pending()] == ["@moved"]


def test_check_reports_missing_contact_scopes(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    _, list_id = seed(sandbox, 1)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.bootstrap_properties()
    sandbox.inject_faults(403, 1, path_prefix="/crm/v3/objects/contacts/batch/read")
    problems = source.check()
    assert len(problems) == 1 and "scopes" in problems[0]


def test_the_client_side_budget_spaces_requests(sandbox: HubSpotSandbox) -> None:
    ids, list_id = seed(sandbox, 5)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    settings = build_settings(sandbox, requests_per_interval=3, interval_seconds=1)
    client = build_hubspot_client(settings, sleep=sleep)
    assert list(client.iter_memberships(list_id, limit=1)) == ids
    assert waits and client.calls == 5


def test_the_first_claiming_poll_bootstraps_properties(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, list_id = seed(sandbox, 1)
    source = build_source(sandbox, store, mapping, list_ref=list_id)
    source.fetch_pending(claim=False)
    assert "properties.create" not in sandbox.stats()["by_endpoint"]
    assert [p.key for p in source.fetch_pending()] == ids
    assert set(sandbox.properties()) >= CREATED
    source.fetch_pending()
    assert sandbox.stats()["by_endpoint"]["properties.get_all"] == 1


def test_an_invalid_handle_status_fits_the_dropdown_and_keeps_its_reason(
    sandbox: HubSpotSandbox, store: Store, mapping: Mapping
) -> None:
    ids, _ = seed(sandbox, 1)
    source = build_source(sandbox, store, mapping, list_ref="creators")
    source.bootstrap_properties()
    pending = source.fetch_pending()
    update = RecordUpdate(key=pending[0].key, status="invalid handle: contains spaces")
    result = source.write_back([update])
    assert result.written == ids
    contact = sandbox.get_contact(ids[0])
    assert (contact["ic_status"], contact["ic_error"]) == ("invalid handle", "contains spaces")
