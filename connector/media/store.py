"""Rehosted profile pictures: fetched once, stored per content hash, linked by a permanent URL."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from connector.config import SERVED_MEDIA_BACKENDS, MediaSettings, Settings
from connector.errors import ConnectorError
from connector.media.base import MediaBackend, ServedBackend
from connector.media.database import DatabaseMediaBackend
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
from connector.media.local import LocalMediaBackend
from connector.media.s3 import S3MediaBackend, build_s3_client
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
    "SERVED_BACKENDS",
    "DatabaseMediaBackend",
    "ImageExpiredError",
    "ImageFetchError",
    "ImageTooLargeError",
    "LocalMediaBackend",
    "MediaBackend",
    "MediaError",
    "MediaStore",
    "MediaUnavailableError",
    "NotAnImageError",
    "S3MediaBackend",
    "ServedBackend",
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
SERVED_BACKENDS = SERVED_MEDIA_BACKENDS


class MediaStore:
    """Rehosting: download, check, store once per content hash, remember who points at it.

    ``fallbacks`` are read-only older homes of pictures (the local directory, after a switch to
    the database or a bucket): the web app still serves what they hold, and garbage collection
    deletes from them too.
    """

    def __init__(
        self,
        backend: MediaBackend,
        store: Store,
        fetcher: ImageFetcher,
        settings: MediaSettings,
        *,
        problem: str | None = None,
        fallbacks: Sequence[MediaBackend] = (),
    ) -> None:
        self.backend = backend
        self.store = store
        self.fetcher = fetcher
        self.settings = settings
        self.problem = problem
        self.fallbacks = list(fallbacks)
        # A signed URL always names the same bytes: remembering it saves a download for
        # duplicate rows and outlives the link's expiry when a cached profile is mapped again.
        self._recent: OrderedDict[str, tuple[str, str, str]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def served(self) -> bool:
        """Whether the web app serves these pictures itself (not HubSpot's file manager)."""
        return isinstance(self.backend, ServedBackend)

    @property
    def url_prefix(self) -> str | None:
        """``<base>/`` every URL of a served backend starts with (None for other backends)."""
        if isinstance(self.backend, ServedBackend) and self.backend.public_base_url:
            return self.backend.public_base_url + "/"
        return None

    def fetch(self, content_hash: str, ext: str) -> bytes | None:
        """The bytes the web app serves for ``<hash>.<ext>``, or None when no backend has them."""
        for backend in (self.backend, *self.fallbacks):
            if isinstance(backend, ServedBackend):
                data = backend.fetch(content_hash, ext)
                if data is not None:
                    return data
        return None

    def check(self) -> None:
        """Raise a ``ConnectorError`` when the backend's storage does not answer."""
        if isinstance(self.backend, ServedBackend):
            self.backend.check()

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
        points at again meanwhile is kept; the bytes go from the backend and every fallback,
        and pictures whose removal fails are recorded again.
        """
        deleted = 0
        for item in self.fetch_garbage(older_than=older_than):
            if not self.store.delete_media(item.content_hash):
                continue
            try:
                for backend in (self.backend, *self.fallbacks):
                    backend.delete(item.content_hash, item.ext)
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
    """``<media base URL>/`` when the web app serves the pictures (for ``image_formula``)."""
    base_url = get_media_base_url(settings)
    if settings.media_backend not in SERVED_BACKENDS or base_url is None:
        return None
    try:
        return check_public_base_url(base_url) + "/"
    except ValueError:
        return None


NO_PUBLIC_URL = (
    "rehosted pictures need a public URL: set public_base_url (or "
    "media.public_base_url) to the address the web app is reachable at"
)


def build_media_store(
    settings: Settings, store: Store, *, files: Callable[[], FileManager] | None = None
) -> MediaStore | None:
    """The media store for ``media.backend`` (None when ``none``).

    ``files`` builds the HubSpot file manager client, for the ``hubspot`` backend.

    A misconfigured store is still returned, with ``problem`` set: every ``rehost`` then fails
    with that message in the row's error column instead of stopping the run.
    """
    media = settings.media
    name = settings.media_backend
    if name == "none":
        return None
    directory = get_media_directory(settings)
    problem: str | None = None
    backend: MediaBackend
    fallbacks: list[MediaBackend] = []
    if name == "hubspot":
        problem = check_hubspot_media(settings)
        if files is None:
            problem = problem or "media.backend is hubspot but no HubSpot client is configured"
            backend = LocalMediaBackend(directory, None)
        else:
            backend = HubSpotMediaBackend(files(), folder=media.hubspot_folder)
    else:
        base_url = get_media_base_url(settings)
        try:
            backend = _build_served(name, settings, store, base_url)
        except ValueError as exc:
            # A bad public URL only stops new pictures: the stored ones are still served.
            problem = str(exc)
            try:
                backend = _build_served(name, settings, store, None)
            except (ValueError, ConnectorError):
                backend = LocalMediaBackend(directory, None)
        except ConnectorError as exc:
            backend, problem = LocalMediaBackend(directory, None), exc.message
        if base_url is None:
            problem = problem or NO_PUBLIC_URL
        if name != "local":
            # Pictures rehosted before a switch away from the local directory stay reachable.
            fallbacks.append(LocalMediaBackend(directory, None))
    if problem:
        log.warning("media storage not usable: %s", problem)
    fetcher = ImageFetcher(
        max_bytes=media.max_bytes, timeout=media.timeout, allowed_hosts=media.allowed_hosts
    )
    return MediaStore(backend, store, fetcher, media, problem=problem, fallbacks=fallbacks)


def _build_served(
    name: str, settings: Settings, store: Store, base_url: str | None
) -> MediaBackend:
    if name == "database":
        return DatabaseMediaBackend(store, base_url)
    if name == "s3":
        if not settings.media.s3.bucket:
            raise ConnectorError("media.backend is s3 but media.s3.bucket is not set")
        return S3MediaBackend(build_s3_client(settings.media.s3), settings.media.s3, base_url)
    return LocalMediaBackend(get_media_directory(settings), base_url)
