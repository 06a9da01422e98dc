"""Serve a WSGI app on a loopback port in a background thread."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """Request handler that keeps the sandbox's access log out of the product's logs."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class LoopbackServer:
    """A threaded WSGI server bound to 127.0.0.1; ``url`` is known once started."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:53123``."""
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> LoopbackServer:
        """Bind the port and serve in a daemon thread."""
        self._server = make_server(
            self.host, self.port, self.app, threaded=True, request_handler=_QuietHandler
        )
        server = self._server
        # Short poll so stop() returns quickly; tests start and stop many servers.
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05),
            name=f"sandbox:{server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(app: Any, *, port: int = 0) -> LoopbackServer:
    """Start ``app`` on a loopback port and return the running server."""
    return LoopbackServer(app, port=port).start()


class ServedSandbox:
    """Base of the emulators: one loopback server, an idempotent start, stop, context manager."""

    def __init__(self, app: Any, *, port: int = 0) -> None:
        self._server = LoopbackServer(app, port=port)
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """Where the emulator listens, without a trailing slash."""
        if self._base_url is None:
            raise RuntimeError(f"{type(self).__name__} not started")
        return self._base_url

    def start(self) -> Self:
        """Start serving (idempotent)."""
        if self._base_url is None:
            self._server.start()
            self._base_url = self._server.url
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.stop()
        self._base_url = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
