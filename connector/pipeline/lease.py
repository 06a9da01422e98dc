"""Keeping a live worker's reservations from expiring while it still works on them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import timedelta
from types import TracebackType

from connector.errors import ConnectorError
from connector.store import Store
from connector.store.models import LedgerKey

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Extend ``owner``'s reservations on ``keys`` every third of ``lease`` until the block ends.

    Reservations are short so that a killed worker blocks its creators only briefly; a live
    worker whose calls outlast the lease (rate-limit waits, slow batch uploads) must not lose
    them, or a second worker would pay for the same creators.
    """

    def __init__(
        self, store: Store, keys: Iterable[LedgerKey], owner: str, lease: timedelta
    ) -> None:
        self._store = store
        self._keys = sorted(set(keys))
        self._owner = owner
        self._lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        if self._keys:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        every = max(self._lease.total_seconds() / 3, 0.05)
        while not self._stop.wait(every):
            try:
                self._store.extend(self._keys, self._owner, self._lease)
            except ConnectorError as exc:
                log.warning("could not extend reservations", extra={"error": str(exc)})
