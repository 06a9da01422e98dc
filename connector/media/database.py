"""The ``database`` media backend: picture bytes in the state store, served by any web process."""

from __future__ import annotations

from connector.media.base import MediaUrls
from connector.store import Store


class DatabaseMediaBackend(MediaUrls):
    """Bytes in the ``media_blobs`` table; the URLs are the web app's ``/media/<hash>.<ext>``.

    Web and worker share the database anyway, so nothing else needs to be shared: no volume,
    no bucket. Pictures are small (``media.max_bytes``) and stored once per content hash.
    """

    def __init__(self, store: Store, public_base_url: str | None) -> None:
        super().__init__(public_base_url)
        self.store = store

    def put(self, content_hash: str, ext: str, data: bytes, content_type: str) -> str:
        """Keep the bytes unless the same hash is kept already."""
        url = self.url_for(content_hash, ext)
        if not self.store.has_media_blob(content_hash):
            self.store.save_media_blob(content_hash, data)
        return url

    def exists(self, content_hash: str, ext: str) -> bool:
        """Whether the bytes are kept."""
        return self.store.has_media_blob(content_hash)

    def delete(self, content_hash: str, ext: str) -> bool:
        """Drop the bytes; False when they were not kept."""
        return self.store.delete_media_blob(content_hash)

    def fetch(self, content_hash: str, ext: str) -> bytes | None:
        """The kept bytes, or None."""
        return self.store.get_media_blob(content_hash)

    def check(self) -> None:
        """Nothing beyond the database, which readiness checks on its own."""
