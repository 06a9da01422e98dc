"""The app factory serves rehosted pictures at /media/ without dashboard authentication."""

from __future__ import annotations

from pathlib import Path

from connector.config import parse_settings
from connector.sandbox.images import build_png
from connector.services import build_services
from connector.web import create_app


def test_the_app_serves_media_publicly(tmp_path: Path) -> None:
    settings = parse_settings(
        {
            "data_dir": str(tmp_path),
            "public_base_url": "https://connector.example.com",
            "web": {"auth_token": "s3cret-token-value"},
        },
        environ={},
    )
    services = build_services(settings)
    try:
        url = services.media.save_image(build_png(b"app" * 8), source="leads", identity="x")
        client = create_app(services=services).test_client()
        with client.get("/media/" + url.rsplit("/", 1)[1]) as response:
            assert response.status_code == 200
            assert response.headers["Content-Type"] == "image/png"
        with client.get("/media/" + "0" * 64 + ".png") as response:
            assert response.status_code == 404
            assert response.get_json()["ok"] is False
    finally:
        services.close()
