"""The store's engine and migrations: schema creation, idempotence, pragmas, ping and the CLI."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from connector.cli import _register_commands, cli
from connector.config import parse_settings
from connector.errors import ConfigError, TransientError
from connector.store import LedgerKey, Store
from connector.store.engine import get_head_revision
from connector.store.schema import metadata


def test_open_creates_every_table_on_an_empty_database(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        names = set(sa.inspect(store.engine).get_table_names())
        assert set(metadata.tables) <= names
        assert "alembic_version" in names
        assert store.get_schema_revision() == (get_head_revision(), get_head_revision())
    finally:
        store.close()


def test_second_open_is_a_no_op_and_keeps_data(database_url: str) -> None:
    store = Store.open(database_url)
    key = LedgerKey("instagram", "kept")
    store.save_result(key, "found", {"handle": "kept"}, 1.0)
    store.close()
    again = Store.open(database_url)
    try:
        assert key in again.lookup_fresh([key])
        assert again.get_schema_revision()[0] == get_head_revision()
    finally:
        again.close()


def test_migrations_match_the_table_metadata(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, metadata)
        assert diffs == []
    finally:
        store.close()


def test_concurrent_first_starts_migrate_once(database_url: str) -> None:
    barrier = threading.Barrier(4)

    def start() -> str | None:
        barrier.wait()
        store = Store.open(database_url)
        try:
            return store.get_schema_revision()[0]
        finally:
            store.close()

    with ThreadPoolExecutor(4) as pool:
        revisions = list(pool.map(lambda _: start(), range(4)))
    assert revisions == [get_head_revision()] * 4


def test_timestamps_come_back_as_aware_utc(database_url: str) -> None:
    local = timezone(timedelta(hours=5))
    store = Store.open(database_url, clock=lambda: datetime(2026, 3, 1, 17, 0, tzinfo=local))
    try:
        key = LedgerKey("youtube", "tz")
        store.save_result(key, "not_found", None, 0.0)
        entry = store.get_ledger_entries([key])[key]
        assert entry.fetched_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
        assert entry.fetched_at.tzinfo == UTC
    finally:
        store.close()


def test_naive_clock_is_rejected(sqlite_url: str) -> None:
    store = Store.open(sqlite_url, clock=lambda: datetime(2026, 1, 1))
    try:
        with pytest.raises(ValueError, match="timezone-aware"):
            store.request_poll("sheet")
    finally:
        store.close()


def test_sqlite_uses_wal_and_a_busy_timeout(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert (conn.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_sqlite_file_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "data" / "connector.db"
    store = Store.open(f"sqlite:///{path}")
    store.close()
    assert path.exists()


def test_ping_passes_when_the_database_is_up(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        store.ping()
    finally:
        store.close()


def test_ping_raises_transient_error_when_the_database_is_down() -> None:
    store = Store.open("postgresql+psycopg://postgres@127.0.0.1:9/none", migrate=False)
    try:
        with pytest.raises(TransientError, match="database unavailable"):
            store.ping()
    finally:
        store.close()


def test_open_against_an_unreachable_server_raises_transient_error() -> None:
    with pytest.raises(TransientError):
        Store.open("postgresql+psycopg://postgres@127.0.0.1:9/none")


def _write_config(tmp_path: Path, database_url: str) -> Path:
    config = tmp_path / "connector.yaml"
    config.write_text(f"data_dir: {tmp_path}\ndatabase_url: '{database_url}'\n", encoding="utf-8")
    return config


def test_cli_db_current_reports_an_empty_database_then_upgrade_fixes_it(
    database_url: str, tmp_path: Path
) -> None:
    _register_commands()
    config = str(_write_config(tmp_path, database_url))
    runner = CliRunner()

    before = runner.invoke(cli, ["--config", config, "db", "current"])
    assert before.exit_code == 1
    assert "(empty database)" in before.output

    upgraded = runner.invoke(cli, ["--config", config, "db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"revision {get_head_revision()}" in upgraded.output

    after = runner.invoke(cli, ["--config", config, "db", "current"])
    assert after.exit_code == 0
    assert f"current: {get_head_revision()}" in after.output


def test_cli_db_upgrade_reports_an_unreachable_database(tmp_path: Path) -> None:
    _register_commands()
    config = str(_write_config(tmp_path, "postgresql://postgres@127.0.0.1:9/none"))
    result = CliRunner().invoke(cli, ["--config", config, "db", "upgrade"])
    assert result.exit_code == 1
    assert "database unavailable" in result.output


def test_naive_datetimes_from_callers_raise_value_error(sqlite_url: str) -> None:
    store = Store.open(sqlite_url)
    try:
        (write_id,) = store.enqueue_writes("leads", [("k", {})])
        with pytest.raises(ValueError, match="naive"):
            store.mark_write_failed(write_id, "boom", datetime(2026, 1, 1))
    finally:
        store.close()


def test_from_settings_uses_the_pipeline_freshness_windows(tmp_path: Path) -> None:
    settings = parse_settings(
        {
            "data_dir": str(tmp_path),
            "pipeline": {"refresh_after_days": 3, "not_found_refresh_days": 1},
        },
        environ={},
    )
    store = Store.from_settings(settings)
    try:
        assert (store.found_max_age, store.not_found_max_age) == (
            timedelta(days=3),
            timedelta(days=1),
        )
        assert (tmp_path / "connector.db").exists()
    finally:
        store.close()


@pytest.mark.parametrize("url", ["nonsense", "mysqlx+nodriver://u@h/db"])
def test_unusable_urls_raise_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="database_url"):
        Store.open(url)
