"""The demo on a bad API day: what a human does after an ambiguous upload, and faults seen."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from connector.sandbox.stack import SandboxStack

BATCH_UPLOAD_PATH = "/public/v1/enrichment/batch/"
# The error of a record whose batch upload may have been billed (pipeline/batches.py).
UNCONFIRMED = "may have been created and billed"
FAULT_STATUSES = (402, 403, 429, 502, 503, 504)


def answer_unconfirmed(
    stack: SandboxStack,
    sheet_key: str,
    contact_ids: Sequence[str],
    config_path: Path | None,
    console: Console,
) -> int:
    """Do what a human does about records whose batch upload may have been billed.

    The human checks the influencers.club dashboard (here: the sandbox never created a batch
    for an upload its gateway refused), then types ``retry`` into the sheet rows and, as the
    operator, runs ``connector retry crm --rows …`` for the HubSpot contacts. Returns how many
    records were set to ``retry``.
    """
    values = stack.sheets.get_values(sheet_key, "Sheet1")
    header = [str(h).strip() for h in values[0]] if values else []
    cells = {}
    if "IC Status" in header and "IC Error" in header:
        status, error = header.index("IC Status"), header.index("IC Error")
        for number, row in enumerate(values[1:], start=2):
            texts = [str(c) for c in row] + [""] * len(header)
            if texts[status] == "error" and UNCONFIRMED in texts[error]:
                cells[f"{column_letter(status)}{number}"] = "retry"
    contacts = [
        cid
        for cid in contact_ids
        if (c := stack.hubspot.get_contact(cid)).get("ic_status") == "error"
        and UNCONFIRMED in str(c.get("ic_error") or "")
    ]
    if cells:
        stack.sheets.set_cells(sheet_key, "Sheet1", cells)
        console.print(f"a batch upload may have been billed: typed retry into {len(cells)} row(s)")
    if contacts and config_path is not None:
        command = [sys.executable, "-m", "connector", "--config", str(config_path)]
        command += ["retry", "crm", "--rows", ",".join(contacts)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        console.print(
            "a batch upload may have been billed: connector retry crm --rows … set "
            f"{done.stdout.count('retry  contact')} contact(s) to retry"
        )
        if done.returncode != 0:
            console.print(f"[red]connector retry failed:[/red] {done.stderr.strip()[-2000:]}")
    return len(cells) + len(contacts)


def column_letter(index: int) -> str:
    """A 0-based column index as the sheet's letters (0 → A, 26 → AA)."""
    letters, number = "", index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def count_faults(requests: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many influencers.club answers were faults, by status (403/402: out of credits)."""
    counts: dict[str, int] = {}
    for entry in requests:
        status = int(entry.get("status", 0))
        if status in FAULT_STATUSES:
            counts[str(status)] = counts.get(str(status), 0) + 1
    return dict(sorted(counts.items()))
