"""Acceptance: a shop that is not UCI Online Retail, end to end.

The test shop (`tests/shop/`) exports in its own dialect: SKUs `SKU-…`, orders `ORD-…`,
prices in SEK, ISO times with offsets, cancellations as a status, returns as negative lines
on later ordinary orders, delivery, bag fees, gift cards and rounding as catalogue entries,
a clickstream with its own action names, RGB photos of three sizes, and reviews and
questions in English and Chinese. Its mapping files (`tests/shop/mappings/`) are all the
configuration it gets. Every pillar's CLI commands and service routes run on it, and no line
is dropped or labelled differently from what the files say.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shopsense.cli import app
from shopsense.config import Settings
from shopsense.data.orders import kind_counts, order_lines_from_store
from shopsense.data.store import Store
from shopsense.serve.app import create_app
from tests.public_data import SHIPPED

SHOP = Path(__file__).resolve().parent / "shop"
FILES, MAPPINGS = SHOP / "files", SHOP / "mappings"
#: (table, export file, mapping file)
EXPORTS = [
    ("items", "catalogue.csv", "catalogue.toml"),
    ("order_lines", "orders.csv.gz", "orders.toml"),
    ("events", "clickstream.csv.gz", "clickstream.toml"),
    ("reviews", "reviews.csv", "reviews.toml"),
    ("questions", "questions.csv", "questions.toml"),
    ("images", "photos.csv", "photos.toml"),
]
KINDS = {
    "goods": "product",
    "delivery": "shipping",
    "fee": "fee",
    "gift card": "voucher",
    "correction": "adjustment",
}
KEY = "acceptance-key-0123456789"
runner = CliRunner()


def cli(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, (args, result.output)
    return result.output


def _raw(name: str) -> pd.DataFrame:
    return pd.read_csv(FILES / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The shop's exports ingested through the CLI with its mappings, photos beside the store."""
    folder = tmp_path_factory.mktemp("own-shop")
    (folder / "photos").symlink_to(SHIPPED / "grocery-store-images", target_is_directory=True)
    env = {
        "SHOPSENSE_STORE_PATH": str(folder / "shop.duckdb"),
        "SHOPSENSE_MODELS_DIR": str(folder / "models"),
        "SHOPSENSE_REPORTS_DIR": str(folder / "reports"),
        "SHOPSENSE_THREADS": "1",
        "SHOPSENSE_API_KEYS": KEY,
        "COLUMNS": "160",
    }
    for table, export, mapping in EXPORTS:
        out = cli(env, "ingest", table, str(FILES / export), "--mapping", str(MAPPINGS / mapping))
        assert "rejected 0" in out and "data quality" in out
    return folder, env


def _store(folder: Path) -> Store:
    return Store(folder / "shop.duckdb", read_only=True)


def test_a_dry_run_shows_the_mapping_and_writes_nothing(tmp_path):
    env = {"SHOPSENSE_STORE_PATH": str(tmp_path / "s.duckdb"), "COLUMNS": "160"}
    out = cli(
        env,
        "ingest",
        "order_lines",
        str(FILES / "orders.csv.gz"),
        "--mapping",
        str(MAPPINGS / "orders.toml"),
        "--dry-run",
    )
    assert "dry run, nothing written" in out and "ORD-000001" in out
    assert "cancellation" in out and "return" in out
    assert not (tmp_path / "s.duckdb").exists()


def test_no_line_is_dropped_or_mislabelled(shop):
    folder, _ = shop
    orders, catalogue = _raw("orders.csv.gz"), _raw("catalogue.csv")
    expected_type = pd.Series("sale", index=orders.index)
    expected_type[orders["qty"].astype(int) < 0] = "return"
    expected_type[orders["status"] == "cancelled"] = "cancellation"
    expected_kind = orders["sku"].map(catalogue.set_index("sku")["type"].map(KINDS))
    expected = (
        pd.DataFrame({"line_type": expected_type, "kind": expected_kind})
        .value_counts()
        .sort_index()
    )
    with _store(folder) as store:
        view = order_lines_from_store(store)
        got = kind_counts(view).set_index(["line_type", "kind"])["lines"].sort_index()
        events = store.read("events")["event_type"].value_counts()
        counts = {t: store.count(t) for t, _, _ in EXPORTS}
        returns = store.read("order_lines", where="line_type = 'return'")
    assert got.to_dict() == expected.to_dict()
    assert len(view) == len(orders) and set(got.index.get_level_values("kind")) == set(
        KINDS.values()
    )
    actions = _raw("clickstream.csv.gz")["action"].value_counts()
    assert events.to_dict() == {
        "view": actions["product_view"],
        "cart": actions["add_to_basket"],
        "purchase": actions["checkout"],
    }
    assert counts == {
        "items": len(catalogue),
        "order_lines": len(orders),
        "events": int(actions.sum()),
        "reviews": len(_raw("reviews.csv")),
        "questions": len(_raw("questions.csv")),
        "images": len(_raw("photos.csv")),
    }
    assert returns["reverses_invoice"].str.startswith("ORD-").all()


def test_times_keep_their_instant_in_the_shops_zone(shop):
    folder, _ = shop
    orders = _raw("orders.csv.gz")
    utc = orders[orders["ordered_at"].str.endswith("Z")].iloc[0]
    local = pd.Timestamp(utc["ordered_at"]).tz_convert("Europe/Stockholm").tz_localize(None)
    with _store(folder) as store:
        stored = store.read("order_lines", where=f"invoice_id = '{utc['order_ref']}'")
    assert (stored["time"] == local).all()


def test_the_quality_report_of_every_ingest(shop):
    folder, env = shop
    with _store(folder) as store:
        reports = {r.table: r for r in store.quality_reports()}
    assert set(reports) == {t for t, _, _ in EXPORTS}
    checks = {f.check for f in reports["order_lines"].findings}
    # gift cards are sold at a negative price and rounding lines at zero: not products
    assert "zero or negative prices" not in checks and "unknown items" not in checks
    assert "order_lines" in cli(env, "data", "quality")


@pytest.fixture(scope="module")
def trained(shop):
    """Every pillar's models, trained through the CLI."""
    folder, env = shop
    out = {
        "evaluate": cli(env, "evaluate", "-m", "popular", "-m", "itemknn", "-m", "ease"),
        "train": cli(env, "train", "-m", "ease"),
        "segments": cli(env, "segments", "--method", "rfm"),
        "churn": cli(env, "predict", "churn"),
        "anomalies": cli(env, "anomalies"),
        "forecast": cli(env, "pricing", "forecast", "-m", "ets", "--top", "24", "--horizon", "14"),
        "elasticity": cli(env, "pricing", "elasticity", "--boot", "100"),
        "images": cli(env, "images", "train", "-p", "epochs=2", "-p", "widths=8,16,32"),
        "reviews_en": cli(env, "reviews", "train", "--language", "en"),
        "reviews_zh": cli(env, "reviews", "train", "--language", "zh"),
    }
    return folder, env, out


def test_recommendations(trained):
    _, env, out = trained
    assert "ease" in out["evaluate"] and "ease/v0001" in out["train"]
    recs = cli(env, "recommend", "CUST-0001", "--k", "5")
    assert "SKU-" in recs and "SHIP-" not in recs and "FEE-" not in recs
    assert "SKU-" in cli(env, "similar", "SKU-1003", "--k", "3")
    assert "because you bought" in cli(env, "explain", "CUST-0001", "SKU-1003")
    assert "ease" in cli(env, "models")


def test_customer_behaviour(trained):
    _folder, _env, out = trained
    assert "segment" in out["segments"].lower() and "churn" in out["churn"].lower()
    assert "ORD-" in out["anomalies"]


def test_pricing_sees_only_products(trained):
    _folder, env, out = trained
    suggest = cli(env, "pricing", "suggest")
    assert "SKU-" in suggest and "SHIP-" not in suggest and "GIFT-" not in suggest
    assert "SKU-" in out["elasticity"] and "SHIP-" not in out["elasticity"]
    assert "oracle" in cli(env, "pricing", "simulate", "--seeds", "2", "--top", "8")


def test_photos_of_three_sizes(trained):
    folder, env, out = trained
    assert "accuracy" in out["images"]
    banana = folder / "photos" / "test" / "Fruit" / "Banana" / "Banana_001.jpg"
    assert "classifier/v0001" in cli(env, "images", "classify", str(banana))
    assert "SKU-" in cli(env, "images", "similar", "--item", "SKU-1003", "--k", "3")
    assert "flagged" in cli(env, "images", "check")


def test_reviews_and_questions_in_two_languages(trained):
    _, env, _ = trained
    scored = cli(env, "reviews", "sentiment", "Fresh and tasty, great value", "烂了一半，差评")
    assert "sentiment-en/v0001" in scored and "sentiment-zh/v0001" in scored
    assert "SKU-1003" in cli(env, "reviews", "aspects", "--item", "SKU-1003")
    negative = _raw("reviews.csv").query("stars == '1' and lang == 'en'").iloc[0]
    assert negative["review_ref"] in cli(
        env, "reviews", "reply", "--review", negative["review_ref"]
    )
    answer = cli(env, "reviews", "ask", "how long do bananas keep?", "--item", "SKU-1003")
    assert "Q-0" in answer or "RV-" in answer


def test_every_service_route_family(trained):
    folder, _env, _ = trained
    settings = Settings(
        store_path=folder / "shop.duckdb",
        models_dir=folder / "models",
        reports_dir=folder / "reports",
        api_keys=[KEY],
        threads=1,
    )
    photo = (folder / "photos" / "test" / "Fruit" / "Kiwi" / "Kiwi_001.jpg").read_bytes()
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        get = {
            "/healthz": None,
            "/v1/users/CUST-0001/recommendations?k=5&explain=true": "items",
            "/v1/users/CUST-0001/history": "items",
            "/v1/users/CUST-0001/explain/SKU-1003": None,
            "/v1/items/SKU-1003/similar?k=3": "items",
            "/v1/data/quality": None,
            "/v1/models": None,
            "/v1/segments": None,
            "/v1/customers/CUST-0001": None,
            "/v1/pricing/elasticity/SKU-1003": None,
            "/v1/pricing/suggestions/SKU-1003": None,
            "/v1/pricing/forecast/SKU-1003": None,
            "/v1/images/similar/SKU-1003?k=3": None,
            "/v1/items/SKU-1003/aspects": None,
            "/dashboard": None,
            "/dashboard/models": None,
            "/dashboard/explorer?user=CUST-0001": None,
            "/dashboard/customers": None,
            "/dashboard/pricing": None,
        }
        for route, field in get.items():
            r = c.get(route)
            assert r.status_code == 200, (route, r.text[:300])
            if field:
                assert r.json()[field], route
        recs = c.get("/v1/users/CUST-0001/recommendations?k=10").json()["items"]
        assert all(i["item_id"].startswith("SKU-") for i in recs)
        posts = [
            ("/v1/recommendations/batch", {"users": ["CUST-0001", "CUST-0002"], "k": 3}),
            ("/v1/sessions/recommendations", {"items": ["SKU-1003", "SKU-1009"], "k": 3}),
            ("/v1/pricing/suggest", {"items": ["SKU-1003", "SKU-1009"]}),
            ("/v1/reviews/sentiment", {"texts": ["Lovely and fresh", "不新鲜，差评"]}),
            ("/v1/questions/answer", {"question": "is it gluten free?", "item_id": "SKU-1009"}),
        ]
        for route, body in posts:
            r = c.post(route, json=body)
            assert r.status_code == 200, (route, r.text[:300])
        files = {"file": ("kiwi.jpg", io.BytesIO(photo), "image/jpeg")}
        assert c.post("/v1/images/classify", files=files).status_code == 200
        event = {
            "user_id": "CUST-0001",
            "item_id": "SKU-1024",
            "event_type": "purchase",
            "timestamp": "2024-12-19T10:00:00+01:00",
        }
        assert c.post("/v1/events", json={"events": [event]}).status_code in (401, 403)
        stored = c.post("/v1/events", json={"events": [event]}, headers={"X-API-Key": KEY})
        assert stored.status_code == 201 and stored.json()["stored"] == 1, stored.text
    assert os.path.islink(folder / "photos")
