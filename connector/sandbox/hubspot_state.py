"""In-memory HubSpot portal for the sandbox: contacts, ILS lists, properties and groups."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from flask import current_app

from connector.sandbox.hubspot_common import ApiError, get_iso, get_now
from connector.sandbox.hubspot_schema import (
    build_default_schema,
    build_group,
    build_property,
    check_property_create,
    check_property_values,
)

FIRST_CONTACT_ID = 1001
FIRST_LIST_ID = 1
PROCESSING_TYPES = ("MANUAL", "DYNAMIC", "SNAPSHOT")
DEFAULT_READ_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)


@dataclass
class Contact:
    """One contact record; ``values`` holds only properties that have a value."""

    id: int
    values: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


@dataclass
class ContactList:
    """One ILS list; ``members`` maps record id to the time it joined."""

    id: int
    name: str
    processing_type: str
    created_at: datetime
    updated_at: datetime
    members: dict[int, datetime] = field(default_factory=dict)
    filter_branch: Any = None
    version: int = 1
    deleted_at: datetime | None = None


class Portal:
    """The portal's data behind one lock; used by both the HTTP routes and the Python API."""

    def __init__(self, *, portal_id: int) -> None:
        self.portal_id = portal_id
        self.lock = threading.RLock()
        self.contacts: dict[int, Contact] = {}
        self.merged_into: dict[int, int] = {}
        self.lists: dict[int, ContactList] = {}
        self.groups, self.properties = build_default_schema()
        self._next_contact = FIRST_CONTACT_ID
        self._next_list = FIRST_LIST_ID

    def create_contact(self, values: dict[str, str]) -> Contact:
        """Store a new contact with already-validated values."""
        with self.lock:
            now = get_now()
            contact = Contact(self._next_contact, {}, now, now)
            self._next_contact += 1
            self._apply(contact, values)
            self.contacts[contact.id] = contact
            return contact

    def check_values(self, values: Any) -> dict[str, str]:
        """Validate property values for a write (400 on any problem)."""
        with self.lock:
            return check_property_values(values, self.properties, self.portal_id)

    def update_contact(self, contact: Contact, values: dict[str, str]) -> None:
        """Apply validated values; ``""`` clears a property."""
        with self.lock:
            self._apply(contact, values)
            contact.updated_at = get_now()

    @staticmethod
    def _apply(contact: Contact, values: dict[str, str]) -> None:
        for name, value in values.items():
            if value == "":
                contact.values.pop(name, None)
            else:
                contact.values[name] = value

    def find_contact(
        self, key: str, id_property: str | None = None, *, archived: bool = False
    ) -> Contact | None:
        """A live (or, with ``archived``, an archived) contact by id or by a unique property."""
        with self.lock:
            if id_property and id_property != "hs_object_id":
                for contact in self.contacts.values():
                    if (
                        contact.values.get(id_property) == key
                        and (contact.archived_at is not None) == archived
                    ):
                        return contact
                return None
            try:
                found = self.contacts.get(int(key))
            except (TypeError, ValueError):
                return None
            if found is None or (found.archived_at is not None) != archived:
                return None
            return found

    def require_contact(self, contact_id: str) -> Contact:
        """A live contact or ``KeyError``."""
        contact = self.find_contact(contact_id)
        if contact is None:
            raise KeyError(f"no live contact {contact_id}")
        return contact

    def archive_contact(self, contact_id: str) -> None:
        """Archive a contact; list memberships are left stale on purpose, as HubSpot's lag does."""
        with self.lock:
            contact = self.require_contact(contact_id)
            contact.archived_at = get_now()

    def merge_contacts(self, primary_id: str, merged_id: str) -> None:
        """Merge ``merged_id`` into ``primary_id``: primary values win, blanks are filled."""
        with self.lock:
            primary = self.require_contact(primary_id)
            merged = self.require_contact(merged_id)
            for name, value in merged.values.items():
                primary.values.setdefault(name, value)
            primary.updated_at = get_now()
            del self.contacts[merged.id]
            self.merged_into[merged.id] = primary.id

    def all_values(self, contact: Contact) -> dict[str, str | None]:
        """Every defined property of ``contact``, ``None`` where unset."""
        with self.lock:
            names = list(self.properties)
        return self.select_values(contact, names)

    def select_values(self, contact: Contact, names: Iterable[str]) -> dict[str, str | None]:
        """The requested known properties plus the three HubSpot always adds."""
        with self.lock:
            known = [n for n in names if n in self.properties]
            wanted = dict.fromkeys([*known, "hs_object_id", "createdate", "lastmodifieddate"])
            computed = {
                "hs_object_id": str(contact.id),
                "createdate": get_iso(contact.created_at),
                "lastmodifieddate": get_iso(contact.updated_at),
            }
            return {n: computed[n] if n in computed else contact.values.get(n) for n in wanted}

    def render_contact(
        self, contact: Contact, names: Iterable[str] | None = None, trace_id: str | None = None
    ) -> dict[str, Any]:
        """A ``SimplePublicObject`` JSON object."""
        selected = self.select_values(contact, DEFAULT_READ_PROPERTIES if names is None else names)
        result: dict[str, Any] = {
            "id": str(contact.id),
            "properties": selected,
            "createdAt": get_iso(contact.created_at),
            "updatedAt": get_iso(contact.updated_at),
            "archived": contact.archived_at is not None,
        }
        if contact.archived_at is not None:
            result["archivedAt"] = get_iso(contact.archived_at)
        if trace_id is not None:
            result["objectWriteTraceId"] = trace_id
        return result

    def live_contacts(self) -> list[Contact]:
        """Live contacts in ascending id order."""
        with self.lock:
            return sorted(
                (c for c in self.contacts.values() if c.archived_at is None), key=lambda c: c.id
            )

    def create_list(
        self, name: str, processing_type: str = "MANUAL", filter_branch: Any = None
    ) -> ContactList:
        """Create an ILS list (names are unique, case-insensitively)."""
        if processing_type not in PROCESSING_TYPES:
            raise ApiError(400, "VALIDATION_ERROR", f"Invalid processingType '{processing_type}'")
        with self.lock:
            if self.find_list_by_name(name) is not None:
                raise ApiError(400, "VALIDATION_ERROR", f"A list named '{name}' already exists.")
            now = get_now()
            created = ContactList(self._next_list, name, processing_type, now, now)
            created.filter_branch = filter_branch
            self._next_list += 1
            self.lists[created.id] = created
            return created

    def find_list(self, list_id: str) -> ContactList | None:
        """A list that is not deleted, by ILS id."""
        try:
            found = self.lists.get(int(list_id))
        except ValueError:
            return None
        return found if found is not None and found.deleted_at is None else None

    def require_list(self, list_id: str) -> ContactList:
        """A live list or 404 ``OBJECT_NOT_FOUND``."""
        found = self.find_list(list_id)
        if found is None:
            raise ApiError(404, "OBJECT_NOT_FOUND", f"List with id {list_id} does not exist.")
        return found

    def find_list_by_name(self, name: str) -> ContactList | None:
        """A live list by name, case-insensitively."""
        with self.lock:
            for found in self.lists.values():
                if found.deleted_at is None and found.name.lower() == name.lower():
                    return found
        return None

    def change_members(
        self, found: ContactList, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> dict[str, list[str]]:
        """Add and remove members; answers HubSpot's ``MembershipsUpdateResponse`` fields."""
        added: list[str] = []
        removed: list[str] = []
        missing: list[str] = []
        with self.lock:
            now = get_now()
            for raw in add:
                contact = self.find_contact(str(raw))
                if contact is None:
                    missing.append(str(raw))
                elif contact.id not in found.members:
                    found.members[contact.id] = now
                    added.append(str(contact.id))
            for raw in remove:
                try:
                    key = int(raw)
                except ValueError:
                    key = -1
                if found.members.pop(key, None) is not None:
                    removed.append(str(key))
                else:
                    missing.append(str(raw))
            if added or removed:
                found.updated_at = now
        return {"recordIdsRemoved": removed, "recordsIdsAdded": added, "recordIdsMissing": missing}

    def render_list(self, found: ContactList, include_filters: bool = False) -> dict[str, Any]:
        """A ``PublicObjectList`` JSON object."""
        result: dict[str, Any] = {
            "listId": str(found.id),
            "listVersion": found.version,
            "name": found.name,
            "objectTypeId": "0-1",
            "processingType": found.processing_type,
            "processingStatus": "COMPLETE",
            "size": len(found.members),
            "createdAt": get_iso(found.created_at),
            "updatedAt": get_iso(found.updated_at),
            "filtersUpdatedAt": get_iso(found.created_at),
            "createdById": "1",
            "updatedById": "1",
        }
        if found.deleted_at is not None:
            result["deletedAt"] = get_iso(found.deleted_at)
        if include_filters and found.filter_branch is not None:
            result["filterBranch"] = found.filter_branch
        return result

    def create_property(self, spec: Any) -> dict[str, Any]:
        """Validate and store a property; returns its ``ModelProperty`` JSON."""
        with self.lock:
            checked = check_property_create(spec, self.groups, self.properties)
            created = build_property(checked)
            self.properties[created["name"]] = created
            return created

    def create_group(self, spec: Any) -> dict[str, Any]:
        """Validate and store a property group; returns its ``PropertyGroup`` JSON."""
        if not isinstance(spec, dict) or not spec.get("name") or not spec.get("label"):
            raise ApiError(
                400, "VALIDATION_ERROR", "Invalid input JSON: name and label are required"
            )
        with self.lock:
            name = str(spec["name"])
            if name in self.groups:
                raise ApiError(
                    409, "OBJECT_ALREADY_EXISTS", f"A property group named '{name}' already exists."
                )
            created = build_group(name, str(spec["label"]), int(spec.get("displayOrder", -1)))
            self.groups[name] = created
            return created


def get_portal() -> Portal:
    """The portal of the Flask app handling the current request."""
    return cast(Portal, current_app.extensions["hubspot_sandbox"].portal)
