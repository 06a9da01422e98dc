"""The outbound fetch guard: URLs taken from API answers reach only public addresses.

Every connection the picture downloader opens goes through ``GuardedBackend.connect_tcp``: the
host is resolved once, every address it resolves to must be public (``is_public_address``)
unless the host is named in ``media.allowed_hosts``, and the socket connects to that vetted
address itself, so no second DNS lookup can answer differently (DNS rebinding). TLS still checks
the certificate against the host name, which httpcore passes as the server name. The downloader
follows redirects itself, so every hop is vetted again when it connects.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

from connector.errors import RowError

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class RefusedAddressError(RowError):
    """The host resolves to a non-public address; the downloader refuses the URL."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: IPAddress) -> bool:
    """False for loopback, private, link-local, multicast, reserved and unspecified addresses.

    IPv4 addresses inside IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16`` and NAT64
    ``64:ff9b::/96``) are judged by the IPv4 address they carry; IPv4-compatible ``::a.b.c.d``
    and Teredo fall in reserved and non-global ranges.
    """
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        return is_public_address(inner)
    flags = (
        ip.is_loopback,
        ip.is_private,
        ip.is_link_local,
        ip.is_multicast,
        ip.is_reserved,
        ip.is_unspecified,
        isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local,
    )
    return ip.is_global and not any(flags)


def fetch_addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to vetted addresses of the requested host."""

    def __init__(
        self, allowed_hosts: Iterable[str] = (), resolve: Resolver = fetch_addresses
    ) -> None:
        self.allowed_hosts = frozenset(host.lower().strip("[]") for host in allowed_hosts)
        self._resolve = resolve

    def check_host(self, host: str, port: int) -> list[str]:
        """The addresses to connect to; ``RefusedAddressError`` when any of them is not public."""
        name = host.lower().strip("[]")
        try:
            addresses = self._resolve(name, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve the picture host: {exc}") from exc
        if name in self.allowed_hosts and addresses:
            return addresses
        refused = [a for a in addresses if not is_public_address(ipaddress.ip_address(a))]
        if refused or not addresses:
            log.warning(
                "picture URL refused: its host resolves to a non-public address",
                extra={"host": name, "addresses": ",".join(refused)},
            )
            raise RefusedAddressError(f"{name} resolves to a non-public address")
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve and vet ``host`` once, then connect to the first vetted address that answers."""
        failure: httpcore.ConnectError | None = None
        for address in self.check_host(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = httpcore.ConnectError(str(exc))
        raise failure or httpcore.ConnectError("no address to connect to")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        """Never: pictures come over TCP."""
        raise RefusedAddressError(f"unix socket {path}")


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose connections go through ``GuardedBackend`` (no proxies)."""

    def __init__(self, backend: GuardedBackend, *, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=20, max_keepalive_connections=10)
        super().__init__(trust_env=False, limits=limits)
        # httpx does not let a caller choose httpcore's network backend; the pool it builds is
        # replaced by an identical one that uses the guard (tests fail if httpx stops using it).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
