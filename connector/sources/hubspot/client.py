"""The HubSpot API client: domain verbs over hubspot-api-client with a budget and timeouts."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hubspot import HubSpot
from limits import storage as limits_storage

from connector.config import HubSpotSettings
from connector.errors import RequestRejectedError, SourceError, TransientError
from connector.ratelimit import RateBudget, build_storage
from connector.sources.hubspot.errors import build_retry, get_status, translate_error
from connector.sources.hubspot.files import HubSpotFiles

log = logging.getLogger(__name__)

CONTACTS = "contacts"
CONTACT_OBJECT_TYPE = "0-1"
MEMBERSHIP_PAGE = 250
BATCH_SIZE = 100
SEARCH_PAGE = 200
_T = TypeVar("_T")


@dataclass(frozen=True)
class HubSpotList:
    """A Lists v3 (ILS) list as the watcher needs it."""

    list_id: str
    name: str
    object_type_id: str
    processing_type: str
    processing_status: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class HubSpotProperty:
    """A contact property definition (internal name, label, type/fieldType, options)."""

    name: str
    label: str
    type: str
    field_type: str
    group: str | None = None
    options: tuple[dict[str, str], ...] = ()
    read_only: bool = False


@dataclass
class ContactBatch:
    """Result of a batch read: properties per found contact id, and ids HubSpot does not have."""

    found: dict[str, dict[str, str | None]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


@dataclass
class UpdateOutcome:
    """Result of a batch update: written ids, ids not found (merged/deleted), per-id failures."""

    written: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class CreateOutcome:
    """Result of a batch create or upsert: input index → contact id, index → failure reason."""

    ids: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class HubSpotClient:
    """Domain verbs over hubspot-api-client; every call is budgeted, timed out and translated."""

    def __init__(
        self,
        sdk: HubSpot,
        *,
        budget: RateBudget,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        create_sdk: HubSpot | None = None,
    ) -> None:
        self._budget = budget
        self._timeout = (connect_timeout, read_timeout)
        # Each attribute access on the SDK builds a new ApiClient and pool, so take them once.
        self._lists = sdk.crm.lists.lists_api
        self._memberships = sdk.crm.lists.memberships_api
        self._contacts = sdk.crm.contacts.batch_api
        self._properties = sdk.crm.properties.core_api
        self._groups = sdk.crm.properties.groups_api
        self._search = sdk.crm.contacts.search_api
        self._creates = (create_sdk or sdk).crm.contacts.batch_api
        self.files = HubSpotFiles(sdk.files.files_api, self._call)
        self.calls = 0

    def _call(self, what: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        self._budget.acquire(timeout=max(60.0, self._budget.per_seconds * 3))
        self.calls += 1
        try:
            return fn(*args, _request_timeout=self._timeout, **kwargs)
        except Exception as exc:
            raise translate_error(exc, what) from exc

    def fetch_list(self, reference: str) -> HubSpotList:
        """Resolve a list id (digits) or name to its ILS list; ``SourceError`` if it is absent."""
        what = f"read list {reference!r}"
        try:
            if reference.strip().isdigit():
                response = self._call(what, self._lists.get_by_id, reference.strip())
            else:
                response = self._call(what, self._lists.get_by_name, reference, CONTACT_OBJECT_TYPE)
        except SourceError as exc:
            raise SourceError(
                f"HubSpot list {reference!r} does not exist (deleted?)",
                hint="set the source's list to a list id or exact list name",
            ) from exc
        found = getattr(response, "list", None)
        if found is None:
            raise TransientError(f"HubSpot gave an unexpected answer to {what}")
        return HubSpotList(
            list_id=str(found.list_id),
            name=str(found.name),
            object_type_id=str(found.object_type_id),
            processing_type=str(found.processing_type),
            processing_status=found.processing_status,
            size=found.size,
        )

    def iter_memberships(self, list_id: str, *, limit: int = MEMBERSHIP_PAGE) -> Iterator[str]:
        """Yield every member's record id, walking pages of ``limit`` with the ``after`` cursor."""
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": limit}
            if after:
                kwargs["after"] = after
            page = self._call(
                f"read members of list {list_id}", self._memberships.get_page, list_id, **kwargs
            )
            if page is None:
                raise TransientError(f"HubSpot gave an unexpected answer for list {list_id}")
            for item in page.results or []:
                yield str(item.record_id)
            nxt = getattr(getattr(page, "paging", None), "next", None)
            after = getattr(nxt, "after", None)
            if not after:
                return

    def fetch_contacts(self, ids: Sequence[str], properties: Sequence[str]) -> ContactBatch:
        """Batch-read ``properties`` of ``ids`` (100 per call); unknown ids land in ``missing``."""
        batch = ContactBatch()
        for chunk in _chunks(list(ids), BATCH_SIZE):
            body = {"inputs": [{"id": i} for i in chunk], "properties": list(properties)}
            response = self._call("read contacts", self._contacts.read, body, archived=False)
            if response is None:
                raise TransientError("HubSpot gave an unexpected answer to a contact batch read")
            for obj in response.results or []:
                batch.found[str(obj.id)] = dict(obj.properties or {})
            for error in getattr(response, "errors", None) or []:
                batch.missing.extend(str(i) for i in (error.context or {}).get("ids", []))
            # Merged ids can vanish from results without an error entry.
            batch.missing.extend(
                i for i in chunk if i not in batch.found and i not in batch.missing
            )
        return batch

    def update_contacts(self, inputs: Mapping[str, Mapping[str, str]]) -> UpdateOutcome:
        """Batch-update contact id → properties (100 per call), checking every 207 per contact."""
        outcome = UpdateOutcome()
        for chunk in _chunks(list(inputs), BATCH_SIZE):
            self._update_chunk({i: inputs[i] for i in chunk}, outcome)
        return outcome

    def _update_chunk(
        self, inputs: Mapping[str, Mapping[str, str]], outcome: UpdateOutcome
    ) -> None:
        body = {
            "inputs": [
                {"id": i, "properties": dict(p), "objectWriteTraceId": i} for i, p in inputs.items()
            ]
        }
        try:
            response = self._call("update contacts", self._contacts.update, body)
        except RequestRejectedError as exc:
            if len(inputs) == 1:
                outcome.failed[next(iter(inputs))] = exc.message
                return
            # A whole-request 400 does not say which contact was bad: split until it does.
            ids = list(inputs)
            half = len(ids) // 2
            self._update_chunk({i: inputs[i] for i in ids[:half]}, outcome)
            self._update_chunk({i: inputs[i] for i in ids[half:]}, outcome)
            return
        if response is None:
            raise TransientError("HubSpot gave an unexpected answer to a contact batch update")
        done: set[str] = set()
        for obj in response.results or []:
            done.add(str(getattr(obj, "object_write_trace_id", None) or obj.id))
        for error in getattr(response, "errors", None) or []:
            context = error.context or {}
            ids = [str(i) for i in context.get("objectWriteTraceId") or context.get("ids") or []]
            for record_id in ids:
                if error.category == "OBJECT_NOT_FOUND":
                    outcome.missing.append(record_id)
                else:
                    outcome.failed[record_id] = str(error.message or error.category)
        for record_id in inputs:
            if record_id in done:
                outcome.written.append(record_id)
            elif record_id not in outcome.failed and record_id not in outcome.missing:
                # Merged away: the write landed on the surviving contact, this id is gone.
                outcome.missing.append(record_id)

    # -- contact creation (discovery destinations) ------------------------------------------

    def fetch_contact_ids_by(self, name: str, values: Sequence[str]) -> dict[str, str]:
        """Contact ids whose property ``name`` is one of ``values`` (case-insensitive): value → id.

        Uses the search API (IN, 100 values per query); newly created contacts may lag there.
        """
        found: dict[str, str] = {}
        wanted = list(dict.fromkeys(v for v in values if v))
        for chunk in _chunks(wanted, BATCH_SIZE):
            after: str | None = None
            while True:
                body: dict[str, Any] = {
                    "filterGroups": [
                        {"filters": [{"propertyName": name, "operator": "IN", "values": chunk}]}
                    ],
                    "properties": [name],
                    "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                    "limit": SEARCH_PAGE,
                }
                if after:
                    body["after"] = after
                page = self._call("search contacts", self._search.do_search, body)
                if page is None:
                    raise TransientError("HubSpot gave an unexpected answer to a contact search")
                for obj in page.results or []:
                    value = (obj.properties or {}).get(name)
                    if value:
                        found.setdefault(value.strip().casefold(), str(obj.id))
                after = getattr(getattr(getattr(page, "paging", None), "next", None), "after", None)
                if not after:
                    break
        return found

    def create_contacts(self, inputs: Sequence[Mapping[str, str]]) -> CreateOutcome:
        """Batch-create contacts (100 per call; 201, or 207 with per-input errors).

        Not idempotent, so its requests are retried only when HubSpot cannot have applied them
        (connection refused, 429); any other failure is raised for the caller to reconcile.
        """
        outcome = CreateOutcome()
        indexed = list(enumerate(inputs))
        for chunk in _chunks(indexed, BATCH_SIZE):
            body = {
                "inputs": [
                    {"properties": dict(p), "associations": [], "objectWriteTraceId": str(i)}
                    for i, p in chunk
                ]
            }
            response = self._call("create contacts", self._creates.create, body)
            self._collect(response, [i for i, _ in chunk], outcome, "create")
        return outcome

    def upsert_contacts(
        self, inputs: Mapping[str, Mapping[str, str]], *, id_property: str
    ) -> CreateOutcome:
        """Batch-upsert contacts keyed by a unique-value property (100 per call; 200/207).

        Indexes in the outcome follow the order of ``inputs``; ``id_property`` must be unique in
        HubSpot (``email`` or a custom unique property), or HubSpot rejects the whole request.
        """
        outcome = CreateOutcome()
        indexed = list(enumerate(inputs.items()))
        for chunk in _chunks(indexed, BATCH_SIZE):
            body = {
                "inputs": [
                    {
                        "idProperty": id_property,
                        "id": key,
                        "properties": dict(p),
                        "objectWriteTraceId": str(i),
                    }
                    for i, (key, p) in chunk
                ]
            }
            response = self._call("upsert contacts", self._contacts.upsert, body)
            self._collect(response, [i for i, _ in chunk], outcome, "upsert")
        return outcome

    def _collect(
        self, response: Any, indexes: list[int], outcome: CreateOutcome, what: str
    ) -> None:
        if response is None:
            raise TransientError(f"HubSpot gave an unexpected answer to a contact batch {what}")
        for obj in response.results or []:
            trace = getattr(obj, "object_write_trace_id", None)
            if trace is not None and str(trace).isdigit():
                outcome.ids[int(trace)] = str(obj.id)
        for error in getattr(response, "errors", None) or []:
            context = error.context or {}
            for trace in context.get("objectWriteTraceId") or []:
                if str(trace).isdigit():
                    outcome.failed[int(trace)] = str(error.message or error.category)
        for index in indexes:
            if index not in outcome.ids and index not in outcome.failed:
                outcome.failed[index] = f"HubSpot did not confirm the {what}"

    def add_to_list(self, list_id: str, ids: Sequence[str]) -> int:
        """Add contacts to a MANUAL (or SNAPSHOT) list; returns how many were newly added."""
        added = 0
        for chunk in _chunks(list(dict.fromkeys(ids)), BATCH_SIZE):
            try:
                response = self._call(
                    f"add contacts to list {list_id}", self._memberships.add, list_id, list(chunk)
                )
            except RequestRejectedError as exc:
                raise SourceError(
                    f"cannot add contacts to HubSpot list {list_id}: {exc.message}",
                    hint="use a MANUAL (static) list",
                ) from exc
            added += len(getattr(response, "records_ids_added", None) or [])
        return added

    def fetch_property(self, name: str) -> HubSpotProperty | None:
        """Read one contact property by internal name; ``None`` when it does not exist."""
        try:
            found = self._call(
                f"read property {name!r}", self._properties.get_by_name, CONTACTS, name
            )
        except SourceError:
            return None
        return _property(found) if found is not None else None

    def fetch_properties(self) -> dict[str, HubSpotProperty]:
        """Read every contact property, keyed by internal name."""
        response = self._call("read contact properties", self._properties.get_all, CONTACTS)
        if response is None:
            raise TransientError("HubSpot gave an unexpected answer to a property listing")
        return {p.name: _property(p) for p in response.results or []}

    def ensure_group(self, name: str, label: str) -> bool:
        """Create the contact property group unless it exists; True when it was created."""
        try:
            self._call(f"read property group {name!r}", self._groups.get_by_name, CONTACTS, name)
            return False
        except SourceError:
            pass
        return self._create(
            f"create property group {name!r}",
            self._groups.create,
            {"name": name, "label": label, "displayOrder": -1},
        )

    def create_property(self, definition: Mapping[str, Any]) -> bool:
        """Create a contact property from a PropertyCreate body; False when it already existed."""
        return self._create(
            f"create property {definition.get('name')!r}", self._properties.create, dict(definition)
        )

    def _create(self, what: str, fn: Callable[..., Any], body: dict[str, Any]) -> bool:
        try:
            result = self._call(what, fn, CONTACTS, body)
        except RequestRejectedError as exc:
            if isinstance(exc.__cause__, BaseException) and get_status(exc.__cause__) == 409:
                return False
            raise
        if result is None:
            raise TransientError(f"HubSpot gave an unexpected answer when asked to {what}")
        return True


def _property(found: Any) -> HubSpotProperty:
    meta = getattr(found, "modification_metadata", None)
    options = tuple({"label": str(o.label), "value": str(o.value)} for o in (found.options or []))
    return HubSpotProperty(
        name=str(found.name),
        label=str(found.label or found.name),
        type=str(found.type),
        field_type=str(found.field_type),
        group=found.group_name,
        options=options,
        read_only=bool(getattr(meta, "read_only_value", False)) or bool(found.calculated),
    )


def build_hubspot_client(
    settings: HubSpotSettings,
    *,
    storage: limits_storage.Storage | None = None,
    storage_uri: str | None = None,
    sleep: Callable[[float], None] | None = None,
) -> HubSpotClient:
    """Build the client from ``hubspot`` settings; a Redis ``storage(_uri)`` shares the budget."""
    token = settings.access_token.get_secret_value() if settings.access_token else ""
    base_url = settings.base_url.rstrip("/")
    sdk = HubSpot(
        access_token=token,
        host=base_url,
        base_url=base_url,
        retry=build_retry(settings.max_attempts),
    )
    # batch/create is not idempotent: its client retries only what HubSpot cannot have applied.
    create_sdk = HubSpot(
        access_token=token,
        host=base_url,
        base_url=base_url,
        retry=build_retry(settings.max_attempts).new(status_forcelist=(429,), read=0, other=0),
    )
    key = "hubspot:" + hashlib.sha256(token.encode()).hexdigest()[:12]
    budget_kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    budget = RateBudget(
        storage or build_storage(storage_uri or "memory://"),
        limit=settings.requests_per_interval,
        per_seconds=settings.interval_seconds,
        key=key,
        **budget_kwargs,
    )
    return HubSpotClient(
        sdk,
        budget=budget,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        create_sdk=create_sdk,
    )
