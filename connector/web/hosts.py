"""Which hosts, origins and clients the app trusts: the Host allow-list and the loopback rule.

- ``build_trusted_hosts``: Flask's ``TRUSTED_HOSTS`` — the host of ``public_base_url``, the
  loopback names and ``web.trusted_hosts``; a request naming any other host gets 400, so a page
  whose domain re-binds to this machine's address (DNS rebinding) is refused before any route.
- ``is_loopback_request``: the request came from this machine *and* names it. Without
  credentials configured, only such requests reach the dashboard and API.
- ``check_same_origin``: browsers' cross-site requests are refused on state-changing routes.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import current_app, request

from connector.config import Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def get_public_host(settings: Settings) -> str | None:
    """The host name of ``public_base_url`` (lower case), if set."""
    return urlsplit(settings.public_base_url or "").hostname


def build_trusted_hosts(settings: Settings) -> list[str]:
    """``TRUSTED_HOSTS``: ``public_base_url``'s host, loopback names and ``web.trusted_hosts``.

    Ports are not compared (werkzeug ignores them). IPv6 literals cannot be listed: werkzeug's
    matcher splits names at the first colon.
    """
    public = get_public_host(settings)
    hosts = [*LOOPBACK_NAMES, *([public] if public else []), *settings.web.trusted_hosts]
    return list(dict.fromkeys(hosts))


def is_loopback_address(address: str | None) -> bool:
    """True for 127.0.0.0/8, ``::1`` and their IPv4-mapped forms."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def get_request_hostname() -> str:
    """The host the request names, without port, lower case (``""`` when there is none)."""
    return (urlsplit(f"//{request.host}").hostname or "").lower()


def is_loopback_request() -> bool:
    """The client is this machine (every hop it came through too) and it named a loopback host."""
    direct = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR")
    peers = [request.remote_addr, *([direct] if direct is not None else [])]
    hostname = get_request_hostname()
    named_loopback = hostname == "localhost" or is_loopback_address(hostname)
    return named_loopback and all(is_loopback_address(peer) for peer in peers)


def check_same_origin() -> bool:
    """False for a browser request another site triggered (guards cookies and cached basic auth).

    ``Sec-Fetch-Site: cross-site`` is refused; an ``Origin`` must be this very host and port,
    and one of the trusted hosts (``Origin: null`` from sandboxed frames is refused too).
    """
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin)
        hostname = (parts.hostname or "").lower()
    except ValueError:
        return False
    trusted = any(
        hostname == host.lstrip(".") or (host.startswith(".") and hostname.endswith(host))
        for host in current_app.config.get("TRUSTED_HOSTS") or ()
    )
    return trusted and parts.netloc.lower() == request.host.lower()
