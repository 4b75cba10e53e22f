"""The customer view: what each identified customer bought, when, and for how much.

Built from the order-line view of the store (`shopsense.data.orders`: each line's
`line_type` and its item's `kind`) and `items` for product groups. Everything behaviour
models read comes from here, computed as of a cut-off time so that a temporal split never
lets a model see the period it is evaluated on:

- `invoices`: one row per customer purchase invoice (net of the lines cancelled later),
  oldest first: the ordered purchase sequence.
- `features()`: one row per customer: RFM (recency, frequency, monetary), basket
  statistics, inter-purchase times, cancellations and the mix of product groups.

Guest lines (no customer id) cannot form a history and are left out, counted in `notes`.
Lines of non-products (items of kind shipping, fee, voucher, adjustment) and adjustment lines
are left out of purchases; returns and cancellations count as taken back. Anomaly detection
reads every line instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from shopsense.data.orders import order_line_view, order_lines_from_store

if TYPE_CHECKING:
    from shopsense.data.store import Store

LINE_COLUMNS = ("invoice_id", "item_id", "quantity", "unit_price", "time", "customer_id")
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class CustomerHistory:
    """Identified customers' product lines up to `cutoff` (exclusive)."""

    lines: pd.DataFrame
    """customer_id, invoice_id, item_id, quantity, unit_price, value, time, cancelled"""
    cutoff: pd.Timestamp
    groups: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    """item_id -> product group (category, or a group derived from titles)"""
    notes: tuple[str, ...] = ()

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_order_lines(
        cls,
        order_lines: pd.DataFrame,
        *,
        groups: pd.Series | None = None,
        cutoff: pd.Timestamp | str | None = None,
        source: str = "order_lines",
        items: pd.DataFrame | None = None,
    ) -> CustomerHistory:
        """Typed, checked customer lines; `cutoff` defaults to the day after the last line.

        `order_lines` is the order-line view, or raw lines plus the catalogue `items`
        (item_id, kind) that says which items are products.

        Raises ValueError naming `source`, the row and the field when a needed column is
        missing or a value cannot be read, and when no line has a customer id.
        """
        missing = [c for c in LINE_COLUMNS if c not in order_lines.columns]
        if missing:
            raise ValueError(f"{source}: missing column(s) {missing}; need {list(LINE_COLUMNS)}")
        if order_lines.empty:
            raise ValueError(f"{source} is empty: no order lines to build customers from")
        view = order_line_view(order_lines, items, source=source)
        frame = view.loc[:, list(LINE_COLUMNS)].copy()
        notes = []
        guests = frame["customer_id"].isna() | (frame["customer_id"].astype(str) == "")
        if guests.all():
            raise ValueError(
                f"{source}: no line has a customer_id, so there are no customers to describe "
                f"({len(frame):,} guest lines)"
            )
        if guests.any():
            notes.append(f"{int(guests.sum()):,} lines without a customer id left out")
        products = view["is_product"].to_numpy(dtype=bool)
        counted = products & (view["is_sale"] | view["takes_back"]).to_numpy(dtype=bool)
        if (~counted & ~guests).any():
            notes.append(
                f"{int((~counted & ~guests).sum()):,} customer lines of non-products or "
                "adjustments (postage, fees, vouchers, write-offs) left out"
            )
        frame["takes_back"] = view["takes_back"].to_numpy(dtype=bool)
        frame = frame[~guests & counted]
        frame["customer_id"] = frame["customer_id"].astype(str)
        frame["cancelled"] = (frame["quantity"] < 0) | frame.pop("takes_back")
        frame["value"] = frame["quantity"] * frame["unit_price"]
        frame = frame.sort_values(["customer_id", "time", "invoice_id"], kind="stable")
        if cutoff is None:
            cutoff = frame["time"].max().normalize() + DAY
        history = cls(frame.reset_index(drop=True), pd.Timestamp(cutoff), _groups(groups), ())
        return history.until(cutoff, notes=tuple(notes))

    @classmethod
    def from_store(
        cls, store: Store, *, cutoff: pd.Timestamp | str | None = None, n_groups: int = 12
    ) -> CustomerHistory:
        """From the store's `order_lines`, with product groups from its `items`."""
        lines = order_lines_from_store(store)
        if lines.empty:
            raise ValueError(
                f"the store {getattr(store, 'path', '')} has no order_lines; load orders with "
                "`shopsense data load uci-online-retail` or `shopsense ingest order_lines FILE`"
            )
        items = store.read("items", ["item_id", "title", "category", "kind"])
        try:
            groups = product_groups(items, n_groups=n_groups)
        except ValueError:
            groups = None  # a catalogue without categories or titles: no group mix
        return cls.from_order_lines(lines, groups=groups, cutoff=cutoff, source=str(store.path))

    def until(self, cutoff: pd.Timestamp | str, *, notes: tuple[str, ...] = ()) -> CustomerHistory:
        """The same customers' lines strictly before `cutoff` (a temporal split's past)."""
        cutoff = pd.Timestamp(cutoff)
        lines = self.lines[self.lines["time"] < cutoff].reset_index(drop=True)
        return CustomerHistory(lines, cutoff, self.groups, self.notes + notes)

    def with_groups(self, groups: pd.Series | None) -> CustomerHistory:
        """The same lines read through another item -> product group mapping: a model scores
        with the mapping it was fitted on, not one recomputed from today's catalogue."""
        return CustomerHistory(self.lines, self.cutoff, _groups(groups), self.notes)

    def between(self, start: pd.Timestamp | str, end: pd.Timestamp | str) -> pd.DataFrame:
        """Lines in [start, end): what happened in a later period (a split's future)."""
        t = self.lines["time"]
        return self.lines[(t >= pd.Timestamp(start)) & (t < pd.Timestamp(end))]

    # ----------------------------------------------------------------- views
    @property
    def customers(self) -> np.ndarray:
        """Customers with at least one purchase before the cut-off, sorted."""
        return np.sort(self.invoices["customer_id"].unique())

    @property
    def invoices(self) -> pd.DataFrame:
        """One row per purchase invoice, oldest first per customer: customer_id,
        invoice_id, time, value (net of later cancellations of its items), lines, units.
        Invoices whose net value is not positive (fully returned) are dropped."""
        bought = self.lines[~self.lines["cancelled"]]
        per = bought.groupby(["customer_id", "invoice_id"], sort=False).agg(
            time=("time", "min"),
            value=("value", "sum"),
            lines=("item_id", "size"),
            units=("quantity", "sum"),
        )
        per = per.reset_index()
        returned = self._returned_share()
        per["value"] *= 1.0 - per["customer_id"].map(returned).fillna(0.0).to_numpy()
        per = per[per["value"] > 0]
        return per.sort_values(["customer_id", "time", "invoice_id"], kind="stable").reset_index(
            drop=True
        )

    def _returned_share(self) -> pd.Series:
        """Per customer, the share of bought value later cancelled (0–1)."""
        lines = self.lines
        bought = lines.loc[~lines["cancelled"]].groupby("customer_id")["value"].sum()
        back = -lines.loc[lines["cancelled"]].groupby("customer_id")["value"].sum()
        return (back.reindex(bought.index).fillna(0.0) / bought).clip(0.0, 1.0)

    def features(self) -> pd.DataFrame:
        """One row per customer (index customer_id), all numeric, as of the cut-off.

        recency_days (cut-off − last purchase), frequency (purchase invoices), monetary
        (net value), tenure_days (cut-off − first purchase), basket_value / basket_lines /
        basket_units (means per invoice), distinct_items, gap_mean_days / gap_median_days /
        gap_std_days (between consecutive invoices; NaN with a single invoice),
        return_share (value cancelled later), cancel_invoices, and group_<name> (share of
        spend per product group, when groups are known).
        """
        inv = self.invoices
        if inv.empty:
            raise ValueError(f"no customer purchases before {self.cutoff:%Y-%m-%d}")
        g = inv.groupby("customer_id", sort=True)
        first, last = g["time"].min(), g["time"].max()
        out = pd.DataFrame(
            {
                "recency_days": (self.cutoff - last) / DAY,
                "frequency": g.size().astype(float),
                "monetary": g["value"].sum(),
                "tenure_days": (self.cutoff - first) / DAY,
                "basket_value": g["value"].mean(),
                "basket_lines": g["lines"].mean(),
                "basket_units": g["units"].mean(),
            }
        )
        gaps = inv.assign(gap=g["time"].diff() / DAY).dropna(subset=["gap"])
        gg = gaps.groupby("customer_id")["gap"]
        out["gap_mean_days"] = gg.mean()
        out["gap_median_days"] = gg.median()
        out["gap_std_days"] = gg.std(ddof=0)
        bought = self.lines[~self.lines["cancelled"]]
        out["distinct_items"] = bought.groupby("customer_id")["item_id"].nunique()
        out["return_share"] = self._returned_share().reindex(out.index).fillna(0.0)
        cancels = self.lines[self.lines["cancelled"]].groupby("customer_id")["invoice_id"]
        out["cancel_invoices"] = cancels.nunique().reindex(out.index).fillna(0).astype(float)
        if len(self.groups):
            group = bought["item_id"].map(self.groups).fillna("other")
            spend = bought.assign(group=group).pivot_table(
                index="customer_id", columns="group", values="value", aggfunc="sum", fill_value=0.0
            )
            share = spend.div(spend.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
            share.columns = [f"group_{c}" for c in share.columns]
            out = out.join(share.reindex(out.index).fillna(0.0))
        out.index.name = "customer_id"
        return out.astype(float)

    def sequences(self, max_length: int | None = None) -> dict[str, pd.DataFrame]:
        """Per customer, their invoices oldest first with gap_days since the previous one
        (0 for the first): the input of sequence models. `max_length` keeps the latest."""
        inv = self.invoices.copy()
        inv["gap_days"] = (inv.groupby("customer_id")["time"].diff() / DAY).fillna(0.0)
        out = {}
        for customer, rows in inv.groupby("customer_id", sort=True):
            out[str(customer)] = rows.tail(max_length) if max_length else rows
        return out


def _groups(groups: pd.Series | None) -> pd.Series:
    if groups is None:
        return pd.Series(dtype=object)
    groups = groups.dropna()
    groups.index = groups.index.astype(str)
    return groups.astype(str)


def product_groups(items: pd.DataFrame, n_groups: int = 12, seed: int = 0) -> pd.Series:
    """item_id -> product group: the catalogue's category where it has one; otherwise
    groups found in the titles (TF-IDF + k-means), each named by its most typical words,
    e.g. "bag|lunch|jumbo". Deterministic for a seed."""
    items = items.set_index("item_id") if "item_id" in items.columns else items
    if "kind" in items:  # postage, fees and vouchers are no product group
        items = items[items["kind"].isna() | (items["kind"] == "product")]
    if "category" in items and items["category"].notna().mean() > 0.5:
        return items["category"].astype("string").fillna("other").astype(str)
    titles = items["title"].astype("string").fillna("").str.lower() if "title" in items else None
    if titles is None or (titles.str.len() > 0).sum() < n_groups:
        raise ValueError("product groups need a category or titles for at least n_groups items")
    from sklearn.cluster import KMeans
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(min_df=3, stop_words="english", token_pattern=r"[a-z]{3,}")
    x = vectorizer.fit_transform(titles.tolist())
    km = KMeans(n_clusters=n_groups, n_init=4, random_state=seed).fit(x)
    words = np.asarray(vectorizer.get_feature_names_out())
    names = ["|".join(words[np.argsort(-c)[:3]]) for c in km.cluster_centers_]
    return pd.Series(np.asarray(names, dtype=object)[km.labels_], index=items.index.astype(str))
