"""Downloading pictures within bounds and reading their type from the bytes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from flask import Flask, Response, redirect, request

from connector.media.fetch import (
    ImageFetcher,
    ImageFetchError,
    ImageTooLargeError,
    MediaError,
    NotAnImageError,
    check_image,
    format_size,
    sniff_image,
)
from connector.sandbox.images import build_png
from connector.sandbox.server import LoopbackServer

PNG = build_png(b"seed" * 8)


@pytest.fixture(scope="module")
def awkward() -> Iterator[str]:
    """A loopback server doing what the sandbox does not: chunked bodies, loops, trickles."""
    app = Flask("awkward")

    @app.get("/chunked/<int:size>")
    def chunked(size: int) -> Response:
        def body() -> Iterator[bytes]:
            yield PNG
            for _ in range(size // 1024):
                yield b"\0" * 1024

        return Response(body(), content_type="image/png")

    @app.get("/sized/<int:size>")
    def sized(size: int) -> Response:
        return Response(PNG + b"\0" * size, content_type="image/png")

    @app.get("/loop/<int:n>")
    def loop(n: int) -> Response:
        return redirect(f"/loop/{n + 1}")

    @app.get("/hop/<int:n>")
    def hop(n: int) -> Response:
        target = request.args["to"]
        return redirect(f"/hop/{n - 1}?to={quote(target, safe='')}" if n > 1 else target)

    @app.get("/trickle")
    def trickle() -> Response:
        def body() -> Iterator[bytes]:
            yield PNG
            for _ in range(40):
                time.sleep(0.1)
                yield b"\0"

        return Response(body(), content_type="image/png")

    @app.get("/status/<int:code>")
    def status(code: int) -> Response:
        return Response(b"<Error/>", status=code, content_type="application/xml")

    with LoopbackServer(app) as server:
        yield server.url


@pytest.fixture
def fetcher() -> Iterator[ImageFetcher]:
    with ImageFetcher(max_bytes=4096, timeout=1, allowed_hosts=["127.0.0.1"]) as built:
        yield built


def test_a_picture_is_downloaded_whole(awkward: str, fetcher: ImageFetcher) -> None:
    image = fetcher.fetch_image(f"{awkward}/chunked/1024")
    assert image.data == PNG + b"\0" * 1024
    assert image.declared_type == "image/png"


@pytest.mark.parametrize("route", ["chunked", "sized"])
def test_the_byte_cap_holds_with_or_without_a_content_length(
    awkward: str, fetcher: ImageFetcher, route: str
) -> None:
    with pytest.raises(ImageTooLargeError, match=r"^image too large \(> 4.1 kB\)$"):
        fetcher.fetch_image(f"{awkward}/{route}/100000")


def test_a_trickling_download_hits_the_total_deadline(awkward: str, fetcher: ImageFetcher) -> None:
    started = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"took over 1 s — re-enrich to retry"):
        fetcher.fetch_image(f"{awkward}/trickle")
    assert time.monotonic() - started < 2.5


def test_redirects_are_followed_a_few_times_only(awkward: str, fetcher: ImageFetcher) -> None:
    target = quote(f"{awkward}/chunked/0", safe="")
    assert fetcher.fetch_image(f"{awkward}/hop/3?to={target}").data == PNG
    with pytest.raises(ImageFetchError, match="redirects too often"):
        fetcher.fetch_image(f"{awkward}/hop/4?to={target}")
    with pytest.raises(ImageFetchError, match="redirects too often"):
        fetcher.fetch_image(f"{awkward}/loop/0")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (401, "profile picture link expired (401) — re-enrich to refresh it"),
        (403, "profile picture link expired (403) — re-enrich to refresh it"),
        (404, "profile picture link is gone (404) — re-enrich to refresh it"),
        (410, "profile picture link is gone (410) — re-enrich to refresh it"),
        (429, "the picture server answered 429 — re-enrich to retry"),
        (503, "the picture server answered 503 — re-enrich to retry"),
        (400, "the picture server refused the download (400)"),
    ],
)
def test_statuses_become_row_messages(
    awkward: str, fetcher: ImageFetcher, code: int, message: str
) -> None:
    with pytest.raises(MediaError) as caught:
        fetcher.fetch_image(f"{awkward}/status/{code}")
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/a.png", "javascript:alert(1)", "//x/y.png", ""],
)
def test_only_http_links_are_fetched(fetcher: ImageFetcher, url: str) -> None:
    with pytest.raises(ImageFetchError, match="not an http"):
        fetcher.fetch_image(url)


def test_an_unreachable_host_is_a_row_error(fetcher: ImageFetcher) -> None:
    with pytest.raises(ImageFetchError, match="could not download the profile picture"):
        fetcher.fetch_image("http://127.0.0.1:9/pic.jpg")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0rest", "jpg"),
        (b"\x89PNG\r\n\x1a\nrest", "png"),
        (b"GIF89a...", "gif"),
        (b"GIF87a...", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"\x89PNG\r\n", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"", None),
    ],
)
def test_sniffing_reads_the_magic_bytes(data: bytes, expected: str | None) -> None:
    kind = sniff_image(data)
    assert (kind.ext if kind else None) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"  <!DOCTYPE html><html></html>", "not an image (text/html)"),
        (b'{"error": "denied"}', "not an image (application/json)"),
        (b"", "not an image (empty response)"),
        (b"\x00\x01garbage", "not an image (unrecognised content served as image/jpeg)"),
        (b"<?xml version='1.0'?><svg/>", "unsupported image format (image/svg+xml)"),
        (b"\x00\x00\x00\x1cftypavif", "unsupported image format (image/avif)"),
    ],
)
def test_refusals_name_what_the_bytes_are(data: bytes, message: str) -> None:
    with pytest.raises(NotAnImageError) as caught:
        check_image(data, "image/jpeg")
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("size", "text"), [(5_000_000, "5 MB"), (5_242_880, "5.2 MB"), (2048, "2 kB"), (10, "10 bytes")]
)
def test_sizes_read_like_a_browser_shows_them(size: int, text: str) -> None:
    assert format_size(size) == text
