"""``connector demo`` as a user runs it: a real process, stopped by SIGTERM or SIGINT.

The demo's web app and worker have separate data directories, so every picture it serves after
the sandbox's signed links expired came from the shared state database, not a shared disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def children_of(pid: int) -> set[int]:
    """Every living descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the ppid follows the last ')'.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_demo(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    """The demo with its stdout in ``demo.out`` and its stderr in ``demo.err``."""
    with (tmp_path / "demo.out").open("wb") as out, (tmp_path / "demo.err").open("wb") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector",
                "demo",
                "--data-dir",
                str(tmp_path / "demo"),
                *args,
            ],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "80"},
        )


def wait_for_text(path: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return True
        time.sleep(0.2)
    return False


def stop_and_check(demo: subprocess.Popen[bytes], sig: signal.Signals) -> tuple[float, set[int]]:
    descendants = children_of(demo.pid)
    assert descendants, "the demo should have started a worker process"
    sent = time.monotonic()
    demo.send_signal(sig)
    try:
        demo.wait(timeout=15)
    except subprocess.TimeoutExpired:
        demo.kill()
        raise
    took = time.monotonic() - sent
    return took, {pid for pid in descendants if alive(pid)}


def test_keep_running_leaves_no_process_15_s_after_sigterm(tmp_path: Path) -> None:
    demo = start_demo(tmp_path, "--keep-running", "--json")
    try:
        assert wait_for_text(tmp_path / "demo.err", "everything keeps running", 150), (
            tmp_path / "demo.err"
        ).read_text()[-3000:]
        took, left = stop_and_check(demo, signal.SIGTERM)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert left == set(), f"still running after SIGTERM: {left}"
    assert took < 15
    summary = json.loads((tmp_path / "demo.out").read_text().strip().splitlines()[-1])
    assert summary["finished"] is True
    # Served by a web app whose data directory is not the worker's: the bytes came from the
    # shared state database.
    assert summary["pictures_rehosted"] > 0
    assert summary["pictures_serving_after_expiry"] == summary["pictures_rehosted"]
    assert not list((tmp_path / "demo" / "web").rglob("*.jpg"))
    assert not list((tmp_path / "demo" / "worker").rglob("*.jpg"))
    log = (tmp_path / "demo" / "worker.log").read_text()
    assert 'event="stopping worker" signal=SIGTERM' in log
    assert 'event="worker stopped"' in log


def test_sigint_mid_run_stops_every_child(tmp_path: Path) -> None:
    demo = start_demo(tmp_path)
    try:
        assert wait_for_text(tmp_path / "demo.err", "records final", 120), (
            tmp_path / "demo.err"
        ).read_text()[-3000:]
        took, left = stop_and_check(demo, signal.SIGINT)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert left == set(), f"still running after SIGINT: {left}"
    assert took < 15
    assert demo.returncode != 0
