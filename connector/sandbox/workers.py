"""Real ``connector`` processes against the sandboxes: start, SIGTERM, SIGKILL, read the outcome.

Tests and benchmarks run the sandboxes in their own process and the connector as a child
process, so a SIGKILL hits only the connector, exactly as a crashed or OOM-killed worker would.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
import yaml

from connector.pipeline.holds import HELD, INTERRUPTED
from connector.sandbox.stack import SandboxStack
from connector.sources.base import Status
from connector.store import Store

FINAL_PREFIXES = (Status.ENRICHED, Status.NOT_FOUND, Status.INVALID)


def write_config(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write settings (e.g. ``SandboxStack.settings_data(...)``) as YAML; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
    return target


@contextmanager
def fresh_schema(server_url: str) -> Iterator[str]:
    """A URL on a new, empty PostgreSQL schema of ``server_url``, dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in server_url else "?"
    try:
        yield f"{server_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


class ConnectorProcess:
    """One ``python -m connector --config PATH <args…>`` child; its output goes to a log file."""

    def __init__(
        self,
        config: str | Path,
        args: Sequence[str] = ("worker",),
        *,
        log_path: str | Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = Path(config)
        self.args = list(args)
        self.log_path = Path(log_path)
        self.env = {**os.environ, **(env or {})}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def command(self) -> list[str]:
        """The argv of the child."""
        return [sys.executable, "-m", "connector", "--config", str(self.config), *self.args]

    def start(self) -> ConnectorProcess:
        """Spawn the child, appending to the log file (restarts keep the earlier output)."""
        if self.alive:
            raise RuntimeError("the process is already running")
        self.close_log()
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, env=self.env
        )
        return self

    @property
    def pid(self) -> int | None:
        """The child's pid while it exists."""
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code (negative signal number when killed), None while running."""
        return self._proc.poll() if self._proc is not None else None

    def kill(self) -> int:
        """SIGKILL the child and reap it; returns its exit code."""
        assert self._proc is not None, "not started"
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        code = self._proc.wait(timeout=30)
        self.close_log()
        return code

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM the child and wait for it to finish its current step and exit."""
        assert self._proc is not None, "not started"
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=30)
            raise
        finally:
            self.close_log()

    def wait(self, timeout: float) -> int:
        """Wait for the child to exit on its own; returns its exit code."""
        assert self._proc is not None, "not started"
        code = self._proc.wait(timeout=timeout)
        self.close_log()
        return code

    def read_log(self) -> str:
        """Everything the child (and its earlier incarnations) printed."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, text: str, timeout: float) -> bool:
        """Poll the log until ``text`` appears, the child exits, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.read_log():
                return True
            if not self.alive:
                return text in self.read_log()
            time.sleep(0.05)
        return False

    def close_log(self) -> None:
        """Close the parent's handle on the log file."""
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """Kill the child if it still runs and close the log (for ``finally`` blocks)."""
        if self.alive:
            self.kill()
        self.close_log()


def seed_contacts(
    stack: SandboxStack,
    handles: Sequence[str],
    *,
    name: str = "Creators to enrich",
    handle_property: str = "instagram_handle",
) -> tuple[str, list[str]]:
    """Create one contact per handle and a manual list of them; returns (list id, contact ids)."""
    if handle_property not in stack.hubspot.properties():
        stack.hubspot.create_property(handle_property, label="Creator handle")
    ids = stack.hubspot.create_contacts(
        [
            {"email": f"creator{i}@example.com", "firstname": f"Creator {i}", handle_property: h}
            for i, h in enumerate(handles)
        ]
    )
    return stack.hubspot.create_list(name, member_ids=ids), ids


def fetch_sheet_statuses(
    stack: SandboxStack, key: str, *, worksheet: str = "Sheet1", column: str = "IC Status"
) -> list[str]:
    """The status cell of every data row of a sandbox sheet ("" where empty or no column)."""
    values = stack.sheets.get_values(key, worksheet)
    header = [str(h) for h in values[0]] if values else []
    if column not in header:
        return ["" for _ in values[1:]]
    index = header.index(column)
    return [str(row[index]) if index < len(row) else "" for row in values[1:]]


def fetch_contact_statuses(
    stack: SandboxStack, ids: Iterable[str], *, prop: str = "ic_status"
) -> list[str]:
    """The status property of each contact ("" where unset)."""
    return [str(stack.hubspot.get_contact(i).get(prop) or "") for i in ids]


def is_final(status: str) -> bool:
    """``enriched``, ``not found``, ``invalid handle: …`` or ``error`` (claims are not).

    ``error`` is final because it waits for a human: after a crash it marks a creator whose
    paid call was in flight (see ``count_interrupted``), which must not be sent again.
    """
    return status.strip().startswith((*FINAL_PREFIXES, Status.ERROR))


def count_interrupted(database_url: str) -> tuple[int, int]:
    """(records waiting for a human retry because a paid call was in flight at a kill — theirs
    or their creator's —, records failed for any other reason)."""

    store = Store.open(database_url, migrate=False)
    try:
        failed = store.fetch_work(state="failed")
    finally:
        store.close()
    interrupted = sum(1 for w in failed if w.error in (INTERRUPTED, HELD))
    return interrupted, len(failed) - interrupted


def count_double_spent(charges: Mapping[str, int]) -> int:
    """Paid calls beyond the first, summed over creators (the sandbox's ``charges`` counter)."""
    return sum(max(0, int(n) - 1) for n in charges.values())


@dataclass(frozen=True)
class Dataset:
    """Rows for a sheet (handle, platform) and a HubSpot list (handles), plus what to expect."""

    sheet_rows: list[list[str]]
    contact_handles: list[str]
    found: frozenset[tuple[str, str]]

    @property
    def unique_found(self) -> int:
        """Distinct creators that exist: exactly what a run may be billed for."""
        return len(self.found)

    def split(self, parts: int) -> list[Dataset]:
        """``parts`` consecutive slices of both sources (waves of arriving work)."""
        out = []
        for i in range(parts):
            rows = _slice(self.sheet_rows, i, parts)
            handles = _slice(self.contact_handles, i, parts)
            names = {(p, n) for n, p in rows} | {("instagram", _base(h)) for h in handles}
            out.append(Dataset(rows, handles, frozenset(self.found & names)))
        return out


def _slice(items: list[Any], index: int, parts: int) -> list[Any]:
    return items[index * len(items) // parts : (index + 1) * len(items) // parts]


def _base(handle: str) -> str:
    return handle.strip().strip("/").rsplit("/", 1)[-1].lstrip("@")


def build_dataset(
    total: int,
    *,
    sheet_share: float = 0.6,
    duplicates: float = 0.2,
    not_found: float = 0.1,
    singles: int = 0,
    prefix: str = "c",
    rng: random.Random | None = None,
) -> Dataset:
    """``total`` handles over a sheet and a list, ``duplicates`` of them repeating a creator of
    the other source (written differently), ``not_found`` of the creators unknown to the API.

    The first ``singles`` sheet rows are TikTok creators, too few for a batch, so the single
    route runs next to the batch route. Names follow the sandbox's rules: ``found…`` creators
    always exist, ``notfound…`` never do.
    """
    rng = rng or random.Random(0)
    sheet_n = round(total * sheet_share)
    dup_n = round(total * duplicates)
    contact_n = total - sheet_n
    if dup_n > min(contact_n, sheet_n - singles):
        raise ValueError("too many duplicates for the source sizes")

    unique_n = sheet_n + contact_n - dup_n
    missing = set(rng.sample(range(unique_n), round(unique_n * not_found)))
    names = [f"{'notfound' if i in missing else 'found'}_{prefix}{i:05d}" for i in range(unique_n)]
    sheet_names, new_names = names[:sheet_n], names[sheet_n:]
    rows = [[n, "tiktok" if i < singles else "instagram"] for i, n in enumerate(sheet_names)]
    instagram = [n for i, n in enumerate(sheet_names) if i >= singles]
    forms = ("@{}", "https://www.instagram.com/{}/", "{}")
    repeated = [rng.choice(forms).format(n) for n in rng.sample(instagram, dup_n)]
    contacts = new_names + repeated
    rng.shuffle(rows)
    rng.shuffle(contacts)
    found = {(p, n) for n, p in rows if n.startswith("found")}
    found |= {("instagram", n) for n in new_names if n.startswith("found")}
    return Dataset(rows, contacts, frozenset(found))


class Scenario:
    """A sheet and a HubSpot list on a ``SandboxStack``, fed in waves, and their final state."""

    def __init__(self, stack: SandboxStack, *, poll_interval: float = 0.5, claim_lease: float = 20):
        self.stack = stack
        self.sheet_key = stack.seed_sheet([])
        self.list_id = stack.hubspot.create_list("Creators to enrich")
        self.contact_ids: list[str] = []
        self.poll_interval = poll_interval
        self.claim_lease = claim_lease
        self.found: set[tuple[str, str]] = set()
        self._contacts = 0
        if "instagram_handle" not in stack.hubspot.properties():
            stack.hubspot.create_property("instagram_handle", label="Creator handle")

    def add(self, data: Dataset) -> None:
        """Append the rows to the sheet and the contacts to the list."""
        if data.sheet_rows:
            self.stack.sheets.append_rows(
                self.sheet_key, "Sheet1", [list(r) for r in data.sheet_rows]
            )
        if data.contact_handles:
            start = self._contacts
            ids = self.stack.hubspot.create_contacts(
                [
                    {"email": f"creator{start + i}@example.com", "instagram_handle": h}
                    for i, h in enumerate(data.contact_handles)
                ]
            )
            self._contacts += len(ids)
            self.stack.hubspot.add_members(self.list_id, ids)
            self.contact_ids.extend(ids)
        self.found |= data.found

    def sources(self) -> list[dict[str, Any]]:
        """The two source entries for ``SandboxStack.settings_data``."""
        return [
            {
                "name": "leads",
                "type": "sheets",
                "spreadsheet": self.sheet_key,
                "platform_column": "Platform",
                "poll_interval": self.poll_interval,
                "claim_lease": self.claim_lease,
                "reconcile_every": 5,
            },
            {
                "name": "crm",
                "type": "hubspot",
                "list": self.list_id,
                "platform": "instagram",
                "poll_interval": self.poll_interval,
                "claim_lease": self.claim_lease,
            },
        ]

    def statuses(self) -> list[str]:
        """Every row's and contact's status."""
        return fetch_sheet_statuses(self.stack, self.sheet_key) + fetch_contact_statuses(
            self.stack, self.contact_ids
        )

    def lost_rows(self) -> int:
        """Rows and contacts without a final status."""
        return sum(1 for s in self.statuses() if not is_final(s))

    def wait_until_final(self, timeout: float, *, every: float = 0.5) -> int:
        """Poll until every row is final or ``timeout`` passes; returns the rows still open."""
        deadline = time.monotonic() + timeout
        while True:
            lost = self.lost_rows()
            if lost == 0 or time.monotonic() >= deadline:
                return lost
            time.sleep(every)


# How long before a kill a billed answer may still be uncommitted (measured p90 gap: ~6 ms).
COMMIT_WINDOW = 0.1


def is_in_flight_at_kill(
    charge: Mapping[str, Any],
    kill_times: Sequence[float],
    *,
    window: float = 1.0,
    before: float = COMMIT_WINDOW,
) -> bool:
    """A Full call billed from ``before`` s ahead of a kill to ``window`` s after it.

    Such a call was in flight when the worker died: the server billed it, but the answer died
    with the process before the worker could commit it (the commit follows the answer by a few
    milliseconds). No client can get such an answer back without paying again.
    """
    return charge["via"] == "full" and any(
        k - before <= charge["t"] <= k + window for k in kill_times
    )


def find_orphan_batches(stack: SandboxStack, database_url: str) -> list[tuple[str, int]]:
    """Sandbox batches whose id never reached the store (the create call was in flight when the
    worker died), with the rows billed in each."""

    with stack.ic.state.lock:
        batches = [(b.batch_id, b.processed) for b in stack.ic.state.batches.values()]
    store = Store.open(database_url, migrate=False)
    try:
        return [(i, rows) for i, rows in batches if store.get_batch_by_id(i) is None]
    finally:
        store.close()


def explain_double_spends(
    stack: SandboxStack, database_url: str, kill_times: Sequence[float]
) -> dict[str, int]:
    """``double_spent`` split into ``…_in_flight`` (a repeat charge whose earlier charge was in
    flight at a kill, or billed by a batch whose id never reached the store) and
    ``…_unexplained`` (anything else: a connector bug), plus ``orphan_batches``."""
    orphans = find_orphan_batches(stack, database_url)
    orphan_vias = {f"batch:{batch_id}" for batch_id, _ in orphans}
    by_key: dict[str, list[Mapping[str, Any]]] = {}
    for charge in stack.ic.charge_log():
        by_key.setdefault(charge["key"], []).append(charge)
    double = in_flight = 0
    for charges in by_key.values():
        for earlier in charges[:-1]:
            double += 1
            if earlier["via"] in orphan_vias or is_in_flight_at_kill(earlier, kill_times):
                in_flight += 1
    return {
        "double_spent": double,
        "double_spent_in_flight": in_flight,
        "double_spent_unexplained": double - in_flight,
        "orphan_batches": len(orphans),
    }
