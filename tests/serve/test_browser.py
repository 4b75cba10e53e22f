"""The dashboard in a real browser: one end-to-end run through the pages, and every page's
layout at a desktop and a phone width.

The tests drive Debian's /usr/bin/chromium with Playwright against the app served by
uvicorn on a local port. They are marked `browser` so they can be deselected
(`-m "not browser"`); without chromium they are skipped, except under CI (`CI` set), where
chromium is installed and a missing one is a failure.
"""

from __future__ import annotations

import os
import re
import socket
import struct
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopsense.config import Settings
from shopsense.data.store import Store
from shopsense.serve.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USER = "12348"


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Skip where chromium or playwright is missing, but fail under CI, which has both.
    Session-scoped so it runs before the (session) shop is built: a skip costs nothing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"chromium at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if missing:
        why = " and ".join(missing) + " needed for the browser test"
        if os.environ.get("CI"):
            pytest.fail(f"{why}: chromium must be installed in CI (apt-get install chromium)")
        pytest.skip(why)
    return CHROMIUM


@pytest.fixture()
def live(chromium: Path, fresh_shop: Settings) -> Iterator[str]:
    """The app served by uvicorn on a free local port, in a background thread."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(fresh_shop), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("the service did not start within 30 s")
            time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.mark.browser
def test_dashboard_in_a_real_browser(
    chromium: Path, live: str, fresh_shop: Settings, tmp_path: Path
) -> None:
    """Overview numbers and plot, nav to the leaderboard, the explorer form, a screenshot."""
    from playwright.sync_api import expect, sync_playwright

    base = live
    with Store(fresh_shop.store_path) as store:
        stats = store.stats()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 860})
            requests: list[str] = []
            problems: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.set_default_timeout(15_000)

            page.goto(base + "/dashboard")
            expect(page).to_have_title("Overview · shopsense")
            expect(page.locator('[data-stat="users"]')).to_have_text(f"{stats.events.users:,}")
            events = f"{stats.tables['events'].rows:,}"
            expect(page.locator('[data-stat="events"]')).to_have_text(events)
            plot = page.locator("img.plot")
            expect(plot).to_be_visible()
            loaded = plot.evaluate("img => img.complete && img.naturalWidth > 0")
            assert loaded, "the activity plot did not load"
            assert plot.bounding_box()["height"] > 200

            page.get_by_role("link", name="Models", exact=True).click()
            expect(page).to_have_url(base + "/dashboard/models")
            test_rows = page.locator('table.leaderboard[data-stage="test"] tbody tr')
            expect(test_rows).to_have_count(2)
            expect(test_rows.first).to_contain_text("ease")
            recommenders = page.locator('#versions tbody tr[data-version][data-task="recommend"]')
            expect(recommenders).to_have_count(4)
            expect(page.locator('#versions tr.task-row[data-task="behavior"]')).to_have_count(1)

            page.get_by_role("link", name="Explorer", exact=True).click()
            page.get_by_label("Customer id").fill(USER)
            page.get_by_role("button", name="Recommend").click()
            expect(page).to_have_url(re.compile(rf"/dashboard/explorer\?user={USER}&"))
            expect(page.locator("h1")).to_have_text(f"Explorer: {USER}")
            expect(page.locator("#history tbody tr").first).to_be_visible()
            recommendations = page.locator("#recommendations tbody tr")
            expect(recommendations).to_have_count(10)
            expect(recommendations.first).to_contain_text("because you bought")
            expect(page.locator("[data-source]")).to_have_text("scored by the model")

            shot = tmp_path / "explorer.png"
            page.screenshot(path=shot, full_page=True)

            page.get_by_role("link", name="Customers", exact=True).click()
            expect(page).to_have_title("Customers · shopsense")
            expect(page.locator("table.segments tbody tr").first).to_contain_text("champions")
            segment_map = page.locator("img.plot")
            expect(segment_map).to_be_visible()
            page.wait_for_function(  # drawn on first request: wait for it, fail on timeout
                "() => { const i = document.querySelector('img.plot');"
                " return i.complete && i.naturalWidth > 0; }"
            )
            page.get_by_label("Customer id").fill(USER)
            page.get_by_role("button", name="Show").click()
            expect(page.locator("[data-found-segment]")).to_be_visible()
        finally:
            browser.close()
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width == 1366 and height > 860
    assert all(url.startswith(base) for url in requests), "a page loaded a remote resource"
    assert not problems, f"browser console errors: {problems}"


#: every dashboard page, in the states worth laying out: empty forms, answers, errors
PAGES = (
    "/dashboard",
    "/dashboard/models",
    "/dashboard/explorer",
    f"/dashboard/explorer?user={USER}&k=20",
    "/dashboard/explorer?k=0",
    "/dashboard/customers",
    f"/dashboard/customers?customer={USER}",
    "/dashboard/pricing",
    "/dashboard/no-such-page",
)


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_fits_the_screen(chromium: Path, live: str, width: int) -> None:
    """No page scrolls sideways, at a desktop width or a phone's (390 px, an iPhone 14):
    the navigation wraps, wide tables scroll inside their own box, plots shrink to fit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 844})
            page.set_default_timeout(30_000)
            page.goto(live + "/dashboard/pricing")
            item = page.locator("a[href*='?item=']").first.get_attribute("href")
            overflow: dict[str, int] = {}
            hidden_links: dict[str, list[str]] = {}
            for path in (*PAGES, item):
                page.goto(live + path if path.startswith("/") else path)
                page.wait_for_load_state("load")
                wide, inner = page.evaluate(
                    "() => [document.documentElement.scrollWidth, window.innerWidth]"
                )
                if wide > inner:
                    overflow[path] = wide - inner
                links = page.locator("header nav a")
                names = [links.nth(i).inner_text() for i in range(links.count())]
                assert names == ["Overview", "Models", "Explorer", "Customers", "Pricing"], path
                for i, name in enumerate(names):  # every page one tap away, none cut off
                    box = links.nth(i).bounding_box()
                    if box is None or box["x"] < 0 or box["x"] + box["width"] > inner:
                        hidden_links.setdefault(path, []).append(name)
        finally:
            browser.close()
    assert (overflow, hidden_links) == ({}, {}), (
        f"at {width} px, pages wider than the screen (by px): {overflow}; "
        f"navigation links off screen: {hidden_links}"
    )
