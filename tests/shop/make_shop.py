"""Write the test shop's exports: a Swedish grocery web shop that is not UCI Online Retail.

Its dialect on purpose differs from the data shopsense was first built on: SKUs `SKU-1001`,
orders `ORD-000001`, prices in SEK, ISO timestamps with a time-zone offset (or `Z`), whole
orders cancelled by a `status` column, returns as negative lines on an ordinary later order
(naming the order they reverse), shipping, bag fees, gift-card vouchers and rounding
corrections as catalogue entries of their own, a clickstream with its own action names,
and product photos (RGB, three sizes) from the Grocery Store data set (MIT).

Deterministic: `python -m tests.shop.make_shop` rewrites `files/` byte for byte. The
reviews and questions in `files/` were written by hand and are not touched.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

FILES = Path(__file__).resolve().parent / "files"
ZONE = ZoneInfo("Europe/Stockholm")
START, END = datetime(2024, 1, 1, tzinfo=ZONE), datetime(2024, 12, 20, tzinfo=ZONE)
SEED = 20241220

#: sku, name, category, list price (SEK), photo class in the Grocery Store data set
PRODUCTS = [
    ("SKU-1001", "Granny Smith apples 1 kg", "Fruit", 32.90, "Fruit/Apple/Granny-Smith"),
    ("SKU-1002", "Pink Lady apples 1 kg", "Fruit", 39.90, "Fruit/Apple/Pink-Lady"),
    ("SKU-1003", "Bananas, bunch", "Fruit", 24.90, "Fruit/Banana"),
    ("SKU-1004", "Kiwi, 6 pack", "Fruit", 29.90, "Fruit/Kiwi"),
    ("SKU-1005", "Lemons, net of 4", "Fruit", 22.90, "Fruit/Lemon"),
    ("SKU-1006", "Avocado, ready to eat, 2 pack", "Fruit", 34.90, "Fruit/Avocado"),
    ("SKU-1007", "Mango", "Fruit", 19.90, "Fruit/Mango"),
    ("SKU-1008", "Oranges 1.5 kg", "Fruit", 36.90, "Fruit/Orange"),
    (
        "SKU-1009",
        "Oatly oat milk 1 L",
        "Dairy & alternatives",
        21.50,
        "Packages/Oat-Milk/Oatly-Oat-Milk",
    ),
    (
        "SKU-1010",
        "Arla standard milk 1.5 L",
        "Dairy & alternatives",
        18.90,
        "Packages/Milk/Arla-Standard-Milk",
    ),
    (
        "SKU-1011",
        "Alpro vanilla soyghurt 500 g",
        "Dairy & alternatives",
        26.90,
        "Packages/Soyghurt/Alpro-Vanilla-Soyghurt",
    ),
    (
        "SKU-1012",
        "Arla natural yoghurt 1 kg",
        "Dairy & alternatives",
        24.50,
        "Packages/Yoghurt/Arla-Natural-Yoghurt",
    ),
    (
        "SKU-1013",
        "Tropicana apple juice 1 L",
        "Juice",
        33.90,
        "Packages/Juice/Tropicana-Apple-Juice",
    ),
    (
        "SKU-1014",
        "God Morgon orange juice 1 L",
        "Juice",
        27.90,
        "Packages/Juice/God-Morgon-Orange-Juice",
    ),
    ("SKU-1015", "Carrots 1 kg", "Vegetables", 14.90, "Vegetables/Carrots"),
    ("SKU-1016", "Cucumber", "Vegetables", 16.90, "Vegetables/Cucumber"),
    ("SKU-1017", "Garlic, 3 bulbs", "Vegetables", 15.90, "Vegetables/Garlic"),
    ("SKU-1018", "Yellow onions 1 kg", "Vegetables", 12.90, "Vegetables/Onion/Yellow-Onion"),
    ("SKU-1019", "Red bell pepper", "Vegetables", 13.90, "Vegetables/Pepper/Red-Bell-Pepper"),
    ("SKU-1020", "Floury potatoes 2 kg", "Vegetables", 27.90, "Vegetables/Potato/Floury-Potato"),
    ("SKU-1021", "Vine tomatoes 500 g", "Vegetables", 29.90, "Vegetables/Tomato/Vine-Tomato"),
    ("SKU-1022", "Zucchini", "Vegetables", 14.90, "Vegetables/Zucchini"),
    (
        "SKU-1023",
        "Brown cap mushrooms 250 g",
        "Vegetables",
        24.90,
        "Vegetables/Mushroom/Brown-Cap-Mushroom",
    ),
    ("SKU-1024", "Ginger root", "Vegetables", 9.90, "Vegetables/Ginger"),
]
#: sku, name, the shop's own "type" column, price
OTHERS = [
    ("SHIP-STD", "Home delivery", "delivery", 49.00),
    ("SHIP-EXPRESS", "Express delivery (2 h)", "delivery", 89.00),
    ("FEE-BAG", "Paper bag", "fee", 2.00),
    ("GIFT-50", "Gift card redeemed", "gift card", -50.00),
    ("ADJ-ROUND", "Rounding", "correction", 0.0),
]
ELASTICITY = -1.6  # the shop's customers buy fewer units as prices rise
N_CUSTOMERS = 300


def _stamp(moment: datetime, rng: np.random.Generator) -> str:
    """ISO 8601 with the shop's offset, or as UTC with a `Z` (one export in ten)."""
    if rng.random() < 0.1:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat(timespec="seconds")


def weekly_prices(rng: np.random.Generator) -> np.ndarray:
    """(weeks, products) shelf prices: list price, a slow drift, and promotion weeks."""
    weeks = (END - START).days // 7 + 1
    base = np.array([p[3] for p in PRODUCTS])
    drift = np.cumprod(1 + rng.normal(0.0, 0.01, (weeks, len(PRODUCTS))), axis=0)
    promo = np.where(
        rng.random((weeks, len(PRODUCTS))) < 0.18,
        rng.choice([0.7, 0.8], (weeks, len(PRODUCTS))),
        1.0,
    )
    return np.round(base * drift * promo, 1) - 0.1 * (rng.random((weeks, len(PRODUCTS))) < 0.5)


def orders(rng: np.random.Generator) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Order lines and clickstream events for the whole year."""
    prices = weekly_prices(rng)
    popularity = rng.dirichlet(np.full(len(PRODUCTS), 1.5))
    rate = rng.gamma(1.2, 1 / 0.3, N_CUSTOMERS) / 60  # orders per day
    taste = rng.dirichlet(np.full(len(PRODUCTS), 0.6), N_CUSTOMERS)
    leaves = START + timedelta(days=1) * rng.uniform(90, 400, N_CUSTOMERS)  # some churn
    lines: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    placed: list[tuple[str, datetime, str, list[tuple[str, int, float]]]] = []
    number = 0
    days = (END - START).days
    for c in range(N_CUSTOMERS):
        customer = f"CUST-{c + 1:04d}"
        n = rng.poisson(rate[c] * days) + 1
        for day in np.sort(rng.uniform(0, days, n)):
            moment = START + timedelta(days=float(np.floor(day)), hours=float(rng.uniform(7, 22)))
            if moment > leaves[c]:
                break
            week = min((moment - START).days // 7, len(prices) - 1)
            weight = (popularity + 3 * taste[c]) * (prices[week] / prices.mean(0)) ** ELASTICITY
            k = int(rng.integers(1, 7))
            picks = rng.choice(len(PRODUCTS), size=k, replace=False, p=weight / weight.sum())
            number += 1
            ref = f"ORD-{number:06d}"
            guest = rng.random() < 0.05
            status = "cancelled" if rng.random() < 0.02 else "completed"
            basket = [
                (PRODUCTS[i][0], int(rng.integers(1, 5)), float(prices[week, i])) for i in picks
            ]
            session = f"S{number:06d}"
            for i in picks:  # browsing before buying, a few items not bought
                for _ in range(int(rng.integers(1, 3))):
                    look = moment - timedelta(minutes=float(rng.uniform(1, 30)))
                    events.append(
                        _event(customer, PRODUCTS[i][0], "product_view", look, session, rng)
                    )
            for j in rng.choice(len(PRODUCTS), size=2, replace=False):
                look = moment - timedelta(minutes=float(rng.uniform(1, 30)))
                events.append(_event(customer, PRODUCTS[j][0], "product_view", look, session, rng))
            if status == "completed":
                for sku, _qty, _ in basket:
                    events.append(
                        _event(
                            customer,
                            sku,
                            "add_to_basket",
                            moment - timedelta(minutes=1),
                            session,
                            rng,
                        )
                    )
                    events.append(_event(customer, sku, "checkout", moment, session, rng))
            value = sum(q * p for _, q, p in basket)
            extra = []
            if value < 400:
                extra.append(("SHIP-EXPRESS" if rng.random() < 0.15 else "SHIP-STD", 1))
            if rng.random() < 0.4:
                extra.append(("FEE-BAG", int(rng.integers(1, 4))))
            if rng.random() < 0.03:
                extra.append(("GIFT-50", 1))
            if rng.random() < 0.02:
                extra.append(("ADJ-ROUND", 1))
            stamp = _stamp(moment, rng)
            for sku, qty, price in basket:
                lines.append(_line(ref, sku, qty, price, stamp, customer, guest, status))
            for sku, qty in extra:
                price = next(o[3] for o in OTHERS if o[0] == sku)
                if sku == "ADJ-ROUND":
                    price = float(np.round(rng.uniform(-0.49, 0.49), 2))
                lines.append(_line(ref, sku, qty, price, stamp, customer, guest, status))
            if status == "completed" and not guest:
                placed.append((ref, moment, customer, basket))
    # returns: a later ordinary order with negative lines naming the order they reverse
    for ref, moment, customer, basket in placed:
        if rng.random() >= 0.04:
            continue
        number += 1
        back = moment + timedelta(days=float(rng.uniform(2, 12)))
        sku, qty, price = basket[int(rng.integers(len(basket)))]
        row = _line(
            f"ORD-{number:06d}",
            sku,
            -int(rng.integers(1, qty + 1)),
            price,
            _stamp(back, rng),
            customer,
            False,
            "completed",
        )
        row["original_order"] = ref
        lines.append(row)
    return lines, events


def _line(ref, sku, qty, price, stamp, customer, guest, status) -> dict[str, object]:
    return {
        "order_ref": ref,
        "sku": sku,
        "qty": qty,
        "unit_price_sek": f"{price:.2f}",
        "ordered_at": stamp,
        "customer": "" if guest else customer,
        "status": status,
        "ship_country": "SE",
        "original_order": "",
    }


def _event(customer, sku, action, moment, session, rng) -> dict[str, object]:
    return {
        "visitor": customer,
        "sku": sku,
        "action": action,
        "ts": _stamp(moment, rng),
        "session": session,
    }


def _write_gz(path: Path, rows: list[dict[str, object]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(text.getvalue().encode())


def main() -> None:
    rng = np.random.default_rng(SEED)
    lines, events = orders(rng)
    lines.sort(key=lambda r: (str(r["order_ref"]), str(r["sku"])))
    events.sort(key=lambda r: (str(r["session"]), str(r["ts"]), str(r["sku"])))
    _write_gz(FILES / "orders.csv.gz", lines)
    _write_gz(FILES / "clickstream.csv.gz", events)
    with open(FILES / "catalogue.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["sku", "name", "shelf", "type", "list_price_sek"])
        for sku, name, shelf, price, _ in PRODUCTS:
            writer.writerow([sku, name, shelf, "goods", f"{price:.2f}"])
        for sku, name, kind, price in OTHERS:
            writer.writerow([sku, name, "", kind, f"{price:.2f}"])
    with open(FILES / "photos.csv", "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["sku", "file", "shown_as"])
        corpus = FILES.parent.parent / "corpora" / "grocery-store-images"
        for sku, _, _, _, folder in PRODUCTS:
            for split in ("train", "test"):
                for photo in sorted((corpus / split / folder).glob("*.jpg")):
                    shown = folder.rsplit("/", 1)[-1]
                    writer.writerow([sku, f"photos/{photo.relative_to(corpus)}", shown])
    print(f"{len(lines):,} order lines, {len(events):,} events -> {FILES}")


if __name__ == "__main__":
    main()
