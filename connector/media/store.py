"""Rehosted profile pictures: fetched once, stored per content hash, linked by a permanent URL."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from connector.config import MediaSettings, Settings
from connector.errors import ConnectorError
from connector.media.fetch import (
    IMAGE_TYPES,
    ImageExpiredError,
    ImageFetcher,
    ImageFetchError,
    ImageTooLargeError,
    MediaError,
    MediaUnavailableError,
    NotAnImageError,
    check_image,
    format_size,
)
from connector.media.hubspot import FileManager, HubSpotMediaBackend, check_hubspot_media
from connector.media.urls import (
    UnsafeFormulaError,
    build_image_formula,
    build_image_formulas,
    check_public_base_url,
    get_image_formula_columns,
    parse_media_name,
)
from connector.store import Media, Store

__all__ = [
    "IMAGE_TYPES",
    "ImageExpiredError",
    "ImageFetchError",
    "ImageTooLargeError",
    "LocalMediaBackend",
    "MediaBackend",
    "MediaError",
    "MediaStore",
    "MediaUnavailableError",
    "NotAnImageError",
    "UnsafeFormulaError",
    "build_image_formula",
    "build_image_formulas",
    "build_media_store",
    "format_size",
    "get_image_formula_columns",
    "get_media_base_url",
    "get_media_directory",
    "get_media_url_prefix",
    "parse_media_name",
]

log = logging.getLogger(__name__)

RECENT_URLS = 4096


class MediaBackend(Protocol):
    """Where the bytes live. Implement these three methods to add a store (e.g. S3).

    ``put`` must be idempotent per ``content_hash`` (a second call keeps one copy and returns
    the same URL); the URL it returns is written into sheets and CRM records, so it must be
    public and permanent.
    """

    def put(self, content_hash: str, ext: str, data: bytes, content_type: str) -> str:
        """Store the bytes (once per hash) and return their public URL."""
        ...

    def exists(self, content_hash: str, ext: str) -> bool:
        """Whether the file is stored."""
        ...

    def delete(self, content_hash: str, ext: str) -> bool:
        """Remove the file; False when it was not there."""
        ...


class LocalMediaBackend:
    """Files named ``<hash>.<ext>`` in one directory, served by the web app under ``/media/``."""

    def __init__(self, directory: str | os.PathLike[str], public_base_url: str | None) -> None:
        self.directory = Path(directory)
        self.public_base_url = (
            check_public_base_url(public_base_url) if public_base_url is not None else None
        )

    def path_for(self, content_hash: str, ext: str) -> Path:
        """The file's path (the name is validated, so no path tricks)."""
        name = f"{content_hash}.{ext}"
        parse_media_name(name)
        return self.directory / name

    def url_for(self, content_hash: str, ext: str) -> str:
        """The file's public URL."""
        if self.public_base_url is None:
            raise MediaUnavailableError(
                "rehosted pictures need a public URL: set public_base_url "
                "(or media.public_base_url)"
            )
        parse_media_name(f"{content_hash}.{ext}")
        return f"{self.public_base_url}/{content_hash}.{ext}"

    def put(self, content_hash: str, ext: str, data: bytes, content_type: str) -> str:
        """Write the file atomically unless it is already there."""
        url = self.url_for(content_hash, ext)
        path = self.path_for(content_hash, ext)
        if path.is_file() and path.stat().st_size == len(data):
            return url
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.chmod(temp, 0o644)
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise MediaUnavailableError(
                f"cannot write {path.name} into {self.directory}: {exc.strerror or exc}"
            ) from exc
        return url

    def exists(self, content_hash: str, ext: str) -> bool:
        """Whether the file is in the directory."""
        return self.path_for(content_hash, ext).is_file()

    def delete(self, content_hash: str, ext: str) -> bool:
        """Remove the file; False when it was not there."""
        try:
            self.path_for(content_hash, ext).unlink()
        except FileNotFoundError:
            return False
        return True


class MediaStore:
    """Rehosting: download, check, store once per content hash, remember who points at it."""

    def __init__(
        self,
        backend: MediaBackend,
        store: Store,
        fetcher: ImageFetcher,
        settings: MediaSettings,
        *,
        problem: str | None = None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.fetcher = fetcher
        self.settings = settings
        self.problem = problem
        # A signed URL always names the same bytes: remembering it saves a download for
        # duplicate rows and outlives the link's expiry when a cached profile is mapped again.
        self._recent: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def url_prefix(self) -> str | None:
        """``<base>/`` every URL of a local backend starts with (None for other backends)."""
        if isinstance(self.backend, LocalMediaBackend) and self.backend.public_base_url:
            return self.backend.public_base_url + "/"
        return None

    def rehost(self, url: str, *, source: str, identity: str) -> str:
        """The permanent URL of the picture at ``url``; a ``MediaError`` says why not."""
        if self.problem:
            raise MediaUnavailableError(self.problem)
        known = self._get_recent(url)
        if known is not None:
            content_hash, public_url = known
            self.store.add_media_ref(content_hash, source, identity)
            return public_url
        image = self.fetcher.fetch_image(url)
        content_hash, ext, public_url = self._save(image.data, image.declared_type)
        self.store.add_media_ref(content_hash, source, identity)
        with self._lock:
            self._recent[url] = (content_hash, ext, public_url)
            while len(self._recent) > RECENT_URLS:
                self._recent.popitem(last=False)
        return public_url

    def save_image(self, data: bytes, *, source: str, identity: str, declared: str = "") -> str:
        """Store checked image bytes for ``identity`` of ``source`` and return their URL."""
        content_hash, _ext, public_url = self._save(data, declared)
        self.store.add_media_ref(content_hash, source, identity)
        return public_url

    def _save(self, data: bytes, declared: str) -> tuple[str, str, str]:
        kind = check_image(data, declared)
        content_hash = hashlib.sha256(data).hexdigest()
        try:
            public_url = self.backend.put(content_hash, kind.ext, data, kind.content_type)
        except MediaError:
            raise
        except ConnectorError as exc:
            raise MediaUnavailableError(f"could not store the picture: {exc.message}") from exc
        self.store.save_media(content_hash, kind.ext, kind.content_type, len(data))
        return content_hash, kind.ext, public_url

    def _get_recent(self, url: str) -> tuple[str, str] | None:
        with self._lock:
            found = self._recent.get(url)
            if found is not None:
                self._recent.move_to_end(url)
        if found is None:
            return None
        content_hash, ext, public_url = found
        # `connector media gc` may have removed it since; then download again.
        try:
            still_there = self.store.get_media(content_hash) is not None and self.backend.exists(
                content_hash, ext
            )
        except ConnectorError:
            still_there = False
        if not still_there:
            with self._lock:
                self._recent.pop(url, None)
            return None
        return content_hash, public_url

    def fetch_garbage(self, *, older_than: timedelta | None = None) -> list[Media]:
        """Stored pictures no record references, first stored over ``older_than`` ago."""
        if older_than is None:
            older_than = timedelta(days=self.settings.retention_days)
        return self.store.fetch_unreferenced_media(older_than)

    def collect_garbage(self, *, older_than: timedelta | None = None) -> int:
        """Delete pictures no record references any more (``connector media gc``); returns how many.

        The database row goes first and only while still unreferenced, so a picture a record
        points at again meanwhile is kept; files whose removal fails are recorded again.
        """
        deleted = 0
        for item in self.fetch_garbage(older_than=older_than):
            if not self.store.delete_media(item.content_hash):
                continue
            try:
                self.backend.delete(item.content_hash, item.ext)
            except Exception:
                # Recorded again, so the next run retries instead of orphaning the file.
                self.store.save_media(item.content_hash, item.ext, item.content_type, item.size)
                raise
            deleted += 1
        log.info("media garbage collected", extra={"deleted": deleted})
        return deleted

    def close(self) -> None:
        """Release the download client."""
        self.fetcher.close()


def get_media_directory(settings: Settings) -> Path:
    """``media.directory``, or ``<data_dir>/media``."""
    return Path(settings.media.directory or Path(settings.data_dir) / "media")


def get_media_base_url(settings: Settings) -> str | None:
    """``media.public_base_url``, or ``public_base_url`` + ``/media`` (None when neither is set)."""
    if settings.media.public_base_url:
        return settings.media.public_base_url.rstrip("/")
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + "/media"
    return None


def get_media_url_prefix(settings: Settings) -> str | None:
    """``<media base URL>/`` when the local backend serves pictures (for ``image_formula``)."""
    base_url = get_media_base_url(settings)
    if settings.media.backend != "local" or base_url is None:
        return None
    try:
        return check_public_base_url(base_url) + "/"
    except ValueError:
        return None


def build_media_store(
    settings: Settings, store: Store, *, files: Callable[[], FileManager] | None = None
) -> MediaStore | None:
    """The media store for ``media.backend`` (None when ``none``).

    ``files`` builds the HubSpot file manager client, for the ``hubspot`` backend.

    A misconfigured store is still returned, with ``problem`` set: every ``rehost`` then fails
    with that message in the row's error column instead of stopping the run.
    """
    media = settings.media
    if media.backend == "none":
        return None
    problem: str | None = None
    backend: MediaBackend
    if media.backend == "hubspot":
        problem = check_hubspot_media(settings)
        if files is None:
            problem = problem or "media.backend is hubspot but no HubSpot client is configured"
            backend = LocalMediaBackend(get_media_directory(settings), None)
        else:
            backend = HubSpotMediaBackend(files(), folder=media.hubspot_folder)
    else:
        base_url = get_media_base_url(settings)
        try:
            backend = LocalMediaBackend(get_media_directory(settings), base_url)
        except ValueError as exc:
            backend, problem = LocalMediaBackend(get_media_directory(settings), None), str(exc)
        if base_url is None:
            problem = (
                "rehosted pictures need a public URL: set public_base_url (or "
                "media.public_base_url) to the address the web app is reachable at"
            )
    if problem:
        log.warning("media storage not usable: %s", problem)
    fetcher = ImageFetcher(
        max_bytes=media.max_bytes, timeout=media.timeout, allowed_hosts=media.allowed_hosts
    )
    return MediaStore(backend, store, fetcher, media, problem=problem)
