"""Price elasticity: how much demand moves when the price moves, with honest uncertainty.

Per product, a log-log regression of units on price over the periods it sold,

    log(units) = a + e * log(price) + c * log(market) + noise,

where `market` is the shop's total units in the period (a control for season and trend: a
price cut in December would otherwise take the credit for Christmas). `e` is the elasticity:
a 1% higher price changes demand by e%. Per category, the same regression pooled over its
products with a fixed effect per product (within-product variation only).

Intervals come from a Poisson bootstrap (every row gets a Poisson(1) weight per replicate),
which is one matrix product for all products and replicates at once — no loop per product
or per replicate. The data are small (the retail-price panel has ~13 months a product), so
the intervals are wide, and they are reported next to every estimate.

A product is flagged instead of estimated when it has too few priced periods, too few
distinct prices, or too little price spread: its price never moved enough to say anything
about the slope. Such products, and noisy ones, borrow from their category: the estimate
used downstream (`elasticity`) is the product's own estimate shrunk towards the category's
by their precisions (empirical Bayes), or the category's where the product has none.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import norm

from shopsense.data.panel import PricePanel
from shopsense.estimator import Estimator, register
from shopsense.persist import read_model_json, write_json

KIND = "elasticity"
MODEL_FILE = "model.json"


@dataclass(frozen=True)
class ElasticityConfig:
    """How elasticities are estimated and when a product is flagged."""

    n_boot: int = 1000
    """Bootstrap replicates for the intervals."""
    confidence: float = 0.9
    """Interval coverage (0.9: the 5th to 95th percentile of the replicates)."""
    min_periods: int = 6
    """Fewest priced periods with a sale for a product's own estimate."""
    min_distinct_prices: int = 2
    """Fewest distinct prices (rounded to cents) for a product's own estimate."""
    min_price_spread: float = 0.03
    """Smallest standard deviation of log price (~3% price moves) for an own estimate."""
    market_control: bool = True
    """Control for the shop's total units per period (season, trend)."""
    random_state: int = 0


@dataclass(frozen=True)
class _Design:
    """Rows of the regression: product index, log units, log price, centred log market."""

    group: np.ndarray
    y: np.ndarray
    x: np.ndarray
    z: np.ndarray
    n_groups: int


@register(KIND)
class ElasticityModel(Estimator):
    """Per-product and per-category price elasticities with bootstrap intervals.

    >>> model = ElasticityModel().fit(panel)
    >>> model.table_            # one row per product: elasticity, interval, status, basis
    >>> model.categories_       # one row per category (pooled, product fixed effects)
    """

    name = KIND
    fitted_attribute = "table_"

    def __init__(self, **params: Any) -> None:
        self.config = ElasticityConfig(**params)
        self.table_: pd.DataFrame | None = None
        self.categories_: pd.DataFrame | None = None
        self.freq_: str = "W"

    # ------------------------------------------------------------------------- fit
    def fit(self, panel: PricePanel) -> Self:
        """Estimate every product of `panel` and every category."""
        cfg = self.config
        obs = panel.observed()
        if obs.empty:
            raise ValueError(f"{panel.source}: no period with a sale and a known price")
        market = _market_index(panel) if cfg.market_control else None
        items = panel.items
        support = _support(obs, items)
        status = _status(support, cfg)
        usable = obs[obs["item_id"].isin(status.index[status == "ok"])]
        own = _per_item(usable, market, cfg)
        cats = panel.categories()
        pooled = _per_category(obs[obs["item_id"].isin(support.index)], cats, market, cfg)
        table = support.join(status.rename("status")).join(own)
        table.insert(0, "category", cats.reindex(table.index).fillna("all"))
        self.table_ = _shrink(table, pooled, cfg.confidence)
        self.categories_ = pooled
        self.freq_ = panel.freq
        return self

    def elasticity(self, item: str) -> dict[str, Any]:
        """One product's row as a dict (KeyError naming the item if it is unknown)."""
        table = self._table()
        if item not in table.index:
            raise KeyError(f"no elasticity for item {item!r}: it is not in the fitted panel")
        row = table.loc[item]
        return {"item_id": item, **{k: _plain(v) for k, v in row.items()}}

    def _table(self) -> pd.DataFrame:
        self.check_fitted()
        return self.table_

    # --------------------------------------------------------------------- persist
    def save(self, path: str | Path) -> Path:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        table = self._table()
        assert self.categories_ is not None
        payload = {
            "model": KIND,
            "params": self.get_params(),
            "freq": self.freq_,
            "items": _records(table.reset_index(names="item_id")),
            "categories": _records(self.categories_.reset_index(names="category")),
        }
        write_json(folder / MODEL_FILE, payload, strict=True)
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Self:
        payload = read_model_json(Path(path), KIND, MODEL_FILE)
        model = cls(**payload["params"])
        model.table_ = pd.DataFrame(payload["items"]).set_index("item_id").rename_axis(None)
        cats = pd.DataFrame(payload["categories"]).set_index("category")
        model.categories_ = cats.rename_axis(None)
        model.freq_ = payload["freq"]
        return model


# ============================================================================ estimation
def _market_index(panel: PricePanel) -> pd.Series:
    """period -> centred log of the mean units per product on sale in the period (the mean,
    not the total: a growing catalogue is not a rising market)."""
    per_product = panel.frame.groupby("period")["units"].mean()
    logged = np.log(per_product.clip(lower=1e-3))
    return logged - logged.mean()


def _support(obs: pd.DataFrame, items: list[str]) -> pd.DataFrame:
    logp = np.log(obs["price"])
    g = obs.assign(logp=logp, cents=obs["price"].round(2)).groupby("item_id", sort=False)
    out = pd.DataFrame(
        {
            "periods": g.size(),
            "distinct_prices": g["cents"].nunique(),
            "price_spread": g["logp"].std(ddof=0),
            "mean_units": g["units"].mean(),
            "median_price": g["price"].median(),
        }
    )
    return out.reindex(pd.Index(items, name=None)).fillna(
        {"periods": 0, "distinct_prices": 0, "price_spread": 0.0}
    )


def _status(support: pd.DataFrame, cfg: ElasticityConfig) -> pd.Series:
    status = pd.Series("ok", index=support.index, dtype=object)
    status[support["price_spread"] < cfg.min_price_spread] = "too little price variation"
    status[support["distinct_prices"] < cfg.min_distinct_prices] = "too few distinct prices"
    status[support["periods"] < cfg.min_periods] = "too few periods"
    return status


def _design(rows: pd.DataFrame, groups: pd.Index, market: pd.Series | None) -> _Design:
    codes = groups.get_indexer(rows["_group"])
    z = rows["period"].map(market).to_numpy(float) if market is not None else np.zeros(len(rows))
    return _Design(
        group=codes,
        y=np.log(rows["units"].to_numpy(float)),
        x=np.log(rows["price"].to_numpy(float)),
        z=z,
        n_groups=len(groups),
    )


def _per_item(rows: pd.DataFrame, market: pd.Series | None, cfg: ElasticityConfig) -> pd.DataFrame:
    """Own regression per product; bootstrap of all products at once."""
    names = ["elasticity_own", "own_low", "own_high", "own_se", "r2"]
    if rows.empty:
        return pd.DataFrame(columns=names, dtype=float)
    groups = pd.Index(pd.unique(rows["item_id"]))
    d = _design(rows.assign(_group=rows["item_id"]), groups, market)
    use_z = market is not None
    point = _slopes(d, np.ones((1, len(d.y))), use_z, demean=True)[0]
    boot = _slopes(d, _poisson_weights(cfg, len(d.y)), use_z, demean=True)
    low, high = _interval(boot, cfg.confidence)
    r2 = _r_squared(d, point, use_z)
    out = pd.DataFrame(
        {
            "elasticity_own": point,
            "own_low": low,
            "own_high": high,
            "own_se": _robust_se(boot),
            "r2": r2,
        },
        index=groups,
    )
    return out


def _per_category(
    rows: pd.DataFrame, cats: pd.Series, market: pd.Series | None, cfg: ElasticityConfig
) -> pd.DataFrame:
    """Pooled regression per category with a fixed effect per product."""
    rows = rows.assign(_cat=rows["item_id"].map(cats).fillna("all").astype(str))
    # a product with a single priced period carries no within-product variation
    rows = rows[rows.groupby("item_id")["price"].transform("size") > 1]
    groups = pd.Index(sorted(pd.unique(rows["_cat"])))
    d = _design(rows.assign(_group=rows["_cat"]), groups, market)
    # within-product demeaning turns the product fixed effects into centred variables
    for name in ("y", "x", "z"):
        values = getattr(d, name)
        means = pd.Series(values).groupby(rows["item_id"].to_numpy()).transform("mean")
        object.__setattr__(d, name, values - means.to_numpy())
    use_z = market is not None
    point = _slopes(d, np.ones((1, len(d.y))), use_z, demean=False)[0]
    boot = _slopes(d, _poisson_weights(cfg, len(d.y)), use_z, demean=False)
    low, high = _interval(boot, cfg.confidence)
    per_cat = rows.groupby("_cat")
    return pd.DataFrame(
        {
            "elasticity": point,
            "low": low,
            "high": high,
            "se": _robust_se(boot),
            "products": per_cat["item_id"].nunique().reindex(groups).to_numpy(),
            "periods": per_cat.size().reindex(groups).to_numpy(),
        },
        index=groups,
    )


def _poisson_weights(cfg: ElasticityConfig, n: int) -> np.ndarray:
    rng = np.random.default_rng(cfg.random_state)
    return rng.poisson(1.0, size=(cfg.n_boot, n)).astype(np.float64)


def _slopes(d: _Design, weights: np.ndarray, use_z: bool, *, demean: bool) -> np.ndarray:
    """Weighted least-squares price slope per group for every row of `weights` (B × n).

    With `demean`, each group has its own intercept (the weighted group means are removed);
    otherwise the variables are taken as already centred. With `use_z` the market index is
    a second regressor, partialled out by the 2×2 normal equations.
    """
    g = sp.csr_matrix(
        (np.ones(len(d.group)), (np.arange(len(d.group)), d.group)),
        shape=(len(d.group), d.n_groups),
    )

    def s(v: np.ndarray) -> np.ndarray:  # B × groups weighted sums of v
        return np.asarray((g.T @ (weights * v).T).T)

    n = s(np.ones_like(d.x)) if demean else None
    with np.errstate(divide="ignore", invalid="ignore"):

        def cov(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            raw = s(a * b)
            if n is None:
                return raw
            return raw - s(a) * s(b) / n

        sxx, sxy = cov(d.x, d.x), cov(d.x, d.y)
        if not use_z:
            slope = sxy / sxx
        else:
            szz, sxz, szy = cov(d.z, d.z), cov(d.x, d.z), cov(d.z, d.y)
            det = sxx * szz - sxz**2
            # a degenerate market column (constant for the group) falls back to price alone
            slope = np.where(np.abs(det) > 1e-12 * np.abs(sxx * szz), (szz * sxy - sxz * szy) / det,
                             sxy / sxx)  # fmt: skip
    # a replicate that drew (almost) a single price for a group has no slope for it
    slope[~np.isfinite(slope) | ~(sxx > 1e-9)] = np.nan
    return slope


def _interval(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = _nanpercentile(boot, [tail, 100.0 - tail])
    return low, high


def _nanpercentile(boot: np.ndarray, q: list[float]) -> np.ndarray:
    """Percentiles per column; NaN (quietly) for a column without a finite replicate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanpercentile(boot, q, axis=0)


def _robust_se(boot: np.ndarray) -> np.ndarray:
    """Half the 16th-84th percentile range: the standard error of a normal, but not blown up
    by the odd replicate that happened to draw a single price (a near-zero variance)."""
    low, high = _nanpercentile(boot, [15.865, 84.135])
    return (high - low) / 2.0


def _r_squared(d: _Design, slope: np.ndarray, use_z: bool) -> np.ndarray:
    """Share of each product's log-units variance the price (and market) explain."""
    frame = pd.DataFrame({"g": d.group, "y": d.y, "x": d.x, "z": d.z})
    centred = frame.groupby("g")[["y", "x", "z"]].transform(lambda v: v - v.mean())
    b = slope[d.group]
    if use_z:
        # the market coefficient given the slope, per group
        zz = (centred["z"] ** 2).groupby(frame["g"]).sum().to_numpy()
        zr = (centred["z"] * (centred["y"] - b * centred["x"])).groupby(frame["g"]).sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(zz > 0, zr.to_numpy() / zz, 0.0)[d.group]
    else:
        c = 0.0
    resid = centred["y"] - b * centred["x"] - c * centred["z"]
    ss_res = (resid**2).groupby(frame["g"]).sum().to_numpy()
    ss_tot = (centred["y"] ** 2).groupby(frame["g"]).sum().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


def _shrink(table: pd.DataFrame, pooled: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """The elasticity used downstream: own estimate shrunk to the category's (see module)."""
    table = table.copy()
    cat = table["category"].map(pooled["elasticity"])
    cat_se = table["category"].map(pooled["se"])
    own = table.get("elasticity_own", pd.Series(np.nan, index=table.index))
    own_se = table.get("own_se", pd.Series(np.nan, index=table.index))
    # between-product spread of the true elasticities within a category (method of moments)
    spread = own.groupby(table["category"]).var() - (own_se**2).groupby(table["category"]).mean()
    tau2 = table["category"].map(spread.clip(lower=0.05)).fillna(0.25)
    has_own = own.notna() & own_se.gt(0)
    w_own = 1.0 / own_se**2
    w_cat = 1.0 / tau2
    shrunk = (own * w_own + cat * w_cat) / (w_own + w_cat)
    shrunk_se = np.sqrt(1.0 / (w_own + w_cat))
    table["elasticity"] = np.where(has_own, shrunk, cat)
    se = np.where(has_own, shrunk_se, np.sqrt(cat_se**2 + tau2))
    table["se"] = se
    z = float(norm.ppf(0.5 + confidence / 2.0))
    table["low"] = table["elasticity"] - z * se
    table["high"] = table["elasticity"] + z * se
    table["basis"] = np.where(
        has_own, "own, shrunk to category", np.where(cat.notna(), "category", "none")
    )
    return table


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v
