"""The ``hubspot`` media backend: uploads through hubspot-api-client against the HubSpot sandbox."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connector.config import parse_settings
from connector.media.fetch import MediaUnavailableError
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.images import build_image_url
from connector.sandbox.influencers_club import InfluencersClubSandbox
from connector.services import Services, build_services
from connector.sources.hubspot.files import UPLOAD_OPTIONS

# Served as PNG by the influencers.club sandbox (its format is derived from the handle).
HANDLE = "foundjane"


@pytest.fixture(scope="module")
def ic() -> Iterator[InfluencersClubSandbox]:
    with InfluencersClubSandbox() as started:
        yield started


@pytest.fixture(scope="module")
def hubspot_running() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(limit=10_000) as started:
        yield started


@pytest.fixture
def hubspot(hubspot_running: HubSpotSandbox) -> HubSpotSandbox:
    hubspot_running.reset()
    return hubspot_running


def picture_url(ic: InfluencersClubSandbox, lifetime: float = 600) -> str:
    return build_image_url(
        ic.url, "instagram", HANDLE, "hd", lifetime=lifetime, secret=ic.state.image_secret
    )


def hubspot_services(
    tmp_path: Path, hubspot: HubSpotSandbox, token: str | None = None, max_attempts: int = 5
) -> Services:
    data = {
        "data_dir": str(tmp_path),
        "hubspot": {
            "access_token": token or hubspot.access_token,
            "base_url": hubspot.url,
            "max_attempts": max_attempts,
        },
        "media": {
            "backend": "hubspot",
            "hubspot_folder": "influencers-club/",
            "allowed_hosts": ["127.0.0.1"],
        },
    }
    return build_services(parse_settings(data, environ={}))


def close(services: Services) -> None:
    services.media.close()
    services.close()


def rehost(services: Services, url: str) -> str:
    return str(services.media.rehost(url, source="crm", identity="instagram:jane"))


def test_uploads_go_through_the_library_once_per_content(
    ic: InfluencersClubSandbox, hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    original = picture_url(ic)
    expected = httpx.get(original).content
    assert expected.startswith(b"\x89PNG")
    urls = []
    for run in range(2):  # a restarted worker has no memory of earlier uploads
        services = hubspot_services(tmp_path / str(run), hubspot)
        try:
            urls.append(rehost(services, original))
            urls.append(rehost(services, picture_url(ic, lifetime=900)))
        finally:
            close(services)

    assert len(set(urls)) == 1
    hosted = httpx.get(urls[0])
    assert hosted.status_code == 200 and hosted.content == expected
    assert hosted.headers["Content-Type"] == "image/png"
    (stored,) = hubspot.uploaded_files()
    assert stored["access"] == "PUBLIC_NOT_INDEXABLE"
    assert re.fullmatch(r"/influencers-club/[0-9a-f]{64}\.png", stored["path"])
    assert stored["url"] == urls[0]
    uploads = [r for r in hubspot.requests() if r["endpoint"] == "files.upload"]
    assert [r["status"] for r in uploads] == [201, 201]
    assert all(r["headers"]["Authorization"] == f"Bearer {hubspot.access_token}" for r in uploads)


def test_upload_options_ask_for_a_public_unindexed_deduplicated_file() -> None:
    assert json.loads(json.dumps(UPLOAD_OPTIONS)) == {
        "access": "PUBLIC_NOT_INDEXABLE",
        "overwrite": False,
        "duplicateValidationStrategy": "RETURN_EXISTING",
        "duplicateValidationScope": "EXACT_FOLDER",
    }


def test_a_rejected_token_is_a_row_error(
    ic: InfluencersClubSandbox, hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    services = hubspot_services(tmp_path, hubspot, token="pat-wrong")
    try:
        with pytest.raises(
            MediaUnavailableError, match=r"^could not store the picture: HubSpot rejected"
        ):
            rehost(services, picture_url(ic))
    finally:
        close(services)
    assert hubspot.uploaded_files() == []


def test_a_missing_token_is_reported_before_any_download(
    ic: InfluencersClubSandbox, tmp_path: Path
) -> None:
    data = {"data_dir": str(tmp_path), "media": {"backend": "hubspot"}}
    services = build_services(parse_settings(data, environ={}))
    before = ic.stats()
    try:
        with pytest.raises(MediaUnavailableError, match=r"hubspot\.access_token is not set"):
            rehost(services, picture_url(ic))
    finally:
        close(services)
    assert ic.stats().get("image_requests") == before.get("image_requests")


def test_a_hubspot_outage_is_a_row_error(
    ic: InfluencersClubSandbox, hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    hubspot.inject_faults(503, count=50)
    services = hubspot_services(tmp_path, hubspot, max_attempts=1)
    try:
        with pytest.raises(MediaUnavailableError, match="could not store the picture: HubSpot"):
            rehost(services, picture_url(ic))
    finally:
        close(services)
    assert hubspot.uploaded_files() == []
