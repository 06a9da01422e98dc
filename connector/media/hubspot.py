"""The ``hubspot`` media backend: rehosted pictures as public files in HubSpot's file manager."""

from __future__ import annotations

import posixpath
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from connector.config import Settings
from connector.errors import SourceError, TransientError


class FileManager(Protocol):
    """The file-manager verbs of the HubSpot client (``sources.hubspot.files.HubSpotFiles``)."""

    def upload_file(self, path: str, *, folder: str, name: str) -> str | None:
        """Upload; the file's public URL."""

    def fetch_file_id(self, path: str) -> str | None:
        """The id of the file at ``path``, or None."""

    def archive_file(self, file_id: str) -> None:
        """Archive a file."""


class HubSpotMediaBackend:
    """Stores ``<hash>.<ext>`` in ``folder`` of HubSpot's file manager."""

    def __init__(self, files: FileManager, *, folder: str) -> None:
        self.folder = "/" + folder.strip("/") if folder.strip("/") else "/"
        self._files = files
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

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
            url = self._files.upload_file(str(path), folder=self.folder, name=name)
        if url is None or not url.startswith(("https://", "http://")):
            raise TransientError("HubSpot gave no public URL for an uploaded picture")
        with self._lock:
            self._urls[content_hash] = url
        return url

    def _find(self, content_hash: str, ext: str) -> str | None:
        try:
            return self._files.fetch_file_id(self._path(content_hash, ext))
        except SourceError:
            return None

    def exists(self, content_hash: str, ext: str) -> bool:
        """Whether the folder holds the file (a look-up by path)."""
        return self._find(content_hash, ext) is not None

    def delete(self, content_hash: str, ext: str) -> bool:
        """Archive the file; False when it is not there."""
        file_id = self._find(content_hash, ext)
        with self._lock:
            self._urls.pop(content_hash, None)
        if file_id is None:
            return False
        try:
            self._files.archive_file(file_id)
        except SourceError:
            return False
        return True


def check_hubspot_media(settings: Settings) -> str | None:
    """What is missing for the ``hubspot`` backend to work, or None."""
    token = settings.hubspot.access_token
    if token is None or not token.get_secret_value():
        return "media.backend is hubspot but hubspot.access_token is not set"
    return None
