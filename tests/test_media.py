"""Rehosting profile pictures against the real sandboxes: fetch, check, store, serve, upload."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from connector.config import Settings, parse_settings
from connector.mapping import apply_mapping, parse_mapping
from connector.media.fetch import (
    ImageExpiredError,
    ImageTooLargeError,
    MediaUnavailableError,
    NotAnImageError,
)
from connector.media.store import MediaStore, get_media_url_prefix
from connector.media.urls import (
    UnsafeFormulaError,
    build_image_formula,
    build_image_formulas,
    get_image_formula_columns,
    parse_media_name,
)
from connector.sandbox import images
from connector.sandbox.influencers_club import InfluencersClubSandbox
from connector.services import Services, build_services
from connector.web.context import install_services
from connector.web.errors import register_error_handlers
from connector.web.media import bp

BASE = "https://connector.example.com"
PREFIX = f"{BASE}/media/"
FULL = "/public/v1/creators/enrich/handle/full/"
OUR_URL = re.compile(r"^https://connector\.example\.com/media/[0-9a-f]{64}\.(png|jpg)$")
MAPPING = """
kind: sheets
fields:
  - target: Profile Picture
    source: ["{platform}.profile_picture_hd", "{platform}.profile_picture",
             "{platform}.profileImageURL"]
    transform: [rehost, 'default("no picture")']
    policy: overwrite
"""


def find_handle(content_type: str) -> str:
    """A ``found…`` handle whose sandbox picture is served as ``content_type``."""
    for i in range(200):
        handle = f"foundface{i}"
        ref = images.ImageRef("instagram", handle, "hd", 0)
        if images.render_image(ref)[1] == content_type and "big" not in handle:
            body = images.render_image(ref)[0]
            if len(body) < 100_000:
                return handle
    raise AssertionError(f"no handle renders {content_type}")


class Clock:
    """A settable clock for the store's timestamps."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def ic() -> Iterator[InfluencersClubSandbox]:
    with InfluencersClubSandbox() as started:
        yield started


@pytest.fixture
def sandbox(ic: InfluencersClubSandbox) -> Iterator[InfluencersClubSandbox]:
    ic.reset(balance=1000.0)
    ic.configure(not_found_rate=0.0, image_lifetime=86400.0)
    yield ic
    ic.configure(image_lifetime=86400.0)


def build_settings(tmp_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "public_base_url": BASE,
        "media": {"allowed_hosts": ["127.0.0.1"]},
    }
    data.update(overrides)
    return parse_settings(data, environ={})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def services(tmp_path: Path, clock: Clock) -> Iterator[Services]:
    built = build_services(build_settings(tmp_path), clock=clock)
    yield built
    if built.media is not None:
        built.media.close()
    built.close()


def enrich(sandbox: InfluencersClubSandbox, handle: str, platform: str = "instagram") -> Any:
    headers = {"Authorization": f"Bearer {sandbox.api_key}"}
    body = {"handle": handle, "platform": platform}
    response = httpx.post(sandbox.url + FULL, json=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def picture_url(sandbox: InfluencersClubSandbox, handle: str, **kwargs: Any) -> str:
    kwargs.setdefault("lifetime", 600)
    return images.build_image_url(
        sandbox.url, "instagram", handle, "hd", secret=sandbox.state.image_secret, **kwargs
    )


def rehost(services: Services, url: str, identity: str = "instagram:jane") -> str:
    return str(services.media.rehost(url, source="leads", identity=identity))


def web_client(services: Services) -> FlaskClient:
    app = Flask("media-test")
    install_services(app, services)
    register_error_handlers(app)
    app.register_blueprint(bp)
    return app.test_client()


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg"])
def test_a_picture_is_rehosted_and_served_with_its_type(
    sandbox: InfluencersClubSandbox, services: Services, content_type: str
) -> None:
    handle = find_handle(content_type)
    original = enrich(sandbox, handle)["instagram"]["profile_picture_hd"]
    expected = httpx.get(original).content

    url = rehost(services, original)

    assert OUR_URL.match(url)
    name = url.rsplit("/", 1)[1]
    assert (Path(services.settings.data_dir) / "media" / name).read_bytes() == expected
    with web_client(services).get(f"/media/{name}") as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "immutable" in response.headers["Cache-Control"]
        assert response.get_data() == expected


def test_the_mapping_writes_the_permanent_url_for_twitch_too(
    sandbox: InfluencersClubSandbox, services: Services
) -> None:
    profile = enrich(sandbox, "foundstreamer", "twitch")
    original = profile["twitch"]["profileImageURL"]
    item = SimpleNamespace(source="leads", identity="twitch:foundstreamer")

    result = apply_mapping(
        parse_mapping(MAPPING),
        profile,
        platform="twitch",
        current={},
        last_hashes={},
        context=services.transform_context(item),
    )

    assert result.errors == []
    assert OUR_URL.match(result.changes["Profile Picture"])
    assert original not in str(result.changes)


def test_an_expired_link_gives_the_fallback_and_a_clear_row_error(
    sandbox: InfluencersClubSandbox, services: Services
) -> None:
    sandbox.configure(image_lifetime=0)
    profile = enrich(sandbox, "foundjane")
    original = profile["instagram"]["profile_picture_hd"]
    assert httpx.get(original).status_code == 403
    item = SimpleNamespace(source="leads", identity="instagram:foundjane")

    result = apply_mapping(
        parse_mapping(MAPPING),
        profile,
        platform="instagram",
        current={},
        last_hashes={},
        context=services.transform_context(item),
    )

    assert result.changes == {"Profile Picture": "no picture"}
    assert result.errors == [
        "Profile Picture: image rehosting failed: profile picture link expired (403) — "
        "re-enrich to refresh it"
    ]
    assert not (Path(services.settings.data_dir) / "media").exists()


def test_a_tampered_link_is_refused_like_an_expired_one(
    sandbox: InfluencersClubSandbox, services: Services
) -> None:
    url = picture_url(sandbox, "foundjane")
    with pytest.raises(ImageExpiredError, match=r"expired \(403\)"):
        rehost(services, url[:-5] + ("0" if url[-5] != "0" else "1") + ".jpg")


def test_html_served_as_jpeg_is_refused(
    sandbox: InfluencersClubSandbox, services: Services
) -> None:
    with pytest.raises(NotAnImageError, match=r"^not an image \(text/html\)$"):
        rehost(services, picture_url(sandbox, "foundbadpic"))
    assert services.store.fetch_unreferenced_media(timedelta(days=-1)) == []


def test_an_oversized_picture_is_refused(
    sandbox: InfluencersClubSandbox, services: Services
) -> None:
    with pytest.raises(ImageTooLargeError, match=r"^image too large \(> 5 MB\)$"):
        rehost(services, picture_url(sandbox, "foundbigpic"))


def test_the_same_bytes_are_stored_once(
    sandbox: InfluencersClubSandbox, services: Services
) -> None:
    first = rehost(services, picture_url(sandbox, "foundjane", lifetime=600), "a")
    again = rehost(services, picture_url(sandbox, "foundjane", lifetime=900), "b")
    re_enriched = rehost(services, enrich(sandbox, "foundjane")["instagram"]["profile_picture_hd"])

    assert first == again == re_enriched
    files = list((Path(services.settings.data_dir) / "media").iterdir())
    assert [f.name for f in files] == [first.rsplit("/", 1)[1]]
    content_hash = parse_media_name(files[0].name)[0]
    assert services.store.get_media(content_hash) is not None


def test_a_link_seen_before_is_not_downloaded_again(
    sandbox: InfluencersClubSandbox, services: Services
) -> None:
    url = picture_url(sandbox, "foundjane")
    first = rehost(services, url, "instagram:jane")
    downloads = sandbox.stats()["image_requests"]
    assert rehost(services, url, "instagram:jane-again") == first
    assert sandbox.stats()["image_requests"] == downloads


def test_a_remembered_link_outlives_its_expiry(
    sandbox: InfluencersClubSandbox, services: Services
) -> None:
    expires = math.ceil(time.time()) + 1
    url = picture_url(sandbox, "foundjane", lifetime=expires - time.time())
    first = rehost(services, url, "sheet:row-2")
    time.sleep(max(0.0, expires + 1.05 - time.time()))
    assert httpx.get(url).status_code == 403
    # A profile served again from the ledger still carries the expired link.
    assert rehost(services, url, "sheet:row-9") == first


def test_a_remembered_link_whose_file_was_collected_is_fetched_again(
    sandbox: InfluencersClubSandbox, services: Services, clock: Clock
) -> None:
    url = picture_url(sandbox, "foundjane")
    first = rehost(services, url, "instagram:jane")
    rehost(services, picture_url(sandbox, "foundjohn"), "instagram:jane")
    clock.now += timedelta(days=31)
    assert services.media.collect_garbage() == 1
    downloads = sandbox.stats()["image_requests"]
    assert rehost(services, url, "instagram:jane") == first
    assert sandbox.stats()["image_requests"] == downloads + 1
    assert (Path(services.settings.data_dir) / "media" / first.rsplit("/", 1)[1]).is_file()


def test_garbage_collection_removes_only_unreferenced_old_pictures(
    sandbox: InfluencersClubSandbox, services: Services, clock: Clock
) -> None:
    old = rehost(services, picture_url(sandbox, "foundjane"), "instagram:jane")
    kept = rehost(services, picture_url(sandbox, "foundjohn"), "instagram:john")
    clock.now += timedelta(days=10)
    new = rehost(services, picture_url(sandbox, "foundjanet"), "instagram:jane")
    directory = Path(services.settings.data_dir) / "media"

    assert services.media.collect_garbage() == 0  # unreferenced, but younger than 30 days
    clock.now += timedelta(days=25)
    assert services.media.collect_garbage() == 1

    names = {p.name for p in directory.iterdir()}
    assert names == {kept.rsplit("/", 1)[1], new.rsplit("/", 1)[1]}
    assert old.rsplit("/", 1)[1] not in names
    assert services.store.get_media(parse_media_name(old.rsplit("/", 1)[1])[0]) is None


def test_a_missing_public_url_is_a_row_error_not_a_crash(
    sandbox: InfluencersClubSandbox, tmp_path: Path
) -> None:
    services = build_services(parse_settings({"data_dir": str(tmp_path)}, environ={}))
    try:
        with pytest.raises(MediaUnavailableError, match="set public_base_url"):
            rehost(services, picture_url(sandbox, "foundjane"))
    finally:
        services.media.close()
        services.close()


def test_media_can_be_switched_off(tmp_path: Path) -> None:
    settings = build_settings(tmp_path, media={"backend": "none"})
    services = build_services(settings)
    try:
        assert services.media is None
    finally:
        services.close()


# --- the =IMAGE() formula -------------------------------------------------------------------

HASH = "0123456789abcdef" * 4


def test_the_formula_wraps_our_own_url() -> None:
    url = f"{PREFIX}{HASH}.png"
    assert build_image_formula(url, allowed_prefix=PREFIX) == f'=IMAGE("{url}")'


@pytest.mark.parametrize(
    "url",
    [
        f'{PREFIX}{HASH}.png")&HYPERLINK("https://evil.example',
        f"{PREFIX}{HASH}.png?x=1",
        f"{PREFIX}{HASH}.PNG",
        f"{PREFIX}{HASH[:-1]}.png",
        f"{PREFIX}../{HASH}.png",
        f"https://evil.example/media/{HASH}.png",
        f"{BASE}/media2/{HASH}.png",
        f'=IMAGE("{PREFIX}{HASH}.png")',
        "",
    ],
)
def test_the_formula_refuses_anything_else(url: str) -> None:
    with pytest.raises(UnsafeFormulaError):
        build_image_formula(url, allowed_prefix=PREFIX)


@pytest.mark.parametrize(
    "prefix", [f'{BASE}/me"dia/', f"{BASE}/media", "javascript:alert(1)//", f"{BASE}/m edia/"]
)
def test_the_formula_refuses_an_unsafe_prefix(prefix: str) -> None:
    with pytest.raises(UnsafeFormulaError):
        build_image_formula(f"{prefix}{HASH}.png", allowed_prefix=prefix)


_STRICT = re.compile(r'^=IMAGE\("' + re.escape(PREFIX) + r'[0-9a-f]{64}\.(jpg|png|webp|gif)"\)$')


@given(st.text())
def test_the_formula_only_ever_holds_our_url_for_any_text(text: str) -> None:
    for candidate in (text, PREFIX + text, f"{PREFIX}{HASH}.png{text}"):
        try:
            formula = build_image_formula(candidate, allowed_prefix=PREFIX)
        except UnsafeFormulaError:
            continue
        assert _STRICT.match(formula)
        assert formula == f'=IMAGE("{candidate}")'


@given(
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    st.sampled_from(["jpg", "png", "webp", "gif"]),
)
def test_every_stored_name_makes_a_formula(content_hash: str, ext: str) -> None:
    url = f"{PREFIX}{content_hash}.{ext}"
    assert build_image_formula(url, allowed_prefix=PREFIX) == f'=IMAGE("{url}")'


def test_row_formulas_follow_what_the_url_column_receives() -> None:
    columns = {"Profile Picture": "Picture", "Logo": "Logo Image"}
    values = {"Profile Picture": f"{PREFIX}{HASH}.jpg", "Logo": "no picture"}
    assert build_image_formulas(values, columns, allowed_prefix=PREFIX) == {
        "Picture": f'=IMAGE("{PREFIX}{HASH}.jpg")',
        "Logo Image": "",
    }
    assert build_image_formulas({"Followers": 3}, columns, allowed_prefix=PREFIX) == {}
    assert build_image_formulas(values, columns, allowed_prefix=None) == {
        "Picture": "",
        "Logo Image": "",
    }


def test_formula_columns_come_from_the_mapping_fields() -> None:
    fields = (
        SimpleNamespace(target="Profile Picture", image_formula="Picture"),
        SimpleNamespace(target="Followers"),
        SimpleNamespace(target="Bio", image_formula=None),
    )
    assert get_image_formula_columns(SimpleNamespace(fields=fields)) == {
        "Profile Picture": "Picture"
    }


def test_the_store_wiring_uses_our_prefix(services: Services) -> None:
    media = services.media
    assert isinstance(media, MediaStore)
    assert media.url_prefix == PREFIX


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, PREFIX),
        (
            {"media": {"public_base_url": "https://cdn.example.com/pics/"}},
            "https://cdn.example.com/pics/",
        ),
        ({"media": {"backend": "hubspot"}}, None),
        ({"public_base_url": None}, None),
        ({"public_base_url": 'https://connector.example.com/"x'}, None),
    ],
)
def test_the_formula_prefix_follows_the_settings(
    tmp_path: Path, overrides: dict[str, Any], expected: str | None
) -> None:
    assert get_media_url_prefix(build_settings(tmp_path, **overrides)) == expected
