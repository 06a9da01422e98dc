"""Whether the web app listens beyond this machine without credentials, said once at start-up.

``connector serve`` knows its ``--host``. Under gunicorn the app cannot see the arbiter, so the
addresses come from the process itself: in a worker, the listening sockets it inherited (the
truth, whatever set them: ``--bind``, ``GUNICORN_CMD_ARGS``, ``$PORT`` or a config file); with
``--preload`` the app is built before gunicorn binds, so gunicorn's own parser reads ``--bind``
from its command line and ``GUNICORN_CMD_ARGS`` (else its default: ``0.0.0.0:$PORT`` when
``PORT`` is set, ``127.0.0.1:8000`` otherwise).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shlex
import socket
import stat
from collections.abc import Mapping, Sequence

from gunicorn.config import Config

from connector.config import Settings
from connector.web.auth import SET_TOKEN, is_auth_configured

log = logging.getLogger(__name__)

GUNICORN_SOFTWARE = "gunicorn/"


def is_gunicorn(environ: Mapping[str, str]) -> bool:
    """True inside gunicorn (its arbiter sets ``SERVER_SOFTWARE`` before loading the app)."""
    return environ.get("SERVER_SOFTWARE", "").startswith(GUNICORN_SOFTWARE)


def get_listening_hosts() -> list[str]:
    """The local addresses of the TCP sockets this process listens on (inherited ones too)."""
    fd_dir = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    hosts = []
    for name in os.listdir(fd_dir):
        try:
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
        except (ValueError, OSError):
            continue
        with sock:
            try:
                listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
                if sock.family in (socket.AF_INET, socket.AF_INET6) and listening:
                    hosts.append(str(sock.getsockname()[0]))
            except OSError:
                continue
    return hosts


def parse_gunicorn_hosts(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The hosts gunicorn binds, read from its command line and ``GUNICORN_CMD_ARGS``."""
    parser = Config().parser()
    args, _ = parser.parse_known_args(list(argv[1:]))
    env_args, _ = parser.parse_known_args(shlex.split(environ.get("GUNICORN_CMD_ARGS", "")))
    binds = args.bind or env_args.bind
    if not binds:
        binds = [f"0.0.0.0:{environ['PORT']}"] if "PORT" in environ else ["127.0.0.1:8000"]
    return [host for bind in binds if (host := _bind_host(bind)) is not None]


def _bind_host(bind: str) -> str | None:
    if bind.startswith(("unix:", "fd://")):
        return None
    if bind.startswith("["):
        return bind[1:].partition("]")[0]
    return bind.rpartition(":")[0] if ":" in bind else bind


def get_gunicorn_hosts(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """Where gunicorn listens: this worker's sockets, else (``--preload``) its bind options."""
    return get_listening_hosts() or parse_gunicorn_hosts(argv, environ)


def is_beyond_loopback(host: str) -> bool:
    """True unless ``host`` is a loopback address or ``localhost`` (an empty host is any)."""
    if host.lower() == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return True


def check_exposure(settings: Settings, hosts: Sequence[str]) -> bool:
    """Log an error when the app listens beyond loopback without credentials; True if so."""
    exposed = sorted({host or "*" for host in hosts if is_beyond_loopback(host)})
    if not exposed or is_auth_configured(settings.web):
        return False
    log.error(
        "the web app listens on %s without credentials, so the dashboard and API refuse every "
        "other machine (401): %s",
        ", ".join(exposed),
        SET_TOKEN,
    )
    return True
