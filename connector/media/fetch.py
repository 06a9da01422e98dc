"""Downloading a profile picture within bounds and telling real images from look-alikes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from connector.errors import RowError, TransientError
from connector.media.guard import (
    GuardedBackend,
    GuardedTransport,
    RefusedAddressError,
    Resolver,
    fetch_addresses,
)
from connector.retry import RetryPolicy, call_with_retries

MAX_REDIRECTS = 3
FETCH_RETRY = RetryPolicy(attempts=3, wait_initial=0.5, wait_max=5.0, wait_jitter=0.5, timeout=60.0)
IMAGE_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
_HEADERS = {
    "Accept": "image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1",
    # Compressed bodies would let a small download expand past the size cap in memory.
    "Accept-Encoding": "identity",
    "User-Agent": "connector-media/1",
}


class MediaError(RowError):
    """A picture could not be rehosted; the field gets its fallback and the row says why."""


class ImageExpiredError(MediaError):
    """The signed picture URL answered 401/403/404/410: it expired or is gone."""


class ImageFetchError(MediaError):
    """The picture could not be downloaded (bad URL, timeout, network, 429/5xx)."""


class NotAnImageError(MediaError):
    """The bytes are not a JPEG, PNG, WebP or GIF image, whatever the server claimed."""


class PictureURLRefusedError(MediaError):
    """The link leads to a non-public address or an unusable scheme (possible SSRF).

    The row says only "picture URL refused": whether an internal host, port or path exists is
    none of its business (the log has the host).
    """

    def __init__(self) -> None:
        super().__init__("picture URL refused")


class ImageTooLargeError(MediaError):
    """The picture is larger than ``media.max_bytes``."""


class MediaUnavailableError(MediaError):
    """Media storage is misconfigured or failed to keep the picture."""


@dataclass(frozen=True)
class ImageKind:
    """A stored image format: file extension and content type."""

    ext: str
    content_type: str


@dataclass(frozen=True)
class FetchedImage:
    """Downloaded bytes and the content type the server declared (not trusted)."""

    data: bytes
    declared_type: str


def sniff_image(data: bytes) -> ImageKind | None:
    """The image format from the magic bytes: JPEG, PNG, GIF or WebP; ``None`` for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return ImageKind("jpg", IMAGE_TYPES["jpg"])
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ImageKind("png", IMAGE_TYPES["png"])
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ImageKind("gif", IMAGE_TYPES["gif"])
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageKind("webp", IMAGE_TYPES["webp"])
    return None


def sniff_other(data: bytes) -> str | None:
    """What non-image bytes look like (``text/html``, ``image/svg+xml``…); None when unknown."""
    if not data:
        return "empty response"
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    checks = (
        (b"<svg" in head, "image/svg+xml"),
        (head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")), "text/html"),
        (b"<html" in head, "text/html"),
        (head.startswith(b"<"), "application/xml"),
        (head.startswith((b"{", b"[")), "application/json"),
        (head.startswith(b"%pdf"), "application/pdf"),
        (data[4:12] in (b"ftypavif", b"ftypavis"), "image/avif"),
        (data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"), "image/heic"),
        (data.startswith(b"BM"), "image/bmp"),
        (data[:4] in (b"II*\x00", b"MM\x00*"), "image/tiff"),
    )
    for matched, kind in checks:
        if matched:
            return kind
    return None


def check_image(data: bytes, declared: str = "") -> ImageKind:
    """The image format of ``data``; ``NotAnImageError`` naming what it really is otherwise."""
    kind = sniff_image(data)
    if kind is not None:
        return kind
    other = sniff_other(data)
    if other is None:
        served = f" served as {declared}" if declared else ""
        raise NotAnImageError(f"not an image (unrecognised content{served})")
    if other.startswith("image/"):
        raise NotAnImageError(
            f"unsupported image format ({other}): only JPEG, PNG, WebP and GIF are kept"
        )
    raise NotAnImageError(f"not an image ({other})")


def format_size(size: int) -> str:
    """``5000000`` → ``5 MB``, ``1536`` → ``1.5 kB`` (decimal units, as browsers show them)."""
    for unit, factor in (("MB", 1_000_000), ("kB", 1_000)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


class ImageFetcher:
    """GETs a picture over http(s) with a total deadline, a byte cap and few redirects.

    Connections go through the fetch guard (``connector.media.guard``): only public addresses,
    or hosts named in ``allowed_hosts``, and each redirect hop is checked again.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout: float,
        max_redirects: int = MAX_REDIRECTS,
        retry: RetryPolicy = FETCH_RETRY,
        allowed_hosts: Iterable[str] = (),
        resolve: Resolver = fetch_addresses,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.retry = retry
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers=_HEADERS,
            trust_env=False,
            transport=GuardedTransport(GuardedBackend(allowed_hosts, resolve)),
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def __enter__(self) -> ImageFetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def fetch_image(self, url: str) -> FetchedImage:
        """Download ``url``; raise a ``MediaError`` subclass with a message for the row.

        A busy or failing picture server (429, 5xx, network errors, timeouts) is tried again a
        few times before the row is told to re-enrich.
        """
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ImageFetchError("the profile picture link is not an http(s) URL")
        try:
            return call_with_retries(
                lambda: self._follow(url.strip()), policy=self.retry, what="picture download"
            )
        except _ServerBusy as exc:
            raise exc.row_error from exc

    def _follow(self, url: str) -> FetchedImage:
        for _hop in range(self.max_redirects + 1):
            image, url = self._download(url)
            if image is not None:
                return image
        raise ImageFetchError("the profile picture link redirects too often")

    def _download(self, url: str) -> tuple[FetchedImage | None, str]:
        """The picture, or ``None`` and the URL a redirect points to (checked before use)."""
        try:
            with self._client.stream("GET", url) as response:
                if response.next_request is not None:
                    target = response.next_request.url
                    if target.scheme not in ("http", "https") or not target.host:
                        raise PictureURLRefusedError()
                    return None, str(target)
                _check_status(response.status_code)
                declared = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > self.max_bytes:
                    raise self._too_large()
                return FetchedImage(self._read(response), declared), url
        except RefusedAddressError as exc:
            raise PictureURLRefusedError() from exc
        except httpx.TimeoutException as exc:
            raise _ServerBusy(self._timed_out()) from exc
        except httpx.HTTPError as exc:
            raise _ServerBusy(
                ImageFetchError(
                    f"could not download the profile picture ({type(exc).__name__}) — "
                    "re-enrich to retry"
                )
            ) from exc

    def _read(self, response: httpx.Response) -> bytes:
        # httpx times each read, not the whole body: a trickling server needs a deadline. No
        # chunk size: httpx would buffer up to it before yielding, hiding both cap and deadline.
        deadline = time.monotonic() + self.timeout
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                raise self._too_large()
            if time.monotonic() > deadline:
                raise self._timed_out()
        return bytes(body)

    def _too_large(self) -> ImageTooLargeError:
        return ImageTooLargeError(f"image too large (> {format_size(self.max_bytes)})")

    def _timed_out(self) -> ImageFetchError:
        return ImageFetchError(
            f"the profile picture download took over {self.timeout:g} s — re-enrich to retry"
        )


class _ServerBusy(TransientError):
    """A download failure worth another try; ``row_error`` is what the row shows if none works."""

    def __init__(self, row_error: ImageFetchError) -> None:
        super().__init__(row_error.message)
        self.row_error = row_error


def _check_status(status: int) -> None:
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise ImageExpiredError(
            f"profile picture link expired ({status}) — re-enrich to refresh it"
        )
    if status in (404, 410):
        raise ImageExpiredError(
            f"profile picture link is gone ({status}) — re-enrich to refresh it"
        )
    if status == 429 or status >= 500:
        raise _ServerBusy(
            ImageFetchError(f"the picture server answered {status} — re-enrich to retry")
        )
    raise ImageFetchError(f"the picture server refused the download ({status})")
