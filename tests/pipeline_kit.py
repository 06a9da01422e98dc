"""Helpers of the pipeline tests: services on a sandbox stack, and batches run to their end."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from connector.pipeline.batches import poll_batches
from connector.pipeline.delivery import deliver_ready, flush_outbox
from connector.sandbox.stack import SandboxStack
from connector.services import Services, build_services


def build_pipeline(
    stack: SandboxStack, tmp_path: Path, sources: list[dict[str, Any]], **overrides: Any
) -> Services:
    """Services wired to ``stack`` with ``sources``, pictures not rehosted."""
    settings = stack.build_settings(
        data_dir=tmp_path, sources=sources, media={"backend": "none"}, **overrides
    )
    return build_services(settings)


def finish_batches(services: Services) -> None:
    """Poll open batches, deliver and flush until none is open (20 s at most)."""
    for _ in range(100):
        if not services.store.fetch_open_batches():
            break
        poll_batches(services)
        deliver_ready(services)
        flush_outbox(services)
        time.sleep(0.2)
    flush_outbox(services)
