"""The demo's dashboard in headless Chromium: sources, batches, credit chart, alerts, approve."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from rich.console import Console

from connector.demo.runner import running_demo, wait_for_records

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]


def wait_until(predicate, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_dashboard_shows_the_demo_and_approves_a_held_run(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    console = Console(stderr=True, force_terminal=False)
    # Without faults: a retried upload would be held for approval a second time.
    with running_demo(console=console, data_dir=tmp_path / "demo", faults="none") as run:
        assert wait_until(
            lambda: (
                any(s.startswith("awaiting approval") for s in run.statuses()) and run.held_runs()
            )
        )
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.goto(run.summary.dashboard_url)
            sources = page.locator("#sources tr[data-source]")
            assert sources.count() == 3  # leads, crm and the Raw-tier audience sheet
            assert "leads" in page.locator("#sources").inner_text()
            assert "audience" in page.locator("#sources").inner_text()
            assert page.locator("#credit-chart svg").count() == 1
            approve = page.locator("#held-runs .approve-button")
            assert approve.count() >= 1
            approve.first.click()
            page.wait_for_load_state()
            assert wait_for_records(run, console, timeout=90, auto_approve=False)
            assert wait_until(lambda: bool(run.slack.messages()), timeout=20)
            page.goto(f"{run.web_url}/")
            page.wait_for_load_state()
            assert page.locator("#held-runs .approve-button").count() == 0
            assert page.locator("#alerts tr").count() >= 1
            assert "warn" in page.locator("#alerts").inner_text()
            assert page.locator("#credit-chart svg polyline").count() >= 1
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(run.summary.dashboard_url)
            phone.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
            browser.close()
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
