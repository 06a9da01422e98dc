"""The ``hubspot`` media backend: rehosted pictures as public files in HubSpot's file manager."""

from __future__ import annotations

import hashlib
import json
import posixpath
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from connector.config import Settings
from connector.errors import SourceError, TransientError
from connector.ratelimit import RateBudget, build_storage
from connector.sources.hubspot_errors import build_retry, translate_error

_T = TypeVar("_T")
UPLOAD_OPTIONS = {
    "access": "PUBLIC_NOT_INDEXABLE",
    "overwrite": False,
    # Same bytes uploaded again (another worker, a restart) give back the file already there.
    "duplicateValidationStrategy": "RETURN_EXISTING",
    "duplicateValidationScope": "EXACT_FOLDER",
}


class HubSpotMediaBackend:
    """Uploads ``<hash>.<ext>`` into ``folder`` through ``hubspot-api-client``'s Files API."""

    def __init__(
        self,
        files_api: Any,
        *,
        folder: str,
        budget: RateBudget | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.folder = "/" + folder.strip("/") if folder.strip("/") else "/"
        self._files = files_api
        self._budget = budget
        self._timeout = (connect_timeout, read_timeout)
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def _call(self, what: str, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if self._budget is not None:
            self._budget.acquire(timeout=max(60.0, self._budget.per_seconds * 3))
        try:
            return fn(*args, _request_timeout=self._timeout, **kwargs)
        except Exception as exc:
            raise translate_error(exc, what) from exc

    def _path(self, content_hash: str, ext: str) -> str:
        return posixpath.join(self.folder, f"{content_hash}.{ext}")

    def put(self, content_hash: str, ext: str, data: bytes, content_type: str) -> str:
        """Upload once per hash (HubSpot returns the existing file for the same bytes)."""
        with self._lock:
            known = self._urls.get(content_hash)
        if known is not None:
            return known
        name = f"{content_hash}.{ext}"
        # The library only uploads from a path; it guesses the part's type from the name.
        with tempfile.TemporaryDirectory(prefix="connector-media-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            uploaded = self._call(
                "upload a profile picture to the file manager",
                self._files.upload,
                file=str(path),
                folder_path=self.folder,
                file_name=name,
                options=json.dumps(UPLOAD_OPTIONS),
            )
        url = getattr(uploaded, "url", None) or getattr(uploaded, "default_hosting_url", None)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise TransientError("HubSpot gave no public URL for an uploaded picture")
        with self._lock:
            self._urls[content_hash] = url
        return url

    def _stat(self, content_hash: str, ext: str) -> Any | None:
        try:
            found = self._call(
                "look up a profile picture", self._files.get_metadata, self._path(content_hash, ext)
            )
        except SourceError:
            return None
        return found if getattr(found, "id", None) else None

    def exists(self, content_hash: str, ext: str) -> bool:
        """Whether the folder holds the file (a ``stat`` by path)."""
        return self._stat(content_hash, ext) is not None

    def delete(self, content_hash: str, ext: str) -> bool:
        """Archive the file; False when it is not there."""
        found = self._stat(content_hash, ext)
        with self._lock:
            self._urls.pop(content_hash, None)
        if found is None:
            return False
        try:
            self._call("delete a profile picture", self._files.archive, str(found.id))
        except SourceError:
            return False
        return True


def build_hubspot_media_backend(settings: Settings) -> tuple[HubSpotMediaBackend, str | None]:
    """The backend on the ``hubspot`` settings, and what is missing for it to work (or None)."""
    from hubspot import HubSpot

    hubspot = settings.hubspot
    token = hubspot.access_token.get_secret_value() if hubspot.access_token else ""
    base_url = hubspot.base_url.rstrip("/")
    sdk = HubSpot(
        access_token=token,
        host=base_url,
        base_url=base_url,
        retry=build_retry(hubspot.max_attempts),
    )
    # The same key as the CRM client's budget: with Redis storage they share one window.
    budget = RateBudget(
        build_storage(settings.rate_limit_storage),
        limit=hubspot.requests_per_interval,
        per_seconds=hubspot.interval_seconds,
        key="hubspot:" + hashlib.sha256(token.encode()).hexdigest()[:12],
    )
    backend = HubSpotMediaBackend(
        sdk.files.files_api,
        folder=settings.media.hubspot_folder,
        budget=budget,
        connect_timeout=hubspot.connect_timeout,
        read_timeout=hubspot.read_timeout,
    )
    problem = None if token else "media.backend is hubspot but hubspot.access_token is not set"
    return backend, problem
