"""The dashboard: plain HTTP checks of every page, and one end-to-end run in a real browser.

The browser test drives Debian's /usr/bin/chromium with Playwright against the app served
by uvicorn on a local port. It is marked `browser` so it can be deselected
(`-m "not browser"`); without chromium it is skipped, except under CI (`CI` set), where
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
from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.data.stats import StoreStats
from shopsense.data.store import Store
from shopsense.serve.app import create_app
from shopsense.serve.dashboard import plots
from tests.serve.conftest import KEY

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


@pytest.fixture(scope="module")
def web(shop: Settings) -> Iterator[TestClient]:
    """One app over the shared (read-only) shop for every plain HTTP test."""
    with TestClient(create_app(shop), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def stats(shop: Settings) -> StoreStats:
    with Store(shop.store_path) as store:
        return store.stats()


def _html(response) -> str:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
    return response.text


def _rows(page: str, table_id: str) -> list[str]:
    """The <tr> bodies of one table's tbody (pages are server-rendered: regex is enough)."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S)
    assert table, f"no table #{table_id}"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(0), re.S)
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1) if body else "", re.S)


# ============================================================================ pages


def test_root_redirects_to_the_dashboard(web: TestClient) -> None:
    response = web.get("/", follow_redirects=False)
    assert response.status_code in (302, 307)
    assert response.headers["location"] == "/dashboard"


def test_overview_shows_the_data_stats_numbers(web: TestClient, stats: StoreStats) -> None:
    response = web.get("/dashboard")
    page = _html(response)
    assert response.status_code == 200
    assert "<title>Overview · shopsense</title>" in page
    assert f'data-stat="users">{stats.events.users:,}<' in page
    assert f'data-stat="items">{stats.events.items:,}<' in page
    assert f'data-stat="events">{stats.tables["events"].rows:,}<' in page
    assert f"{stats.order_lines.invoices:,}" in page
    assert f"{stats.events.density:.6f}" in page
    assert f"{stats.events.first:%Y-%m-%d}" in page and f"{stats.events.last:%Y-%m-%d}" in page
    tables = _rows(page, "tables")
    assert len(tables) == len(stats.tables)
    events_row = next(r for r in tables if "<code>events</code>" in r)
    assert f">{stats.tables['events'].duplicates:,}<" in events_row
    assert 'class="plot" src="/dashboard/plots/activity.svg?v=' in page
    for href in ('href="/dashboard"', 'href="/dashboard/models"', 'href="/dashboard/explorer"'):
        assert href in page  # the shared nav bar
    quality = _rows(page, "quality")  # the latest ingest of each loaded table, with findings
    lines = next(r for r in quality if "<code>order_lines</code>" in r)
    assert "uci-online-retail-sample" in lines and ("finding" in lines or "none" in lines)


def test_pages_load_nothing_from_other_hosts(web: TestClient) -> None:
    """No CDN, no fonts, no script: every reference is local and the CSP forbids the rest."""
    for path in ("/dashboard", "/dashboard/models", f"/dashboard/explorer?user={USER}"):
        response = web.get(path)
        page = _html(response)
        assert not re.search(r'(src|href|action)="(https?:)?//', page), path
        assert "<script" not in page
        assert "default-src 'none'" in response.headers["content-security-policy"]
    css = web.get("/static/dashboard.css")
    assert css.status_code == 200 and "url(" not in css.text and "@import" not in css.text


def test_activity_plot_is_an_svg_with_an_etag(web: TestClient) -> None:
    response = web.get("/dashboard/plots/activity.svg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in response.content[:2000]
    assert b"events per week" in response.content or b"<path" in response.content
    again = web.get(
        "/dashboard/plots/activity.svg", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


def test_plot_and_stats_are_computed_once_per_store_version(
    fresh_shop: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page views reuse what was read; a write to the store (here, a posted event) makes
    the next view recompute, with the new numbers, and the explorer shows the new event."""
    calls = {"svg": 0, "stats": 0}
    draw, read = plots.activity_svg, Store.stats

    def counting_draw(weekly):  # type: ignore[no-untyped-def]
        calls["svg"] += 1
        return draw(weekly)

    def counting_stats(self):  # type: ignore[no-untyped-def]
        calls["stats"] += 1
        return read(self)

    monkeypatch.setattr(plots, "activity_svg", counting_draw)
    monkeypatch.setattr(Store, "stats", counting_stats)
    with TestClient(create_app(fresh_shop)) as client:
        first = client.get("/dashboard").text
        svg = client.get("/dashboard/plots/activity.svg")
        for _ in range(3):
            assert client.get("/dashboard").text == first
            assert client.get("/dashboard/plots/activity.svg").content == svg.content
        assert calls == {"svg": 1, "stats": 1}

        event = {"user_id": "new-customer", "item_id": "22423", "event_type": "purchase"}
        posted = client.post("/v1/events", json={"events": [event]}, headers={"X-API-Key": KEY})
        assert posted.status_code == 201
        after = client.get("/dashboard").text
        assert client.get("/dashboard/plots/activity.svg").headers["etag"] != svg.headers["etag"]
        assert calls == {"svg": 2, "stats": 2}
        newcomer = client.get("/dashboard/explorer", params={"user": "new-customer"}).text
    assert 'data-source="fold_in"' in newcomer  # read from the new event, no retraining
    assert '<code class="muted">22423</code>' in _rows(newcomer, "history")[0]
    rows = int(re.search(r'data-stat="events">([\d,]+)<', first).group(1).replace(",", ""))
    assert f'data-stat="events">{rows + 1:,}<' in after


def test_models_page_shows_the_leaderboard_and_the_registry(
    web: TestClient, shop: Settings
) -> None:
    response = web.get("/dashboard/models")
    page = _html(response)
    assert response.status_code == 200
    assert "<title>Models · shopsense</title>" in page
    report = max(shop.reports_dir.glob("evaluate-*.json")).name
    assert report in page and "leave_last_out" in page
    for stage in ("test", "validation"):
        table = re.search(rf'data-stage="{stage}".*?</table>', page, re.S)
        assert table, f"no {stage} leaderboard"
        models = re.findall(r'<tr data-model="([^"]+)"', table.group(0))
        assert models == ["ease", "popular"]  # sorted by ndcg@10: EASE beats popularity
    assert re.search(r"<th>test users</th><td>[\d,]+</td>", page)
    versions = re.findall(r'data-version="([^"]+)"', page)
    assert versions == ["bpr/v0001", "ease/v0001", "ease/v0002", "itemknn/v0001"]
    active = re.search(r'data-version="ease/v0002" class="active-row"', page)
    assert active, "the latest ease version is the active one"
    assert "l2=400.0" in page and "/v1/models/ease/activate" in page and "X-API-Key" in page
    assert "<button" not in page and "<form" not in page  # read-only: activation needs a key


def test_models_page_without_reports_says_how_to_make_one(fresh_shop: Settings) -> None:
    for path in fresh_shop.reports_dir.glob("*.json"):
        path.unlink()
    with TestClient(create_app(fresh_shop)) as client:
        response = client.get("/dashboard/models")
    assert response.status_code == 200
    assert "No evaluation report yet" in _html(response) and "shopsense evaluate" in response.text


def test_explorer_form_offers_models_and_example_customers(web: TestClient, shop: Settings) -> None:
    response = web.get("/dashboard/explorer")
    page = _html(response)
    assert response.status_code == 200
    assert '<form class="explorer" method="get" action="/dashboard/explorer">' in page
    options = re.findall(r'<option value="([^"]+)"', page)
    assert options == ["bpr", "ease", "itemknn"]
    assert re.search(r'<option value="ease" selected>ease \(default\)', page)
    with Store(shop.store_path) as store:
        busiest = store.query(
            "SELECT user_id FROM events GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 3"
        )["user_id"].tolist()
    for user in busiest:
        assert f"/dashboard/explorer?user={user}&amp;model=ease&amp;k=10" in page


def test_explorer_shows_history_and_explained_recommendations(
    web: TestClient, shop: Settings
) -> None:
    response = web.get("/dashboard/explorer", params={"user": USER, "k": 10})
    page = _html(response)
    assert response.status_code == 200
    assert f"<title>Explorer: {USER} · shopsense</title>" in page
    assert 'data-source="model"' in page and "scored by the model" in page

    api = web.get(f"/v1/users/{USER}/recommendations", params={"k": 10, "explain": True}).json()
    rows = _rows(page, "recommendations")
    assert len(rows) == 10
    for row, item in zip(rows, api["items"], strict=True):  # the page shows what the API says
        assert f'<code class="muted">{item["item_id"]}</code>' in row
        assert item["title"] in row
        assert f">{item['price']:,.2f}<" in row
        assert "because you bought" in row

    with Store(shop.store_path) as store:
        events = store.query(
            "SELECT item_id, max(timestamp) AS t FROM events WHERE user_id = ? "
            "GROUP BY 1 ORDER BY t DESC, item_id",
            [USER],
        )
    history = _rows(page, "history")
    assert len(history) == len(events)
    assert events["item_id"].iloc[0] in history[0]  # newest first
    assert f"{events['t'].iloc[0]:%Y-%m-%d}" in history[0]
    assert f"{events['t'].iloc[-1]:%Y-%m-%d}" in history[-1]


def test_explorer_with_another_model(web: TestClient) -> None:
    page = _html(web.get("/dashboard/explorer", params={"user": USER, "model": "itemknn"}))
    assert "<code>itemknn/v0001</code>" in page
    assert '<option value="itemknn" selected>' in page


def test_explorer_unknown_user_gets_the_cold_start_answer(web: TestClient) -> None:
    response = web.get("/dashboard/explorer", params={"user": "no-such-customer", "k": 5})
    page = _html(response)
    assert response.status_code == 200
    assert 'data-source="cold_start"' in page and "cold start" in page
    assert len(_rows(page, "recommendations")) == 5
    assert "popular with other customers" in page
    assert "No history" in page


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"user": USER, "k": "0"}, 422, "k must be a whole number from 1 to 100"),
        ({"user": USER, "k": "100000"}, 422, "k must be a whole number from 1 to 100"),
        ({"user": USER, "k": "ten"}, 422, "k must be a whole number"),
        ({"user": USER, "model": "nope"}, 404, "There is no model named “nope”"),
        (
            {"user": USER, "model": "<b>x</b>"},
            404,
            "There is no model named “&lt;b&gt;x&lt;/b&gt;”",
        ),
        ({"user": "x" * 129}, 422, "A customer id is 1 to 128 printable characters"),
    ],
)
def test_explorer_bad_input_gets_a_friendly_page(
    web: TestClient, query: dict[str, str], status: int, message: str
) -> None:
    response = web.get("/dashboard/explorer", params=query)
    page = _html(response)
    assert response.status_code == status
    assert '<p class="notice error" role="alert">' in page and message in page
    assert '<form class="explorer"' in page  # the form stays, to fix the mistake
    assert 'id="recommendations"' not in page


def test_explorer_escapes_the_user_id(web: TestClient) -> None:
    evil = '<script>alert("x")</script>'
    response = web.get("/dashboard/explorer", params={"user": evil})
    page = _html(response)
    assert response.status_code == 200
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert 'data-source="cold_start"' in page


def test_pages_without_a_store_explain_what_to_do(tmp_path: Path) -> None:
    settings = Settings(
        store_path=tmp_path / "missing.duckdb",
        models_dir=tmp_path / "models",
        reports_dir=tmp_path / "reports",
        threads=1,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for path in ("/dashboard", f"/dashboard/explorer?user={USER}"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert "load data first" in _html(response)
        models = client.get("/dashboard/models")
        assert models.status_code == 200 and "No trained model yet" in models.text


def test_pages_are_quick_after_the_first_view(web: TestClient) -> None:
    """Generous bound (a shared CI machine); typical views take 5–30 ms."""
    paths = ("/dashboard", "/dashboard/models", f"/dashboard/explorer?user={USER}")
    for path in paths:
        web.get(path)
    for path in paths:
        start = time.perf_counter()
        assert web.get(path).status_code == 200
        assert time.perf_counter() - start < 1.0, path


# ============================================================================ browser


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
            expect(page.locator("#versions tbody tr")).to_have_count(4)

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
