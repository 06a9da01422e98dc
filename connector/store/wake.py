"""Wake-ups from the web process to the workers: "look at the store's poll requests now".

A wake carries no data. It only shortens the wait before a worker reads the poll requests the
web process saved in the store; a lost wake delays a poll until the worker's fallback look at
the store, it never loses one.

- PostgreSQL: ``NOTIFY connector_wake`` in the transaction that saves the poll request, so the
  workers hear it exactly when the request is committed; each worker ``LISTEN``s on its own
  connection.
- SQLite (one machine): a datagram to every worker's Unix socket in ``<database>-wake/``, a
  directory only the connector's user may enter (0700, sockets 0600), sent after the commit.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import select
import socket
import stat
from pathlib import Path
from typing import Any, Protocol

import psycopg
import sqlalchemy as sa

from connector.errors import ConnectorError, TransientError

log = logging.getLogger(__name__)

CHANNEL = "connector_wake"
MESSAGE = b"wake"
SOCKET_SUFFIX = ".sock"
# Longer socket paths do not fit ``sockaddr_un`` (108 bytes with the terminating NUL on Linux).
_MAX_SOCKET_PATH = 100


class WakeListener(Protocol):
    """One worker's end of the wake-ups."""

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when woken (pending wakes are drained)."""
        ...

    def close(self) -> None:
        """Stop listening and release the connection or socket."""
        ...


class Wake:
    """No wake-ups (an in-memory database): workers only look at the store on their own."""

    def signal_in(self, conn: sa.Connection) -> None:
        """Wake the workers when ``conn``'s transaction commits (PostgreSQL)."""

    def send(self) -> None:
        """Wake the workers now, after a commit (SQLite)."""

    def listen(self) -> WakeListener | None:
        """A listener for a worker, or None when this database has no wake-ups."""
        return None


class PostgresWake(Wake):
    """``NOTIFY`` inside the poll request's transaction; ``LISTEN`` on a dedicated connection."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def signal_in(self, conn: sa.Connection) -> None:
        """Queue the notification; PostgreSQL delivers it at commit, and not on a rollback."""
        conn.execute(sa.select(sa.func.pg_notify(CHANNEL, "")))

    def listen(self) -> WakeListener:
        """``LISTEN`` on a connection of its own (taken out of the pool for good)."""
        return PostgresListener(self.engine)


class PostgresListener:
    """A connection in autocommit mode that waits for ``connector_wake`` notifications."""

    def __init__(self, engine: sa.Engine) -> None:
        try:
            raw = engine.raw_connection()
            conn: Any = raw.driver_connection
            raw.detach()
            conn.rollback()
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
        except (sa.exc.SQLAlchemyError, psycopg.Error) as exc:
            raise TransientError(f"cannot listen for wake-ups: {exc}") from exc
        self._conn: psycopg.Connection[Any] = conn

    def wait(self, timeout: float) -> bool:
        """Wait for one notification, then take the others already queued."""
        try:
            woken = any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
            if woken:
                for _ in self._conn.notifies(timeout=0.0):
                    pass
        except psycopg.Error as exc:
            raise TransientError(f"wake-up connection lost: {exc}") from exc
        return woken

    def close(self) -> None:
        """Close the listening connection."""
        with contextlib.suppress(psycopg.Error):
            self._conn.close()


class SocketWake(Wake):
    """A datagram to each worker socket in ``directory`` (SQLite: web and workers on one host)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self) -> None:
        """One datagram to every listening worker; stale sockets of dead workers are removed."""
        try:
            entries = [e.name for e in os.scandir(self.directory) if e.name.endswith(SOCKET_SUFFIX)]
        except OSError:
            return  # no worker has listened yet: the fallback poll will find the request
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for name in entries:
                path = self.directory / name
                try:
                    _send_to(sock, path)
                except ConnectionRefusedError:
                    # Nobody is bound to it any more: a worker that died without cleaning up.
                    with contextlib.suppress(OSError):
                        path.unlink()
                except BlockingIOError:
                    pass  # the worker's queue is full: it has wakes pending already
                except OSError as exc:
                    log.debug("wake not sent", extra={"socket": str(path), "error": str(exc)})

    def listen(self) -> WakeListener:
        """Bind a new socket of this worker in the wake directory."""
        return SocketListener(self.directory)


class SocketListener:
    """This worker's Unix datagram socket in the wake directory, removed on close."""

    def __init__(self, directory: Path) -> None:
        check_wake_directory(directory)
        self.path = directory / f"{os.getpid()}-{secrets.token_hex(3)}{SOCKET_SUFFIX}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            _bind(self._sock, self.path)
            os.chmod(self.path, 0o600)
        except OSError as exc:
            self._sock.close()
            raise ConnectorError(
                f"cannot listen for wake-ups on {self.path}: {exc}",
                hint="the worker falls back to looking at the store every few seconds",
            ) from exc
        self._sock.setblocking(False)

    def wait(self, timeout: float) -> bool:
        """Wait for a datagram, then drain the queue (each wake means the same)."""
        ready, _, _ = select.select([self._sock], [], [], max(timeout, 0.0))
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while self._sock.recv(64):
                pass
        return True

    def close(self) -> None:
        """Close the socket and remove its file."""
        self._sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def check_wake_directory(directory: Path) -> None:
    """Create ``directory`` private to this user, or refuse one others could write to.

    Raises ``ConnectorError`` when it is a symlink, not a directory, or owned by another user.
    """
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(directory)
    except OSError as exc:
        raise ConnectorError(f"cannot create the wake directory {directory}: {exc}") from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise ConnectorError(
            f"the wake directory {directory} is not a directory owned by this user",
            hint="remove it; the worker recreates it private to its user",
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, 0o700)


def _address(path: Path) -> tuple[str, int | None]:
    """``path`` as a socket address, through ``/proc/self/fd`` when it is too long."""
    text = str(path)
    if len(text.encode()) <= _MAX_SOCKET_PATH:
        return text, None
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{path.name}", fd


def _bind(sock: socket.socket, path: Path) -> None:
    address, fd = _address(path)
    try:
        sock.bind(address)
    finally:
        if fd is not None:
            os.close(fd)


def _send_to(sock: socket.socket, path: Path) -> None:
    address, fd = _address(path)
    try:
        sock.sendto(MESSAGE, address)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return  # the worker stopped and removed its socket meanwhile
        raise
    finally:
        if fd is not None:
            os.close(fd)


def build_wake(engine: sa.Engine) -> Wake:
    """The wake-ups that fit the database: NOTIFY on PostgreSQL, sockets next to a SQLite file."""
    url = engine.url
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresWake(engine)
    database = url.database or ""
    if backend == "sqlite" and database not in ("", ":memory:") and database[:5] != "file:":
        path = Path(database).expanduser().resolve()
        return SocketWake(path.parent / f"{path.name}-wake")
    return Wake()
