"""Times on the dashboard: stored in UTC, shown in the shop's zone (named on the page), and
a time range that keeps to the data's real span as the activity chart does."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd
from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.data.store import Store
from shopsense.serve.app import create_app
from shopsense.serve.dashboard.views import weekly_activity

USER = "12348"
#: UTC+14: every time of day after 10:00 UTC falls on the next date there
ZONE = "Pacific/Kiritimati"


def _shown(stored: datetime, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """How a naive-UTC stored time reads in `zone`."""
    return stored.replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).strftime(fmt)


def _stat(page: str, name: str) -> str:
    found = re.search(rf'data-stat="{name}"[^>]*>(.*?)</', page, re.S)
    assert found, f"no data-stat={name}"
    return found.group(1)


def test_overview_times_are_in_the_shops_zone(shop: Settings) -> None:
    with Store(shop.store_path) as store:
        stats = store.stats()
    first, last = stats.events.first, stats.events.last
    assert _shown(first, ZONE) != _shown(first, "UTC")  # the zone makes a difference here
    zoned = shop.model_copy(update={"shop_timezone": ZONE})
    with TestClient(create_app(zoned), raise_server_exceptions=False) as client:
        page = client.get("/dashboard").text
    assert f"<tr><th>first event</th><td>{_shown(first, ZONE)}</td></tr>" in page
    assert f"<tr><th>last event</th><td>{_shown(last, ZONE)}</td></tr>" in page
    first_line = stats.order_lines.first
    assert f"<tr><th>first line</th><td>{_shown(first_line, ZONE)}</td></tr>" in page
    assert _stat(page, "zone").startswith(f"times in {ZONE}")
    assert page.count(ZONE) == 1  # named once, not after every time
    assert " UTC" not in page


def test_explorer_history_dates_are_in_the_shops_zone(shop: Settings) -> None:
    with Store(shop.store_path) as store:
        last = store.query(
            "SELECT item_id, max(timestamp) AS t FROM events WHERE user_id = ? "
            "GROUP BY 1 ORDER BY t DESC, item_id",
            [USER],
        )
    later = [t for t in last["t"] if t.hour >= 10]  # a different date at UTC+14
    assert later, "the customer needs an event late in a UTC day"
    zoned = shop.model_copy(update={"shop_timezone": ZONE})
    with TestClient(create_app(zoned), raise_server_exceptions=False) as client:
        page = client.get("/dashboard/explorer", params={"user": USER}).text
    rows = re.findall(r"<tr>(.*?)</tr>", page.split('id="history"', 1)[1], re.S)
    for row, t in zip(rows[1:], last["t"], strict=True):  # rows[0]: the header
        assert f'<td class="num">{_shown(t, ZONE, "%Y-%m-%d")}</td>' in row
    assert f"dates in {ZONE}" in page


def test_the_time_range_leaves_out_what_the_chart_leaves_out(fresh_shop: Settings) -> None:
    strays = pd.DataFrame(
        {
            "user_id": ["stray"] * 3,
            "item_id": ["22423"] * 3,
            "event_type": ["view"] * 3,
            "timestamp": pd.to_datetime(["1677-09-22", "1677-09-23", "2262-04-10"]),
        }
    )
    with Store(fresh_shop.store_path) as store:
        store.write_frame("events", strays, source="old import", quality=False)
        weeks = weekly_activity(store)["week"]
        real = store.query(
            "SELECT min(timestamp) AS first, max(timestamp) AS last FROM events "
            "WHERE user_id <> 'stray'"
        ).iloc[0]
    with TestClient(create_app(fresh_shop), raise_server_exceptions=False) as client:
        page = client.get("/dashboard").text
    shown = _stat(page, "range")
    assert shown == f"{real['first']:%Y-%m-%d} → {real['last']:%Y-%m-%d}"
    assert weeks.min() <= real["first"] and real["last"] < weeks.max() + pd.Timedelta(days=7)
    assert _stat(page, "outside") == "3 rows outside"
    assert "<tr><th>first event</th><td>1677-09-22 00:00</td></tr>" in page  # the raw figure


def test_a_range_without_strays_says_nothing_is_outside(shop: Settings) -> None:
    with TestClient(create_app(shop), raise_server_exceptions=False) as client:
        page = client.get("/dashboard").text
    assert 'data-stat="outside"' not in page
    assert _stat(page, "zone") == "times in UTC"
