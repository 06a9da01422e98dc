"""The outbound fetch guard: which addresses are public, and one vetted lookup per connection."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from flask import Flask, Response, request
from hypothesis import given
from hypothesis import strategies as st

from connector.media.fetch import ImageFetcher, PictureURLRefusedError
from connector.media.guard import is_public_address
from connector.sandbox.images import build_png
from connector.sandbox.server import LoopbackServer

PNG = build_png(b"guard" * 8)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("239.255.255.250", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("fec0::1", False),  # site-local
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("::127.0.0.1", False),  # IPv4-compatible
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("2002:5db8:d822::1", True),  # 6to4 of 93.184.216.34
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("64:ff9b::5db8:d822", True),  # NAT64 of 93.184.216.34
        ("2001::1", False),  # Teredo
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_is_judged_alike_when_mapped_into_ipv6(ip: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}")
    assert is_public_address(mapped) is is_public_address(ip)


@pytest.fixture(scope="module")
def pictures() -> Iterator[tuple[str, list[str]]]:
    hosts: list[str] = []
    app = Flask("pictures")

    @app.get("/p.png")
    def picture() -> Response:
        hosts.append(request.headers["Host"])
        return Response(PNG, content_type="image/png")

    with LoopbackServer(app) as server:
        yield server.url.rsplit(":", 1)[1], hosts


def test_the_connection_goes_to_the_vetted_address_in_one_lookup(
    pictures: tuple[str, list[str]],
) -> None:
    port, hosts = pictures
    lookups: list[str] = []

    def resolve(host: str, _port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["203.0.113.50"]

    fetcher = ImageFetcher(
        max_bytes=65536, timeout=5, allowed_hosts=["pictures.test"], resolve=resolve
    )
    with fetcher:
        # pictures.test exists only in this resolver: the socket connected to its answer.
        image = fetcher.fetch_image(f"http://pictures.test:{port}/p.png")
    assert image.data == PNG
    assert lookups == ["pictures.test"]
    assert hosts[-1] == f"pictures.test:{port}"


def test_a_host_resolving_to_any_private_address_is_refused_before_connecting(
    pictures: tuple[str, list[str]],
) -> None:
    port, hosts = pictures
    before = len(hosts)

    def resolve(_host: str, _port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    with (
        ImageFetcher(max_bytes=65536, timeout=5, resolve=resolve) as fetcher,
        pytest.raises(PictureURLRefusedError, match=r"^picture URL refused$"),
    ):
        fetcher.fetch_image(f"http://cdn.example:{port}/p.png")
    assert len(hosts) == before
