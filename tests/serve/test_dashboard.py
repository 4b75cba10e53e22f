"""The dashboard: plain HTTP checks of every page (the runs in a real browser are in
`test_browser.py`)."""

from __future__ import annotations

import re
import time
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
    the next view recompute, with the new numbers (refreshed at every change here), and
    the explorer shows the new event."""
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
    every_change = fresh_shop.model_copy(update={"dashboard_refresh_s": 0.0})
    with TestClient(create_app(every_change)) as client:
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
    versions = re.findall(r'data-version="([^"]+)"[^>]* data-task="recommend"', page)
    assert versions == ["bpr/v0001", "ease/v0001", "ease/v0002", "itemknn/v0001"]
    assert re.search(r'data-version="segments/v0001"[^>]* data-task="behavior"', page)
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


# ============================================================================ errors


def _links(page: str) -> list[str]:
    return re.findall(r'href="(/[^"]*)"', page)


def test_an_unknown_address_is_a_404_page_in_the_layout(web: TestClient) -> None:
    """Not the API's JSON: a page with the navigation, whose every link works."""
    response = web.get("/dashboard/no-such-page")
    assert response.status_code == 404
    page = _html(response)
    assert "There is no dashboard page at /dashboard/no-such-page" in page
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    links = _links(page)
    for href in ("/dashboard", "/dashboard/models", "/dashboard/explorer", "/static/dashboard.css"):
        assert href in links
    assert all(web.get(href).status_code == 200 for href in links), links
    assert web.get("/dashboard/models/extra/parts").status_code == 404  # deeper, too


def test_a_failure_inside_a_page_is_a_500_page_with_a_reference(
    fresh_shop: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A saved segmentation that cannot be read (its model.json truncated on disk) makes
    the customers page fail: the answer is a page in the layout naming a reference, and
    the log holds the traceback under the same reference."""
    broken = []
    for config in fresh_shop.models_dir.glob("behavior/*/v*/model.json"):
        config.write_text(config.read_text()[:20])
        broken.append(config)
    assert broken, "the shop has no saved segmentation"
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        response = client.get("/dashboard/customers")
        assert client.get("/dashboard").status_code == 200  # the other pages still work
    assert response.status_code == 500
    page = _html(response)
    ref = re.search(r"reference ([0-9a-f]{12})", page)
    assert ref, page
    assert 'href="/dashboard/models"' in page and "<h1>Something went wrong</h1>" in page
    logged = [r for r in caplog.records if ref.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info is not None


def test_an_error_the_api_answers_keeps_its_status_and_sentence(web: TestClient) -> None:
    """An HTTP error raised inside a page (here a plot of a product with no demand curve,
    answered as the API would) and a page's own refusals stay what they were."""
    response = web.get("/dashboard/explorer", params={"user": USER, "model": "nope"})
    assert response.status_code == 404 and "There is no model named" in _html(response)
    response = web.get("/dashboard/explorer", params={"k": "0"})
    assert response.status_code == 422 and "k must be a whole number" in _html(response)


class _Versions:
    """A stand-in for the service's data versions: the one thing StoreViews reads of it."""

    def __init__(self) -> None:
        self.events = 1

    def data_versions(self, *tables: str) -> tuple[int, ...]:
        return (self.events,)


def _eventually(check, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not refreshed in time"
        time.sleep(0.01)


def test_views_refresh_in_the_background_at_most_every_refresh_s() -> None:
    from shopsense.serve.dashboard.views import StoreViews

    state, views, computed = _Versions(), StoreViews(refresh_s=0.3), []

    def compute() -> int:
        computed.append(state.events)
        return state.events

    assert views.get(state, "n", compute)[0] == 1  # the first view waits for its value
    state.events = 2  # a write: within refresh_s the kept value answers
    value, tag = views.get(state, "n", compute)
    assert value == 1 and computed == [1]
    time.sleep(0.35)
    assert views.get(state, "n", compute)[0] == 1  # answered at once, refreshed behind
    _eventually(lambda: views.get(state, "n", compute)[0] == 2)
    assert computed == [1, 2] and views.get(state, "n", compute)[1] != tag


def test_a_view_being_refreshed_answers_the_kept_value_without_waiting() -> None:
    import threading

    from shopsense.serve.dashboard.views import StoreViews

    state, views = _Versions(), StoreViews(refresh_s=0.01)
    views.get(state, "n", lambda: "old")
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(10)
        return "new"

    state.events = 2
    time.sleep(0.02)
    assert views.get(state, "n", slow)[0] == "old"  # starts the refresh, does not wait
    assert started.wait(10)
    began = time.perf_counter()
    assert views.get(state, "n", lambda: "never computed")[0] == "old"
    assert time.perf_counter() - began < 1.0
    release.set()
    _eventually(lambda: views.get(state, "n", lambda: "never computed")[0] == "new")


def test_a_failed_refresh_keeps_the_old_value_and_is_tried_again() -> None:
    from shopsense.serve.dashboard.views import StoreViews

    state, views = _Versions(), StoreViews(refresh_s=0.01)
    views.get(state, "n", lambda: "old")
    state.events = 2
    time.sleep(0.02)

    def broken() -> str:
        raise RuntimeError("the store went away")

    assert views.get(state, "n", broken)[0] == "old"
    time.sleep(0.05)
    assert views.get(state, "n", lambda: "new")[0] == "old"  # tried again, in the background
    _eventually(lambda: views.get(state, "n", lambda: "new")[0] == "new")


def test_with_refresh_s_zero_the_view_after_a_change_is_current() -> None:
    from shopsense.serve.dashboard.views import StoreViews

    state, views = _Versions(), StoreViews(refresh_s=0.0)
    assert views.get(state, "n", lambda: state.events)[0] == 1
    state.events = 2
    assert views.get(state, "n", lambda: state.events)[0] == 2
