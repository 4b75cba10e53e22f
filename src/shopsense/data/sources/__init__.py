"""Loaders that map public data sets (under SHOPSENSE_DATA_ROOT) into the store's schema.

Each loader is a pure reader: it reads the files of one data set and returns a `SourceData`
whose frames have exactly the columns of `shopsense.data.schema.TABLES`, in order and typed.
Nothing is written and nothing is fetched from the network.

    >>> data = load_source("movielens-100k")          # doctest: +SKIP
    >>> data.tables["events"].head()                  # doctest: +SKIP

`load_sample()` reads the small UCI Online Retail subset bundled inside the package, so that
examples and tests run without any public data folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shopsense.data.schema import TABLES, ColumnType


@dataclass(frozen=True)
class SourceData:
    """The tables one data set provides, and notes on how it was mapped.

    `tables` maps a table name of the schema to a frame with exactly that table's columns,
    in order: strings as Python `str`/`None` (object dtype), INTEGER as `Int64`, FLOAT as
    `float64`, TIMESTAMP as naive `datetime64[ns]`, BOOLEAN as `bool`. Tables a data set
    knows nothing about are absent.
    """

    name: str
    tables: dict[str, pd.DataFrame]
    notes: tuple[str, ...] = ()

    def order_lines_view(self) -> pd.DataFrame:
        """The order lines with each line's type and its item's kind resolved (the view
        customer histories, demand and anomalies read; see `shopsense.data.orders`)."""
        from shopsense.data.orders import order_line_view

        if "order_lines" not in self.tables:
            raise KeyError(f"data set {self.name!r} has no order lines")
        items = self.tables.get("items")
        return order_line_view(self.tables["order_lines"], items, source=self.name)


def conform(table_name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` reduced to the columns of `table_name`, in schema order and with schema types.

    Columns the frame lacks are added empty. Raises if a required column is missing.
    """
    table = TABLES[table_name]
    n = len(frame)
    out: dict[str, pd.Series | np.ndarray] = {}
    for col in table.columns:
        if col.name in frame.columns:
            s = frame[col.name].reset_index(drop=True)
        elif col.required:
            raise ValueError(f"table {table_name}: required column {col.name!r} is missing")
        else:
            s = pd.Series([None] * n, dtype=object)
        if col.type is ColumnType.STRING:
            s = s.astype(object)
            s = s.where(s.notna(), None)
        elif col.type is ColumnType.INTEGER:
            s = pd.to_numeric(s).astype("Int64") if s.notna().any() else s.astype("Int64")
        elif col.type is ColumnType.FLOAT:
            s = pd.to_numeric(s).astype("float64") if s.notna().any() else s.astype("float64")
        elif col.type is ColumnType.TIMESTAMP:
            s = pd.to_datetime(s).astype("datetime64[ns]")
        elif col.type is ColumnType.BOOLEAN:
            s = s.astype(bool)
        out[col.name] = s
    return pd.DataFrame(out, columns=list(table.column_names))


def require_files(folder: Path, names: Iterable[str], dataset: str) -> list[Path]:
    """Paths of `names` in `folder`; a clear error naming the expected path if one is missing."""
    paths = [folder / n for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        listed = ", ".join(str(p) for p in missing)
        raise FileNotFoundError(
            f"data set {dataset!r}: expected file(s) not found: {listed}. "
            f"Put the data set in {folder} (or pass root= / set SHOPSENSE_DATA_ROOT to the "
            "folder holding the data set folders)."
        )
    return paths


def resolve_root(root: Path | str | None) -> Path:
    """The folder holding the data set folders: `root`, else the settings' `data_root`."""
    if root is not None:
        return Path(root)
    from shopsense.config import Settings

    return Path(Settings().data_root)


def mode_per_group(frame: pd.DataFrame, key: str, value: str) -> pd.Series:
    """Most frequent non-null `value` per `key` (ties: smallest value), indexed by `key`."""
    counts = frame.dropna(subset=[key, value]).groupby([key, value], sort=False).size()
    counts = counts.rename("n").reset_index()
    counts = counts.sort_values([key, "n", value], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates(key).set_index(key)[value]


# The loaders import the helpers above, so they are imported after them.
from shopsense.data.sources.amazon_beauty import load_amazon_beauty  # noqa: E402
from shopsense.data.sources.amazon_qa import load_amazon_qa  # noqa: E402
from shopsense.data.sources.amazon_reviews import load_amazon_reviews  # noqa: E402
from shopsense.data.sources.diginetica import load_diginetica  # noqa: E402
from shopsense.data.sources.fashion_mnist import load_fashion_mnist  # noqa: E402
from shopsense.data.sources.grocery_store import load_grocery_store  # noqa: E402
from shopsense.data.sources.movielens import load_movielens  # noqa: E402
from shopsense.data.sources.online_shopping import load_online_shopping  # noqa: E402
from shopsense.data.sources.uci_online_retail import load_uci_online_retail  # noqa: E402
from shopsense.data.sources.womens_clothing import load_womens_clothing  # noqa: E402

SOURCES: dict[str, Callable[..., SourceData]] = {
    "uci-online-retail": load_uci_online_retail,
    "amazon-beauty-seq": load_amazon_beauty,
    "movielens-100k": load_movielens,
    "diginetica-sample": load_diginetica,
    "fashion-mnist": load_fashion_mnist,
    "grocery-store-images": load_grocery_store,
    "online-shopping-10-cats": load_online_shopping,
    "womens-ecommerce-clothing-reviews": load_womens_clothing,
    "amazon-all-beauty-5core": load_amazon_reviews,
    "amazon-qa-appliances": load_amazon_qa,
}

SAMPLE_PATH: Path = (
    Path(__file__).resolve().parent.parent / "sample" / "online_retail_sample.csv.gz"
)
"""The bundled UCI Online Retail subset (original columns and format; see sample/README.md)."""

SAMPLE_DIVISOR = 4
"""The sample holds every row of the customers whose integer id is divisible by this."""


def load_source(name: str, root: Path | str | None = None, **options: object) -> SourceData:
    """Load the public data set `name` from `root` (default: settings' `data_root`).

    `options` go to the loader (e.g. `net_cancellations=False` for uci-online-retail).
    """
    try:
        loader = SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown data source {name!r}; sources are: {', '.join(SOURCES)}") from None
    return loader(root, **options)


def load_sample(**options: object) -> SourceData:
    """The bundled UCI Online Retail sample, mapped exactly like uci-online-retail."""
    if not SAMPLE_PATH.is_file():
        raise FileNotFoundError(f"the bundled sample is missing: expected {SAMPLE_PATH}")
    data = load_uci_online_retail(path=SAMPLE_PATH, **options)
    notes = (
        f"bundled sample {SAMPLE_PATH.name}: every row of the UCI Online Retail customers "
        f"whose id is divisible by {SAMPLE_DIVISOR} (no guest rows)",
        *data.notes,
    )
    return SourceData(name="uci-online-retail-sample", tables=data.tables, notes=notes)


__all__ = [
    "SAMPLE_DIVISOR",
    "SAMPLE_PATH",
    "SOURCES",
    "SourceData",
    "conform",
    "load_sample",
    "load_source",
]
