"""``GET /media/<hash>.<ext>``: stored pictures served read-only with their type, nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from connector.config import parse_settings
from connector.sandbox.images import build_jpeg, build_png
from connector.services import Services, build_services
from connector.web.context import install_services
from connector.web.errors import register_error_handlers
from connector.web.media import bp

GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00"
    b"\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)
NOT_FOUND = {"ok": False, "error": "not found", "status": 404}


def build(tmp_path: Path, **media: Any) -> Services:
    data = {
        "data_dir": str(tmp_path),
        "public_base_url": "https://connector.example.com",
        "media": media,
    }
    return build_services(parse_settings(data, environ={}))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    built = build(tmp_path)
    yield built
    built.close()


def client_for(services: Services) -> FlaskClient:
    app = Flask("media-test")
    install_services(app, services)
    register_error_handlers(app)
    app.register_blueprint(bp)
    return app.test_client()


def save(services: Services, data: bytes) -> str:
    url = services.media.save_image(data, source="leads", identity="instagram:jane")
    return "/media/" + url.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (build_png(b"png-seed" * 4), "image/png"),
        (build_jpeg((200, 30, 90)), "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
    ],
)
def test_a_stored_picture_is_served_with_its_recorded_type(
    services: Services, data: bytes, content_type: str
) -> None:
    path = save(services, data)
    with client_for(services).get(path) as response:
        assert response.status_code == 200
        assert response.get_data() == data
        assert response.headers["Content-Type"] == content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


def test_conditional_and_head_requests_are_answered(services: Services) -> None:
    path = save(services, build_png(b"etag" * 8))
    client = client_for(services)
    with client.get(path) as first:
        etag = first.headers["ETag"]
    with client.get(path, headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304
    with client.head(path) as head:
        assert head.status_code == 200 and head.get_data() == b""
        assert head.headers["Content-Type"] == "image/png"


@pytest.mark.parametrize(
    "path",
    [
        "/media/" + "A" * 64 + ".png",
        "/media/" + "a" * 63 + ".png",
        "/media/" + "a" * 64 + ".svg",
        "/media/" + "a" * 64 + ".PNG",
        "/media/" + "a" * 64 + ".png",  # on disk but never recorded
        "/media/..%2Fconnector.db",
        "/media/connector.db",
        "/media/",
    ],
)
def test_anything_but_a_stored_picture_is_a_json_404(services: Services, path: str) -> None:
    directory = Path(services.settings.data_dir) / "media"
    directory.mkdir()
    (directory / ("a" * 64 + ".png")).write_bytes(build_png(b"x" * 8))
    with client_for(services).get(path) as response:
        assert response.status_code == 404
        assert response.get_json() == NOT_FOUND


def test_a_picture_is_served_only_under_its_own_extension(services: Services) -> None:
    path = save(services, build_png(b"ext" * 8))
    client = client_for(services)
    with client.get(path.replace(".png", ".jpg")) as response:
        assert response.status_code == 404
    with client.post(path) as response:
        assert response.status_code == 405


def test_a_recorded_picture_missing_from_disk_is_a_404(services: Services) -> None:
    path = save(services, build_png(b"gone" * 8))
    (Path(services.settings.data_dir) / path.lstrip("/")).unlink()
    with client_for(services).get(path) as response:
        assert response.status_code == 404


def test_nothing_is_served_when_pictures_live_elsewhere(tmp_path: Path) -> None:
    local = build(tmp_path)
    path = save(local, build_png(b"else" * 8))
    local.close()
    hubspot = build(tmp_path, backend="hubspot")
    try:
        with client_for(hubspot).get(path) as response:
            assert response.status_code == 404
    finally:
        hubspot.close()
