"""UCI Online Retail (I): invoice lines of a UK gift-ware shop, 2010-12-01 to 2011-12-09.

Files: `<root>/uci-online-retail/online_retail.csv.gz` with the columns InvoiceNo, StockCode,
Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country. Licence CC BY 4.0 (UCI) /
CC0 (the R package it came from); see that folder's README.md.

Tables: `order_lines` (every row as is, with its line type), `orders` (one per invoice),
`items` (every stock code, with its kind), `users` (customers) and `events` (purchases of
real products by known customers, with cancellations netted out unless
`net_cancellations=False`).

This shop's conventions become data here, and nowhere else: an invoice number starting with
"C" is a cancellation, "A" a bad-debt adjustment, a negative line on an ordinary invoice a
stock write-off (`line_type`); postage, fees, vouchers and manual corrections have stock
codes of their own (`NON_PRODUCT_CODES`, `items.kind`). Every other part of shopsense reads
`line_type` and `kind` instead of parsing ids.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from shopsense.data.returns import net_returns
from shopsense.data.schema import EventType, ItemKind, LineType
from shopsense.data.sources import SourceData, conform, mode_per_group, require_files, resolve_root

DATASET = "uci-online-retail"
FILE = "online_retail.csv.gz"
COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)

# Stock codes that are not products: fees, postage, adjustments and vouchers. Found by listing
# every code that is not "5 digits + optional letters" and reading its descriptions. The DCGS*
# codes look odd but are real products (party bags, dog collars, ...) sold through other
# channels, so they stay items.
NON_PRODUCT_CODES: dict[str, ItemKind] = {
    "POST": ItemKind.SHIPPING,  # POSTAGE
    "DOT": ItemKind.SHIPPING,  # DOTCOM POSTAGE
    "C2": ItemKind.SHIPPING,  # CARRIAGE
    "M": ItemKind.ADJUSTMENT,  # Manual (manual price corrections)
    "m": ItemKind.ADJUSTMENT,  # Manual (one line, lower case)
    "D": ItemKind.ADJUSTMENT,  # Discount
    "S": ItemKind.ADJUSTMENT,  # SAMPLES
    "B": ItemKind.ADJUSTMENT,  # Adjust bad debt
    "PADS": ItemKind.ADJUSTMENT,  # PADS TO MATCH ALL CUSHIONS (price 0.001, a placeholder)
    "CRUK": ItemKind.FEE,  # CRUK Commission (charity)
    "BANK CHARGES": ItemKind.FEE,  # Bank Charges
    "AMAZONFEE": ItemKind.FEE,  # AMAZON FEE
}
NON_PRODUCT_PREFIXES: dict[str, ItemKind] = {"gift_": ItemKind.VOUCHER}  # gift_0001_10 ...


def item_kind(codes: pd.Series) -> pd.Series:
    """The kind of each stock code: product unless it is postage, a fee, a voucher, ..."""
    kind = codes.map(NON_PRODUCT_CODES).astype(object)
    for prefix, value in NON_PRODUCT_PREFIXES.items():
        kind[codes.str.startswith(prefix, na=False)] = value
    return kind.where(kind.notna(), ItemKind.PRODUCT.value).astype(str)


def is_product_code(codes: pd.Series) -> pd.Series:
    """True where a stock code is a real product (not postage, fees, vouchers, ...)."""
    return (item_kind(codes) == ItemKind.PRODUCT.value) & codes.notna()


def line_type(invoices: pd.Series, quantity: pd.Series) -> pd.Series:
    """What each line does in this shop's books: "C..." invoices cancel, "A..." invoices
    adjust bad debt, a negative line on an ordinary invoice writes stock off."""
    kind = np.where(quantity.to_numpy() < 0, LineType.ADJUSTMENT.value, LineType.SALE.value)
    kind = np.where(invoices.str.startswith("A", na=False), LineType.ADJUSTMENT.value, kind)
    kind = np.where(invoices.str.startswith("C", na=False), LineType.CANCELLATION.value, kind)
    return pd.Series(kind, index=invoices.index, dtype=object)


def read_online_retail(path: Path) -> pd.DataFrame:
    """The raw file, typed: strings, int Quantity, float UnitPrice, datetime InvoiceDate.

    CustomerID comes back as a string without a trailing ".0", missing as NA.
    """
    frame = pd.read_csv(
        path,
        dtype={
            "InvoiceNo": str,
            "StockCode": str,
            "Description": str,
            "Quantity": "int64",
            "InvoiceDate": str,
            "UnitPrice": "float64",
            "CustomerID": str,
            "Country": str,
        },
        keep_default_na=False,
        na_values={"Description": [""], "CustomerID": [""], "Country": [""]},
    )
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: not an Online Retail file, columns {missing} are missing")
    frame["CustomerID"] = frame["CustomerID"].str.replace(r"\.0$", "", regex=True)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    return frame


def load_uci_online_retail(
    root: Path | str | None = None,
    *,
    net_cancellations: bool = True,
    path: Path | str | None = None,
) -> SourceData:
    """Map UCI Online Retail into the schema.

    `root` is the folder holding the data set folders; `path` reads that file instead (same
    format; used for the bundled sample). With `net_cancellations` (default), purchase events
    that a later cancellation by the same customer for the same item fully takes back are
    dropped (see `shopsense.data.returns.net_returns`).
    """
    if path is None:
        folder = resolve_root(root) / DATASET
        (path,) = require_files(folder, [FILE], DATASET)
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"data set {DATASET!r}: expected file not found: {path}")
    raw = read_online_retail(path)
    notes: list[str] = []

    invoice = raw["InvoiceNo"]
    code = raw["StockCode"]
    customer = raw["CustomerID"]
    qty = raw["Quantity"]
    price = raw["UnitPrice"]
    time = raw["InvoiceDate"]
    is_cancel = invoice.str.startswith("C").to_numpy(dtype=bool)
    is_product = is_product_code(code).to_numpy(dtype=bool)
    known = customer.notna().to_numpy()

    # order_lines: every row, as is.
    order_lines = conform(
        "order_lines",
        pd.DataFrame(
            {
                "invoice_id": invoice,
                "item_id": code,
                "quantity": qty,
                "unit_price": price,
                "time": time,
                "customer_id": customer,
                "country": raw["Country"],
                "line_type": line_type(invoice, qty),
                "currency": "GBP",
            }
        ),
    )

    # orders: one per invoice, at the time of its first line.
    by_invoice = raw.groupby("InvoiceNo", sort=False)
    orders_raw = by_invoice.agg(
        time=("InvoiceDate", "min"),
        customer_id=("CustomerID", "first"),
        country=("Country", "first"),
    ).reset_index(names="invoice_id")
    orders_raw["cancelled"] = orders_raw["invoice_id"].str.startswith("C")
    orders = conform("orders", orders_raw)
    n_cancelled_orders = int(orders["cancelled"].sum())
    n_adjust = int((~orders["invoice_id"].str[0].str.isdigit() & ~orders["cancelled"]).sum())
    notes.append(
        f"orders: {len(orders):,} invoices, {n_cancelled_orders:,} cancellations (invoice "
        f"number starting with 'C', cancelled = true); time = the invoice's first line time"
        + (
            f"; {n_adjust} invoice(s) starting with 'A' are bad-debt adjustments, kept as "
            "not cancelled"
            if n_adjust
            else ""
        )
    )

    # items: one per stock code, with its kind.
    products = raw[["StockCode", "Description", "UnitPrice", "InvoiceNo"]]
    titles_src = products[["StockCode", "Description"]].copy()
    titles_src["Description"] = titles_src["Description"].str.strip().replace("", None)
    title = mode_per_group(titles_src, "StockCode", "Description")
    priced = products[~products["InvoiceNo"].str.startswith("C") & (products["UnitPrice"] > 0)]
    median_price = priced.groupby("StockCode")["UnitPrice"].median()
    item_ids = pd.Series(products["StockCode"].unique())
    items = conform(
        "items",
        pd.DataFrame(
            {
                "item_id": item_ids,
                "title": item_ids.map(title),
                "price": item_ids.map(median_price),
                "kind": item_kind(item_ids),
            }
        ),
    )
    excluded_codes = sorted(set(code[~is_product].unique()))
    notes.append(
        f"items: {len(items):,} stock codes, {int((items['kind'] == 'product').sum()):,} of "
        f"them products; {len(excluded_codes)} non-product codes (kind shipping, fee, voucher "
        f"or adjustment) are left out of events ({', '.join(excluded_codes)}); title = the "
        "code's most frequent "
        "description, price = median unit price of its non-cancelled lines with price > 0; "
        "category, brand and description are not in this data set (None)"
    )

    # users: every known customer, with their most frequent country.
    customers = raw.loc[known, ["CustomerID", "Country"]]
    country = mode_per_group(customers, "CustomerID", "Country")
    user_ids = pd.Series(customers["CustomerID"].unique())
    users = conform("users", pd.DataFrame({"user_id": user_ids, "country": user_ids.map(country)}))
    notes.append(
        f"users: {len(users):,} customers, country = their most frequent country; age, gender, "
        "occupation and signup time are unknown"
    )

    # events: purchase lines, by cascade of exclusions.
    reasons: list[tuple[str, np.ndarray]] = [
        ("cancellation lines (invoice 'C...')", is_cancel),
        ("guest lines (no CustomerID)", ~known),
        ("non-product codes", ~is_product),
        ("quantity <= 0 or unit price <= 0", (qty.to_numpy() <= 0) | (price.to_numpy() <= 0)),
    ]
    keep = np.ones(len(raw), dtype=bool)
    dropped_counts: list[str] = []
    for label, mask in reasons:
        hit = keep & mask
        dropped_counts.append(f"{int(hit.sum()):,} {label}")
        keep &= ~mask
    candidates = raw.loc[keep]

    cancel_mask = is_cancel & known & (qty.to_numpy() < 0)
    netting = net_returns(
        candidates.rename(
            columns={"CustomerID": "customer", "StockCode": "item", "InvoiceDate": "time"}
        ).assign(qty=candidates["Quantity"]),
        raw.loc[cancel_mask]
        .rename(columns={"CustomerID": "customer", "StockCode": "item", "InvoiceDate": "time"})
        .assign(qty=raw.loc[cancel_mask, "Quantity"]),
    )
    n_full = int(netting["dropped"].sum())
    partial = (netting["cancelled_units"] > 0) & ~netting["dropped"]
    matched_units = int(netting["cancelled_units"].sum())
    cancelled_units = int(-qty[cancel_mask].sum())
    if net_cancellations:
        purchases = candidates.loc[~netting["dropped"].to_numpy()]
        dropped_counts.append(f"{n_full:,} purchases fully taken back by a later cancellation")
    else:
        purchases = candidates
    events = conform(
        "events",
        pd.DataFrame(
            {
                "user_id": purchases["CustomerID"],
                "item_id": purchases["StockCode"],
                "event_type": EventType.PURCHASE.value,
                "value": purchases["Quantity"].astype("float64"),
                "timestamp": purchases["InvoiceDate"],
                "session_id": purchases["InvoiceNo"],
            }
        ),
    )
    notes.append(
        f"events: {len(events):,} purchase events (value = quantity, session = invoice) from "
        f"{len(raw):,} lines; dropped, in this order: " + "; ".join(dropped_counts)
    )
    if net_cancellations:
        notes.append(
            f"cancellations netted: {cancelled_units:,} cancelled units by known customers; "
            f"{matched_units:,} matched earlier purchases of the same customer and item (latest "
            f"first), the rest cancel purchases from before the data starts; {n_full:,} purchase "
            f"events fully cancelled were dropped; {int(partial.sum()):,} partly cancelled "
            "purchases kept with their full quantity"
        )
    else:
        notes.append(
            f"cancellations not netted (net_cancellations=False): {n_full:,} purchase events "
            "that later cancellations fully take back are kept"
        )
    distinct = pd.Series(code.unique())
    folded = distinct.str.upper()
    clashing = distinct[folded.duplicated(keep=False)].sort_values()
    if len(clashing):
        example = clashing[folded[clashing.index] == folded[clashing.index[0]]]
        notes.append(
            f"stock codes are kept as written: {len(clashing):,} codes differ from another only "
            f"in letter case (e.g. {' and '.join(example)}) and stay distinct items"
        )
    return SourceData(
        name=DATASET,
        tables={
            "events": events,
            "items": items,
            "users": users,
            "orders": orders,
            "order_lines": order_lines,
        },
        notes=tuple(notes),
    )
