"""Wake-ups from web to workers: a Unix socket with SQLite, NOTIFY with PostgreSQL."""

from __future__ import annotations

import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.blocking import BlockingScheduler

from connector.config import parse_settings
from connector.errors import ConnectorError
from connector.scheduler import Nudges, RunningJobs, build_scheduler
from connector.services import build_services
from connector.store import Store
from connector.store.wake import PostgresWake, SocketWake, Wake, WakeListener, build_wake


@pytest.fixture
def stores(database_url: str) -> Iterator[tuple[Store, Store]]:
    """The web process's store and a worker's store on the same database."""
    web = Store.open(database_url)
    worker = Store.open(database_url, migrate=False)
    yield web, worker
    web.close()
    worker.close()


@pytest.fixture
def listener(stores: tuple[Store, Store]) -> Iterator[WakeListener]:
    opened = stores[1].wake.listen()
    assert opened is not None
    yield opened
    opened.close()


def test_a_poll_request_wakes_a_worker_and_nothing_else_does(
    stores: tuple[Store, Store], listener: WakeListener
) -> None:
    web, worker = stores
    assert listener.wait(0.05) is False
    assert web.request_poll("leads") is True
    assert listener.wait(5.0) is True
    assert worker.take_poll_requests() == {"leads"}
    assert listener.wait(0.05) is False


def test_a_request_folded_into_a_waiting_one_sends_no_second_wake(
    stores: tuple[Store, Store], listener: WakeListener
) -> None:
    web, worker = stores
    assert web.request_poll("leads") is True
    assert web.request_poll("leads") is False
    assert listener.wait(5.0) is True
    assert listener.wait(0.05) is False
    assert worker.take_poll_requests() == {"leads"}
    assert web.request_poll("leads") is True
    assert listener.wait(5.0) is True


def test_a_webhook_hint_wakes_the_worker(
    stores: tuple[Store, Store], listener: WakeListener
) -> None:
    web, worker = stores
    assert web.save_event_hints([("event-1", {"crm": ["1001"]})]) == {"event-1"}
    assert listener.wait(5.0) is True
    assert worker.take_poll_requests() == {"crm"}
    assert web.save_event_hints([("event-1", {"crm": ["1001"]})]) == set()
    assert listener.wait(0.05) is False


def test_every_listening_worker_is_woken(stores: tuple[Store, Store]) -> None:
    web, worker = stores
    first, second = worker.wake.listen(), worker.wake.listen()
    assert first is not None and second is not None
    try:
        web.request_poll("leads")
        assert first.wait(5.0) and second.wait(5.0)
    finally:
        first.close()
        second.close()


@pytest.mark.postgres
def test_postgres_wakes_only_at_commit(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    wake = store.wake
    assert isinstance(wake, PostgresWake)
    listener = wake.listen()
    try:

        def rolled_back(conn: sa.Connection) -> None:
            wake.signal_in(conn)
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            store.transaction(rolled_back)
        assert listener.wait(0.3) is False
        store.transaction(wake.signal_in)
        assert listener.wait(5.0) is True
    finally:
        listener.close()
        store.close()


def test_the_socket_directory_and_sockets_are_private(sqlite_url: str, tmp_path: Path) -> None:
    store = Store.open(sqlite_url)
    listener = store.wake.listen()
    assert isinstance(store.wake, SocketWake) and listener is not None
    try:
        directory = tmp_path / "connector.db-wake"
        assert store.wake.directory == directory
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        (sock,) = directory.iterdir()
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    finally:
        listener.close()
        store.close()
    assert list(directory.iterdir()) == []


def test_a_loose_wake_directory_is_made_private_again(tmp_path: Path) -> None:
    directory = tmp_path / "wake"
    directory.mkdir()
    directory.chmod(0o777)
    SocketWake(directory).listen().close()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_a_wake_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "wake").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ConnectorError, match="not a directory owned by this user"):
        SocketWake(tmp_path / "wake").listen()


def test_a_dead_workers_socket_is_removed_by_the_next_wake(tmp_path: Path) -> None:
    directory = tmp_path / "wake"
    directory.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(directory / "1-dead00.sock"))
    dead.close()
    SocketWake(directory).send()
    assert list(directory.iterdir()) == []


def test_sending_without_any_worker_is_harmless(tmp_path: Path) -> None:
    SocketWake(tmp_path / "never-created").send()
    Wake().send()
    assert Wake().listen() is None


def test_sockets_work_beyond_the_socket_path_limit(tmp_path: Path) -> None:
    directory = tmp_path / ("d" * 120)
    wake = SocketWake(directory)
    listener = wake.listen()
    try:
        wake.send()
        assert listener.wait(5.0) is True
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///{tmp}/data/connector.db", SocketWake),
        ("sqlite://", Wake),
        ("sqlite:///:memory:", Wake),
    ],
)
def test_the_wake_fits_the_database(tmp_path: Path, url: str, kind: type[Wake]) -> None:
    engine = sa.create_engine(url.format(tmp=tmp_path))
    assert type(build_wake(engine)) is kind
    engine.dispose()


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def build_worker(tmp_path: Path) -> tuple[Store, Nudges, RunningJobs, BlockingScheduler]:
    settings = parse_settings(
        {
            "data_dir": str(tmp_path),
            "influencers_club": {"api_key": "k", "base_url": "http://127.0.0.1:9"},
            "sources": [{"name": "crm", "type": "hubspot", "list": "1"}],
        },
        environ={},
    )
    services = build_services(settings)
    running = RunningJobs()
    nudges = Nudges(services, running)
    scheduler = build_scheduler(services, running, nudges)
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduler.get_job("poll:crm").modify(next_run_time=later)
    return services.store, nudges, running, scheduler


def list_sockets(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.exists() else []


def is_due_now(scheduler: BlockingScheduler) -> bool:
    job = scheduler.get_job("poll:crm")
    return bool(job.next_run_time <= datetime.now(UTC) + timedelta(minutes=1))


def test_a_wake_brings_the_sources_poll_forward(tmp_path: Path) -> None:
    store, nudges, _, scheduler = build_worker(tmp_path)
    web = Store.open(f"sqlite:///{tmp_path / 'connector.db'}", migrate=False)
    nudges.start()
    try:
        assert wait_until(lambda: bool(list_sockets(tmp_path / "connector.db-wake")))
        web.request_poll("crm")
        assert wait_until(lambda: is_due_now(scheduler))
        assert store.take_poll_requests() == set()
    finally:
        nudges.stop(timeout=5.0)
        web.close()
        store.close()
    assert not list_sockets(tmp_path / "connector.db-wake")


def test_a_poll_requested_while_it_runs_runs_again_after_it(tmp_path: Path) -> None:
    store, nudges, running, scheduler = build_worker(tmp_path)
    release = threading.Event()
    poll = threading.Thread(target=running.track("poll:crm", lambda: release.wait(10)))
    poll.start()
    nudges.start()
    try:
        assert wait_until(lambda: running.get_ids() == ["poll:crm"])
        store.request_poll("crm")
        nudges.take()
        assert not is_due_now(scheduler)
        release.set()
        poll.join()
        assert wait_until(lambda: is_due_now(scheduler))
    finally:
        release.set()
        nudges.stop(timeout=5.0)
        store.close()


def test_a_stopping_worker_leaves_requests_for_the_next_one(tmp_path: Path) -> None:
    store, nudges, _, scheduler = build_worker(tmp_path)
    try:
        nudges.services.stopping.set()
        store.request_poll("crm")
        nudges.take()
        assert not is_due_now(scheduler)
        assert store.take_poll_requests() == {"crm"}
    finally:
        store.close()


def test_the_wake_directory_is_not_left_in_the_users_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        listener = SocketWake(tmp_path / "wake").listen()
    finally:
        os.umask(old)
    listener.close()
    assert stat.S_IMODE((tmp_path / "wake").stat().st_mode) == 0o700
