"""Files v3 routes of the HubSpot sandbox: multipart upload (201), metadata, and hosted bytes."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import posixpath
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from flask import Blueprint, Response, current_app, request

from connector.sandbox.hubspot_common import ApiError, get_iso, get_now, json_response

bp = Blueprint("files", __name__)
hosting_bp = Blueprint("hubfs", __name__)
ACCESS_LEVELS = (
    "PUBLIC_INDEXABLE",
    "PUBLIC_NOT_INDEXABLE",
    "HIDDEN_INDEXABLE",
    "HIDDEN_NOT_INDEXABLE",
    "HIDDEN_PRIVATE",
    "PRIVATE",
)
_TYPES = {"image": "IMG", "video": "MOVIE", "audio": "AUDIO", "text": "DOCUMENT"}


@dataclass
class StoredFile:
    """One uploaded file and its metadata."""

    id: int
    folder_id: int
    folder_path: str
    name: str
    extension: str
    access: str
    data: bytes
    content_type: str
    created_at: datetime
    updated_at: datetime

    @property
    def path(self) -> str:
        """The file's path inside the file manager, e.g. ``/avatars/alice.jpg``."""
        leaf = f"{self.name}.{self.extension}" if self.extension else self.name
        return posixpath.join(self.folder_path, leaf)


class FileStore:
    """Uploaded files and the folders created for them."""

    def __init__(self, *, portal_id: int) -> None:
        self.portal_id = portal_id
        self._lock = threading.Lock()
        self._files: dict[int, StoredFile] = {}
        self._folders: dict[str, int] = {"/": 0}
        self._next_id = 90_000_001

    def _folder(self, path: str) -> int:
        if path not in self._folders:
            self._folders[path] = self._next_id
            self._next_id += 1
        return self._folders[path]

    def save(
        self,
        *,
        folder_path: str,
        file_name: str,
        data: bytes,
        content_type: str,
        options: dict[str, Any],
    ) -> StoredFile:
        """Store ``data`` honouring ``overwrite`` and ``duplicateValidationStrategy``."""
        stem, dot, extension = file_name.rpartition(".")
        name, extension = (stem, extension.lower()) if dot and stem else (file_name, "")
        digest = hashlib.md5(data).hexdigest()
        with self._lock:
            folder_id = self._folder(folder_path)
            if options.get("duplicateValidationStrategy") in ("REJECT", "RETURN_EXISTING"):
                same_folder = options.get("duplicateValidationScope") == "EXACT_FOLDER"
                for stored in self._files.values():
                    if hashlib.md5(stored.data).hexdigest() != digest:
                        continue
                    if same_folder and stored.folder_path != folder_path:
                        continue
                    if options["duplicateValidationStrategy"] == "RETURN_EXISTING":
                        return stored
                    raise ApiError(
                        409,
                        "CONFLICT",
                        f"Duplicate file found: {stored.id}",
                        context={"id": [str(stored.id)]},
                    )
            now = get_now()
            candidate = StoredFile(
                self._next_id,
                folder_id,
                folder_path,
                name,
                extension,
                options["access"],
                data,
                content_type,
                now,
                now,
            )
            taken = {f.path: f for f in self._files.values()}
            if candidate.path in taken and options.get("overwrite"):
                replaced = taken[candidate.path]
                candidate.id, candidate.created_at = replaced.id, replaced.created_at
            else:
                suffix = 0
                while candidate.path in taken:
                    suffix += 1
                    candidate.name = f"{name}-{suffix}"
                self._next_id += 1
            self._files[candidate.id] = candidate
            return candidate

    def find(self, file_id: str) -> StoredFile | None:
        """A file by id."""
        with self._lock:
            return self._files.get(int(file_id)) if file_id.isdigit() else None

    def find_by_path(self, path: str) -> StoredFile | None:
        """A file by its file-manager path."""
        with self._lock:
            return next((f for f in self._files.values() if f.path == path), None)

    def all(self) -> list[StoredFile]:
        """Every stored file in upload order."""
        with self._lock:
            return sorted(self._files.values(), key=lambda f: f.id)

    def render(self, stored: StoredFile, base_url: str) -> dict[str, Any]:
        """A ``File`` JSON object; ``url`` points at the sandbox's own hosting route."""
        url = f"{base_url}/hubfs/{self.portal_id}{stored.path}"
        major = stored.content_type.split("/", 1)[0]
        return {
            "id": str(stored.id),
            "name": stored.name,
            "extension": stored.extension,
            "path": stored.path,
            "parentFolderId": str(stored.folder_id),
            "size": len(stored.data),
            "type": _TYPES.get(major, "OTHER"),
            "encoding": stored.content_type.split("/", 1)[-1],
            "access": stored.access,
            "isUsableInContent": True,
            "url": url,
            "defaultHostingUrl": url,
            "createdAt": get_iso(stored.created_at),
            "updatedAt": get_iso(stored.updated_at),
            "archived": False,
        }


def get_files() -> FileStore:
    """The file store of the Flask app handling the current request."""
    return cast(FileStore, current_app.extensions["hubspot_sandbox"].files)


def _base_url() -> str:
    return request.host_url.rstrip("/")


def _parse_options(raw: str | None) -> dict[str, Any]:
    if not raw:
        raise ApiError(400, "VALIDATION_ERROR", "options is required and must include access")
    try:
        options = json.loads(raw)
    except json.JSONDecodeError:
        raise ApiError(400, "VALIDATION_ERROR", f"options is not valid JSON: {raw!r}") from None
    if not isinstance(options, dict) or options.get("access") not in ACCESS_LEVELS:
        raise ApiError(
            400, "VALIDATION_ERROR", f"options.access must be one of {list(ACCESS_LEVELS)}"
        )
    return options


@bp.post("/files/v3/files", endpoint="upload")
def upload() -> Response:
    """Multipart upload with ``file``, ``folderPath``/``folderId``, ``fileName``, ``options``."""
    store = get_files()
    part = request.files.get("file")
    if part is None:
        raise ApiError(400, "VALIDATION_ERROR", "file is required")
    options = _parse_options(request.form.get("options"))
    folder_path = request.form.get("folderPath")
    folder_id = request.form.get("folderId")
    if not folder_path and not folder_id:
        raise ApiError(400, "VALIDATION_ERROR", "Either folderId or folderPath is required")
    if not folder_path:
        folder_path = "/" if folder_id == "0" else f"/folder-{folder_id}"
    folder_path = "/" + folder_path.strip("/") if folder_path.strip("/") else "/"
    file_name = request.form.get("fileName") or part.filename or "file"
    content_type = (
        part.mimetype
        if part.mimetype and part.mimetype != "application/octet-stream"
        else mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    )
    stored = store.save(
        folder_path=folder_path,
        file_name=file_name,
        data=part.read(),
        content_type=content_type,
        options=options,
    )
    return json_response(store.render(stored, _base_url()), 201)


@bp.get("/files/v3/files/<file_id>", endpoint="get")
def get_by_id(file_id: str) -> Response:
    """File metadata or 404."""
    store = get_files()
    stored = store.find(file_id)
    if stored is None:
        raise ApiError(404, "OBJECT_NOT_FOUND", f"File with id {file_id} was not found")
    return json_response(store.render(stored, _base_url()))


@hosting_bp.get("/hubfs/<int:portal_id>/<path:file_path>", endpoint="serve")
def serve(portal_id: int, file_path: str) -> Response:
    """The hosted bytes, as a CDN would serve them; private files are not public."""
    store = get_files()
    stored = store.find_by_path("/" + file_path) if portal_id == store.portal_id else None
    if stored is None or stored.access in ("PRIVATE", "HIDDEN_PRIVATE"):
        return Response("Not Found", status=404, content_type="text/plain")
    return Response(stored.data, status=200, content_type=stored.content_type)
