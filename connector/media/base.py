"""What a media backend is: where picture bytes live, and which of them the web app serves."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from connector.media.fetch import MediaUnavailableError
from connector.media.urls import check_public_base_url, parse_media_name


class MediaBackend(Protocol):
    """Where the bytes live. Implement these three methods to add a store.

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


@runtime_checkable
class ServedBackend(Protocol):
    """A backend whose pictures the web app serves itself at ``/media/<hash>.<ext>``."""

    public_base_url: str | None

    def fetch(self, content_hash: str, ext: str) -> bytes | None:
        """The stored bytes, or None when they are not there."""
        ...

    def check(self) -> None:
        """Raise a ``ConnectorError`` when the storage cannot be reached (readiness)."""
        ...


class MediaUrls:
    """``<public base URL>/<hash>.<ext>``: the permanent URLs of the pictures the app serves."""

    def __init__(self, public_base_url: str | None) -> None:
        self.public_base_url = (
            check_public_base_url(public_base_url) if public_base_url is not None else None
        )

    def url_for(self, content_hash: str, ext: str) -> str:
        """The picture's public URL; ``MediaUnavailableError`` without a public base URL."""
        if self.public_base_url is None:
            raise MediaUnavailableError(
                "rehosted pictures need a public URL: set public_base_url "
                "(or media.public_base_url)"
            )
        parse_media_name(f"{content_hash}.{ext}")
        return f"{self.public_base_url}/{content_hash}.{ext}"
