"""The demo's dashboard in headless Chromium, checked for content a user relies on.

One demo runs for the module: its held run is approved from the page, then the attention panel,
a run's records and a Retry are checked against the sandboxes, and screenshots at 1400 px and
390 px are kept in the test's temporary directory and in ``test-artifacts/`` (git-ignored).

Chromium is Debian's (``apt-get install chromium``; ``.ci/run`` installs it). Without it these
tests skip, except under ``CI=true``, where a missing browser is a failure: CI must run them.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from connector.demo.runner import DemoRun, running_demo, wait_for_records

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = (
    shutil.which("chromium")
    or shutil.which("chromium-browser")
    or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
)
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
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_until(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium; missing, it skips locally and fails in CI."""
    if CHROMIUM is not None:
        return CHROMIUM
    reason = "Debian's chromium is not installed (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}: the browser tests must run in CI")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def demo(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """The demo without faults, up to its run held for approval."""
    console = Console(stderr=True, force_terminal=False)
    data_dir = tmp_path_factory.mktemp("demo")
    # Without faults: a retried upload would be held for approval a second time.
    with running_demo(console=console, data_dir=data_dir, faults="none") as run:
        assert wait_until(
            lambda: (
                any(s.startswith("awaiting approval") for s in run.statuses()) and run.held_runs()
            )
        )
        yield run


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Any, str], Path]:
    """Save a full-page screenshot in the test's temp dir and copy it to ``test-artifacts/``."""
    folder = tmp_path_factory.mktemp("screenshots")
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shutil.copy2(path, ARTIFACTS / path.name)
        return path

    return save


def open_page(browser: Any, demo: DemoRun, viewport: dict[str, int], path: str = "/") -> Any:
    page = browser.new_page(viewport=viewport)
    page.goto(demo.summary.dashboard_url)
    if path != "/":
        page.goto(f"{demo.web_url}{path}")
    page.wait_for_load_state()
    return page


def fetch(demo: DemoRun, path: str) -> httpx.Response:
    """A JSON API (or CSV) answer, as an API client gets it."""
    response = httpx.get(
        f"{demo.web_url}{path}", headers={"Authorization": f"Bearer {demo.token}"}, timeout=10
    )
    response.raise_for_status()
    return response


def in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def records_in_need(demo: DemoRun) -> set[tuple[str, str]]:
    """(source, location) of the demo's records whose status is an error or an invalid input."""
    wanted = ("error", "invalid handle", "invalid e-mail")
    found: set[tuple[str, str]] = set()
    sheets = [("leads", demo.sheet_key), ("audience", demo.raw_sheet_key)]
    for source, key in sheets:
        if not key:
            continue
        values = demo.stack.sheets.get_values(key, "Sheet1")
        header = [str(h) for h in values[0]]
        status = header.index("IC Status")
        found |= {
            (source, f"Sheet1!A{number}")
            for number, row in enumerate(values[1:], start=2)
            if len(row) > status and str(row[status]).startswith(wanted)
        }
    for contact in demo.contact_ids:
        if str(demo.stack.hubspot.get_contact(contact).get("ic_status") or "").startswith(wanted):
            found.add(("crm", f"contact {contact}"))
    return found


def test_a_held_run_is_approved_from_the_page_and_the_confirmation_stays_in_view(
    demo: DemoRun, browser: Any
) -> None:
    page = open_page(browser, demo, DESKTOP)
    assert page.locator("#sources tr[data-source]").count() == 3  # leads, crm, audience (Raw tier)
    assert page.locator("#credit-chart svg").count() == 1
    approve = page.locator("#held-runs .approve-button")
    assert approve.count() >= 1
    assert "credits" in approve.first.inner_text()
    approve.first.click()
    page.wait_for_load_state()
    assert "approved" in page.locator("#attention .flash").inner_text()
    assert in_view(page, "#attention .flash")
    page.locator('#sources tr[data-source="leads"] .sync-button').click()
    page.wait_for_load_state()
    assert "Sync of leads requested" in page.locator("#sources .flash").inner_text()
    assert in_view(page, "#sources .flash"), "no jump: the confirmation is where the button was"
    assert wait_for_records(demo, Console(stderr=True), timeout=120, auto_approve=False)
    assert wait_until(lambda: bool(demo.slack.messages()), timeout=30)
    page.close()


def test_the_attention_panel_lists_the_demos_errored_and_invalid_rows(
    demo: DemoRun, browser: Any
) -> None:
    page = open_page(browser, demo, DESKTOP)
    assert page.locator("#held-runs .approve-button").count() == 0
    expected = records_in_need(demo)
    assert len(expected) >= 4, "the demo seeds four invalid handles"
    shown = page.locator("#attention tr.error-record")
    listed = {
        (shown.nth(i).get_attribute("data-source"), shown.nth(i).get_attribute("data-location"))
        for i in range(shown.count())
    }
    assert listed == expected
    panel = page.locator("#attention").inner_text()
    assert "contains spaces" in panel and "Retry" in panel
    # The balance fell under the warn threshold; its alert carries the sentence Slack got.
    assert page.locator("#balance").get_attribute("data-level") == "warn"
    assert "below the warn threshold" in page.locator("#active-alerts").inner_text()
    assert "Burn / day" in page.locator("#credits").inner_text()
    assert page.locator("#burn-note").count() == 1, "no burn rate from seconds of history"
    page.close()


def test_a_runs_detail_lists_its_records_and_their_credits_add_up(
    demo: DemoRun, browser: Any, screens: Callable[[Any, str], Path]
) -> None:
    runs = fetch(demo, "/api/runs?limit=200").json()["runs"]
    assert all(r["records"] or r["credits_spent"] or r["error"] for r in runs)
    top = max(runs, key=lambda r: r["credits_spent"])
    assert top["credits_spent"] > 0
    page = open_page(browser, demo, DESKTOP)
    page.locator(f'#runs tr[data-run-id="{top["run_id"]}"] a').first.click()
    page.wait_for_load_state()
    assert page.locator("#run").get_attribute("data-run-id") == top["run_id"]
    screens(page, "run-1400")
    total, rows = 0.0, 0
    while True:
        records = page.locator("#record-table tr.record")
        rows += records.count()
        total += sum(
            float(records.nth(i).get_attribute("data-credits") or 0) for i in range(records.count())
        )
        following = page.locator("nav.pager a", has_text="next")
        if following.count() == 0:
            break
        following.click()
        page.wait_for_load_state()
    assert rows == fetch(demo, f"/api/runs/{top['run_id']}/records?limit=1").json()["total"]
    assert total == pytest.approx(top["credits_spent"])
    assert "adds up to the run" in page.locator("#run").inner_text()
    text = fetch(demo, f"/api/runs/{top['run_id']}/records.csv").text
    exported = list(csv.DictReader(io.StringIO(text)))
    assert len(exported) == rows
    assert sum(float(r["credits"]) for r in exported) == pytest.approx(top["credits_spent"])
    phone = open_page(browser, demo, PHONE, f"/runs/{top['run_id']}")
    screens(phone, "run-390")
    page.close()
    phone.close()


def test_retry_from_the_page_changes_the_row_in_the_sheets_sandbox(
    demo: DemoRun, browser: Any
) -> None:
    values = demo.stack.sheets.get_values(demo.sheet_key, "Sheet1")
    number = next(i for i, row in enumerate(values[1:], start=2) if row[0] == "two words")
    location = f"Sheet1!A{number}"
    # The user fixes the handle in the sheet, then presses Retry on the dashboard.
    demo.stack.sheets.set_cells(demo.sheet_key, "Sheet1", {f"A{number}": "found_two_words"})
    page = open_page(browser, demo, DESKTOP)
    row = page.locator(
        f'#attention tr.error-record[data-source="leads"][data-location="{location}"]'
    )
    row.locator("xpath=ancestor::details").evaluate("group => { group.open = true; }")
    row.locator(".retry-button").click()
    page.wait_for_load_state()
    flash = page.locator("#attention .flash").first
    assert f"Retry requested for 1 record(s) ({location})" in flash.inner_text()
    assert in_view(page, "#attention .flash")

    def status() -> str:
        header = [str(h) for h in demo.stack.sheets.get_values(demo.sheet_key, "Sheet1")[0]]
        row_values = demo.stack.sheets.get_values(demo.sheet_key, "Sheet1")[number - 1]
        return str((row_values + [""] * len(header))[header.index("IC Status")])

    assert not status().startswith("invalid handle")
    assert wait_until(lambda: status() == "enriched", timeout=60), status()
    page.reload()
    gone = f'#attention tr.error-record[data-source="leads"][data-location="{location}"]'
    assert page.locator(gone).count() == 0
    page.close()


def test_screenshots_at_1400_and_390_px_are_kept(
    demo: DemoRun, browser: Any, screens: Callable[[Any, str], Path]
) -> None:
    desktop = open_page(browser, demo, DESKTOP)
    wide = screens(desktop, "dashboard-1400")
    phone = open_page(browser, demo, PHONE)
    narrow = screens(phone, "dashboard-390")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    height = phone.evaluate("document.documentElement.scrollHeight")
    # A section scrolls sideways rather than widen the page: none should need to.
    scrolling = phone.evaluate(
        "[...document.querySelectorAll('section')]"
        ".filter(s => s.scrollWidth > s.clientWidth + 1).map(s => s.id)"
    )
    desktop.close()
    phone.close()
    assert wide.stat().st_size > 10_000 and narrow.stat().st_size > 10_000
    assert (ARTIFACTS / "dashboard-390.png").exists()
    assert overflow <= 0, "nothing sticks out sideways on a phone"
    assert scrolling == [], f"sections scrolling sideways on a phone: {scrolling}"
    assert height < 6000, f"the phone page is {height} px tall"
