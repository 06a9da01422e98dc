"""The ``database`` and ``s3`` media backends: any web process serves what any worker stored.

The S3 backend is tested against moto's S3 server started as a real process on a loopback port,
through boto3 over real HTTP.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from flask.testing import FlaskClient

from connector.config import S3MediaSettings, Settings, parse_settings
from connector.errors import ConnectorError, TransientError
from connector.media.s3 import S3MediaBackend, build_s3_client
from connector.media.store import DatabaseMediaBackend, LocalMediaBackend
from connector.sandbox.images import build_jpeg, build_png
from connector.services import Services, build_services
from connector.web import create_app

BASE = "https://connector.example.com"
BUCKET = "connector-pictures"
KEYS = {"access_key_id": "testing-key", "secret_access_key": "testing-secret"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    """moto's S3 server, a separate process on a loopback port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bucket(s3_url: str) -> Iterator[str]:
    """An empty bucket, removed with its objects afterwards."""
    client = raw_client(s3_url)
    client.create_bucket(Bucket=BUCKET)
    yield BUCKET
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def raw_client(s3_url: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3_url,
        region_name="us-east-1",
        aws_access_key_id=KEYS["access_key_id"],
        aws_secret_access_key=KEYS["secret_access_key"],
    )


def s3_settings(s3_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "bucket": BUCKET,
        "endpoint_url": s3_url,
        "region": "us-east-1",
        "prefix": "pictures/",
        **KEYS,
        **overrides,
    }


def settings_for(data_dir: Path, **data: Any) -> Settings:
    return parse_settings({"data_dir": str(data_dir), "public_base_url": BASE, **data}, environ={})


def web_client(services: Services) -> FlaskClient:
    return create_app(services=services).test_client()


def media_path(url: str) -> str:
    assert url.startswith(f"{BASE}/media/")
    return "/media/" + url.rsplit("/", 1)[1]


def assert_served(client: FlaskClient, path: str, data: bytes, content_type: str) -> None:
    with client.get(path) as response:
        assert response.status_code == 200
        assert response.get_data() == data
        assert response.headers["Content-Type"] == content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        etag = response.headers["ETag"]
    with client.get(path, headers={"If-None-Match": etag}) as again:
        assert again.status_code == 304


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        (None, "local"),
        ("sqlite:////tmp/connector.db", "local"),
        ("postgres://u@db.internal/app", "database"),
        ("postgresql+psycopg://u@db.internal/app", "database"),
    ],
)
def test_auto_keeps_pictures_in_the_database_with_postgresql(
    database: str | None, expected: str
) -> None:
    settings = parse_settings({"database_url": database}, environ={})
    assert settings.media.backend == "auto"
    assert settings.media_backend == expected


def test_an_explicit_backend_wins_over_auto() -> None:
    settings = parse_settings(
        {"database_url": "postgres://u@db/app", "media": {"backend": "local"}}, environ={}
    )
    assert settings.media_backend == "local"


def test_a_web_process_with_another_data_dir_serves_what_the_worker_stored(
    tmp_path: Path, database_url: str
) -> None:
    """Worker and web share only the database: no volume, no directory."""
    worker = build_services(
        settings_for(tmp_path / "worker", database_url=database_url, media={"backend": "database"})
    )
    web = build_services(
        settings_for(tmp_path / "web", database_url=database_url, media={"backend": "database"})
    )
    try:
        assert isinstance(worker.media.backend, DatabaseMediaBackend)
        png, jpeg = build_png(b"db-png" * 4), build_jpeg((10, 200, 30))
        png_url = worker.media.save_image(png, source="leads", identity="a")
        jpeg_url = worker.media.save_image(jpeg, source="leads", identity="b")
        assert not (tmp_path / "worker" / "media").exists()
        client = web_client(web)
        assert_served(client, media_path(png_url), png, "image/png")
        assert_served(client, media_path(jpeg_url), jpeg, "image/jpeg")
        with client.get(media_path(png_url).replace(".png", ".gif")) as wrong_ext:
            assert wrong_ext.status_code == 404
    finally:
        worker.close()
        web.close()


def test_the_same_bytes_are_kept_once_in_the_database(tmp_path: Path, database_url: str) -> None:
    services = build_services(
        settings_for(tmp_path, database_url=database_url, media={"backend": "database"})
    )
    try:
        data = build_png(b"once" * 4)
        first = services.media.save_image(data, source="leads", identity="a")
        second = services.media.save_image(data, source="crm", identity="b")
        assert first == second
        content_hash = first.rsplit("/", 1)[1].split(".")[0]
        assert services.store.get_media_blob(content_hash) == data
        assert services.store.save_media_blob(content_hash, data) is False
    finally:
        services.close()


def collect_all(services: Services, ids: list[tuple[bytes, str]]) -> list[str]:
    """Store pictures 40 days ago, then point every identity at a fresh one; returns old URLs."""
    urls = [services.media.save_image(d, source="leads", identity=i) for d, i in ids]
    for _data, identity in ids:
        services.media.save_image(build_png(b"new" * 8), source="leads", identity=identity)
    return urls


def test_gc_deletes_the_bytes_from_the_database(tmp_path: Path, database_url: str) -> None:
    past = datetime.now(UTC) - timedelta(days=40)
    settings = settings_for(tmp_path, database_url=database_url, media={"backend": "database"})
    old = build_services(settings, clock=lambda: past)
    try:
        (url,) = collect_all(old, [(build_png(b"old" * 8), "a")])
    finally:
        old.close()
    services = build_services(settings)
    try:
        content_hash = url.rsplit("/", 1)[1].split(".")[0]
        assert services.store.has_media_blob(content_hash)
        assert services.media.collect_garbage() == 1
        assert not services.store.has_media_blob(content_hash)
        with web_client(services).get(media_path(url)) as response:
            assert response.status_code == 404
    finally:
        services.close()


def test_pictures_from_the_local_directory_stay_served_and_collected_after_a_switch(
    tmp_path: Path,
) -> None:
    past = datetime.now(UTC) - timedelta(days=40)
    local = build_services(settings_for(tmp_path, media={"backend": "local"}), clock=lambda: past)
    data = build_png(b"before-switch" * 2)
    try:
        kept = local.media.save_image(data, source="leads", identity="a")
        (dropped,) = collect_all(local, [(build_png(b"dropped" * 4), "b")])
    finally:
        local.close()
    services = build_services(settings_for(tmp_path, media={"backend": "database"}))
    try:
        assert isinstance(services.media.fallbacks[0], LocalMediaBackend)
        assert_served(web_client(services), media_path(kept), data, "image/png")
        assert services.media.collect_garbage() == 1
        assert not (tmp_path / "media" / dropped.rsplit("/", 1)[1]).exists()
    finally:
        services.close()


def test_s3_objects_carry_their_type_and_caching(s3_url: str, bucket: str) -> None:
    backend = S3MediaBackend(
        build_s3_client(S3MediaSettings(**s3_settings(s3_url))),
        S3MediaSettings(**s3_settings(s3_url)),
        f"{BASE}/media",
    )
    data = build_png(b"s3" * 16)
    content_hash = "c" * 64
    url = backend.put(content_hash, "png", data, "image/png")
    assert url == f"{BASE}/media/{content_hash}.png"
    assert backend.put(content_hash, "png", data, "image/png") == url
    head = raw_client(s3_url).head_object(Bucket=bucket, Key=f"pictures/{content_hash}.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=31536000, immutable"
    assert backend.exists(content_hash, "png")
    assert backend.fetch(content_hash, "png") == data
    assert backend.fetch("d" * 64, "png") is None
    backend.check()
    assert backend.delete(content_hash, "png") is True
    assert backend.delete(content_hash, "png") is False
    assert not backend.exists(content_hash, "png")


def test_a_web_process_serves_what_the_worker_put_in_the_bucket(
    tmp_path: Path, s3_url: str, bucket: str
) -> None:
    media = {"backend": "s3", "s3": s3_settings(s3_url)}
    past = datetime.now(UTC) - timedelta(days=40)
    worker = build_services(settings_for(tmp_path / "worker", media=media), clock=lambda: past)
    web = build_services(
        settings_for(
            tmp_path / "web", database_url=worker.settings.resolved_database_url, media=media
        )
    )
    try:
        assert isinstance(worker.media.backend, S3MediaBackend)
        data = build_jpeg((1, 2, 3))
        url = worker.media.save_image(data, source="leads", identity="a")
        assert_served(web_client(web), media_path(url), data, "image/jpeg")
        new_url = worker.media.save_image(build_png(b"next" * 8), source="leads", identity="a")
        assert web.media.collect_garbage() == 1
        listed = raw_client(s3_url).list_objects_v2(Bucket=bucket)["Contents"]
        assert [o["Key"] for o in listed] == ["pictures/" + new_url.rsplit("/", 1)[1]]
        with web_client(web).get(media_path(url)) as response:
            assert response.status_code == 404
    finally:
        worker.close()
        web.close()


def test_a_missing_bucket_fails_the_check_with_a_clear_error(s3_url: str) -> None:
    settings = S3MediaSettings(**s3_settings(s3_url, bucket="no-such-bucket"))
    backend = S3MediaBackend(build_s3_client(settings), settings, f"{BASE}/media")
    with pytest.raises(ConnectorError, match="bucket no-such-bucket: S3 answered 404"):
        backend.check()


def test_an_unreachable_endpoint_is_a_transient_error() -> None:
    settings = S3MediaSettings(
        **s3_settings(f"http://127.0.0.1:{free_port()}", connect_timeout=1, max_attempts=2)
    )
    backend = S3MediaBackend(build_s3_client(settings), settings, f"{BASE}/media")
    with pytest.raises(TransientError, match="S3 unreachable"):
        backend.fetch("e" * 64, "png")


def test_a_storage_failure_is_a_row_error_not_a_crash(tmp_path: Path) -> None:
    media = {"backend": "s3", "s3": s3_settings(f"http://127.0.0.1:{free_port()}", max_attempts=1)}
    services = build_services(settings_for(tmp_path, media=media))
    try:
        with pytest.raises(
            ConnectorError,
            match=r"could not store the picture: look-up of pictures/.* S3 unreachable",
        ):
            services.media.save_image(build_png(b"fail" * 4), source="leads", identity="a")
    finally:
        services.close()


def test_readyz_reports_a_bucket_it_cannot_reach(tmp_path: Path, s3_url: str) -> None:
    media = {"backend": "s3", "s3": s3_settings(s3_url, bucket="missing-bucket")}
    services = build_services(settings_for(tmp_path, media=media))
    try:
        response = web_client(services).get("/readyz")
        assert response.status_code == 503
        check = response.get_json()["checks"]["media"]
        assert check["ok"] is False and check["backend"] == "s3"
        assert "missing-bucket" in check["error"]
    finally:
        services.close()
