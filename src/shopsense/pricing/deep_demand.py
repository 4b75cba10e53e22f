"""A deep, price-conditioned demand model: expected units of a product in a period at a price.

One network over all products of a `PricePanel`:

    log λ(i, t, p) = log s_i + b(ctx) + e(ctx) · (log p − log p_ref_i)

- `ctx` = a learned embedding of the product, a learned embedding of its category, the
  period of the year (sin/cos of its first day's position in the year) and the shop's market
  index (centred log total units of all products of the period, as in `elasticity.py`, per
  product listed in the period: see `MarketIndex.of`);
- `s_i` is the product's mean units over the training periods (a fixed offset: the network
  learns relative demand, so one net serves products selling 5 and 5,000 units a week);
- `p_ref_i` is the product's median observed price, so `b` is the base log demand at the
  usual price and `e` the elasticity in that context: a 1% higher price changes demand by e%.

The elasticity head is constrained negative by default (`e = −softplus(·)`). Economics says
demand falls with price, and the observed prices are confounded: wholesale buyers get lower
unit prices exactly when they order a lot, prices are raised when stock is short, and sales
are timed with demand peaks, so an unconstrained slope often comes out positive. A positive
elasticity is also unusable downstream: a price policy would raise that price without bound.
The constraint lets the data say "insensitive" (e near 0) but never "demand rises with
price"; `negative_elasticity=False` lifts it for diagnosis.

Loss: Poisson negative log-likelihood on units, including the periods without a sale (their
price is the carried-forward one, `price_imputed`), each row weighted by 1 / s_i. That is the
Poisson likelihood of relative units y / s_i: a quasi-Poisson whose dispersion grows with the
product's volume, so the few best sellers do not drown the rest. Training uses the shared
`Trainer` on mini-batches of rows, with early stopping on the LAST periods of the training
data (time-ordered, never a random split); by default the net is then retrained on all
periods for the best number of epochs, since the latest periods matter most for what
follows.

The market index of a period inside the training data is the realised one; a later period
gets the mean of the training periods with the same period of the year (week or month), or
0 (an average period) where there is none — never the realised total of the future.

>>> model = DeepDemandModel(epochs=200).fit(panel.until("2011-09-01"))
>>> model.predict(panel)                     # expected units for every row of panel.frame
>>> model.predict(panel, prices=1.1 * panel.frame["price"].to_numpy())
>>> model.elasticities(panel)                # per product: elasticity, spread, base demand
>>> holdout_comparison(panel, "2011-09-01")  # deep vs log-log vs per-item mean
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file as load_torch
from safetensors.torch import save_file as save_torch
from torch import nn
from torch.nn import functional as F

from shopsense.data.panel import PricePanel
from shopsense.estimator import Estimator, NotFittedError, register
from shopsense.persist import atomic_write, read_model_json, write_json
from shopsense.pricing.elasticity import ElasticityModel
from shopsense.train.trainer import Trainer, TrainerConfig, select_device, torch_threads

KIND = "price_demand_net"
CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
LOSSES = ("poisson", "negbin")
N_CALENDAR = 4  # sin/cos of the first and second harmonic of the period of the year
MIN_SCALE = 0.1  # offset floor for a product that never sold in the training periods
SOFTPLUS_ONE = float(np.log(np.expm1(1.0)))  # softplus(SOFTPLUS_ONE) == 1: start at e = -1


@dataclass
class DeepDemandConfig(TrainerConfig):
    """Hyper-parameters of the network and of its training (the trainer's fields too)."""

    item_dim: int = 8
    """Size of the product embedding."""
    category_dim: int = 4
    """Size of the category embedding."""
    hidden_size: int = 32
    """Hidden units of each head (base demand, elasticity)."""
    negative_elasticity: bool = True
    """Constrain the elasticity head to e < 0 (see the module docstring)."""
    loss: str = "poisson"
    """"poisson" (weighted by 1 / s_i) or "negbin" (negative binomial with one learned
    dispersion: variance μ + αμ², robust to the occasional bulk order)."""
    dropout: float = 0.0
    """Dropout on the context vector while training."""
    validation_fraction: float = 0.15
    """Share of the training periods (the last ones) used for early stopping."""
    refit: bool = True
    """After early stopping, retrain on all periods for the best number of epochs."""
    epochs: int = 300
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    patience: int = 25
    clip_norm: float = 5.0
    threads: int = 1


class _Net(nn.Module):
    """Embeddings + calendar + market index -> (base log demand, elasticity)."""

    def __init__(self, n_items: int, n_categories: int, cfg: DeepDemandConfig) -> None:
        super().__init__()
        self.negative = cfg.negative_elasticity
        self.item = nn.Embedding(n_items, cfg.item_dim)
        self.category = nn.Embedding(n_categories, cfg.category_dim)
        nn.init.normal_(self.item.weight, std=0.1)
        nn.init.normal_(self.category.weight, std=0.1)
        self.drop = nn.Dropout(cfg.dropout)
        self.log_dispersion = nn.Parameter(torch.zeros(()))
        width = cfg.item_dim + cfg.category_dim + N_CALENDAR + 1
        self.base = nn.Sequential(
            nn.Linear(width, cfg.hidden_size), nn.SiLU(), nn.Linear(cfg.hidden_size, 1)
        )
        self.slope = nn.Sequential(
            nn.Linear(width, cfg.hidden_size), nn.SiLU(), nn.Linear(cfg.hidden_size, 1)
        )
        for head in (self.base, self.slope):  # start from "usual demand, elasticity -1"
            nn.init.zeros_(head[2].weight)
        nn.init.zeros_(self.base[2].bias)
        nn.init.constant_(self.slope[2].bias, SOFTPLUS_ONE if self.negative else -1.0)

    def heads(
        self, item: torch.Tensor, category: torch.Tensor, calendar: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx = torch.cat([self.item(item), self.category(category), calendar, z[:, None]], dim=1)
        ctx = self.drop(ctx)
        raw = self.slope(ctx)[:, 0]
        e = -F.softplus(raw) if self.negative else raw
        return self.base(ctx)[:, 0], e

    def forward(
        self,
        item: torch.Tensor,
        category: torch.Tensor,
        calendar: torch.Tensor,
        z: torch.Tensor,
        x: torch.Tensor,
    ) -> torch.Tensor:
        """Log relative demand log(λ / s_i) at log price ratio `x`."""
        b, e = self.heads(item, category, calendar, z)
        return b + e * x


# ================================================================================ market
@dataclass(frozen=True)
class MarketIndex:
    """The shop's market index per period, learned from a training panel.

    Inside the training periods: the realised index (see `of`). Later (or earlier)
    periods: the mean over training periods with the same period of the year, else 0.
    """

    freq: str
    by_period: dict[str, float]
    by_season: dict[str, float]

    @classmethod
    def of(cls, panel: PricePanel) -> MarketIndex:
        """Centred log of the shop's units per listed product in each period: the total of
        `elasticity._market_index` divided by the products in the panel that period, so a
        panel whose products enter over time does not read its growing catalogue as a
        growing market (identical to the total where every product spans every period)."""
        g = panel.frame.groupby("period")["units"]
        logged = np.log(g.sum().clip(lower=1.0)) - np.log(g.size())
        z = logged - logged.mean()
        periods = pd.DatetimeIndex(z.index)
        season = z.groupby(_season_key(periods, panel.freq)).mean()
        return cls(
            panel.freq,
            {str(p.date()): float(v) for p, v in zip(periods, z.to_numpy(), strict=True)},
            {str(k): float(v) for k, v in season.items()},
        )

    def at(self, periods: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Market index of every entry of `periods` (float64)."""
        periods = pd.DatetimeIndex(periods)
        keys = pd.Series(periods.strftime("%Y-%m-%d"))
        known = keys.map(self.by_period)
        season = pd.Series(_season_key(periods, self.freq).astype(str)).map(self.by_season)
        return known.fillna(season).fillna(0.0).to_numpy(float)


def _season_key(periods: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Week of the year (1..52; week 53 joins 52) or month: "the same period last year"."""
    if freq == "W":
        return np.minimum(periods.isocalendar().week.to_numpy(int), 52)
    return periods.month.to_numpy(int)


def _calendar(periods: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """(n, 4) float32: sin/cos of one and two turns per year at the period's first day."""
    periods = pd.DatetimeIndex(periods)
    angle = 2 * np.pi * (periods.day_of_year.to_numpy(float) - 1) / 365.25
    return np.column_stack(
        [np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)]
    ).astype(np.float32)


# ================================================================================= model
@register(KIND)
class DeepDemandModel(Estimator):
    """Price-conditioned demand network (see the module docstring); scikit-like: `fit`
    returns self, learned attributes end in `_`."""

    name = KIND
    fitted_attribute = "network_"

    def __init__(self, **params: Any) -> None:
        self.config = DeepDemandConfig(**params)

    # ---------------------------------------------------------------------------- fit
    def fit(self, panel: PricePanel) -> Self:
        """Learn from every row of `panel` (sales and zero-sale periods alike)."""
        cfg = self.config
        if not 0.0 < cfg.validation_fraction < 1.0:
            raise ValueError(
                f"validation_fraction must be in (0, 1), not {cfg.validation_fraction}"
            )
        if cfg.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, not {cfg.loss!r}")
        frame = panel.frame
        if frame.empty:
            raise ValueError(f"{panel.source}: the price panel is empty; nothing to learn from")
        self.freq_ = panel.freq
        self.items_ = [str(i) for i in panel.items]
        cats = panel.categories()
        self.categories_ = sorted(set(cats.astype(str)))
        cat_index = {c: k for k, c in enumerate(self.categories_)}
        self.item_category_ = np.asarray(
            [cat_index[str(cats[i])] for i in panel.items], dtype=np.int64
        )
        item_codes = pd.Index(panel.items).get_indexer(frame["item_id"])
        price = frame["price"].to_numpy(float)
        units = frame["units"].to_numpy(np.float32)
        self.last_period_ = pd.Timestamp(frame["period"].max())
        periods = np.sort(pd.unique(frame["period"]))
        n_val = round(cfg.validation_fraction * len(periods))
        if n_val < 1 or n_val >= len(periods):
            raise ValueError(
                f"{panel.source}: {len(periods)} periods are too few for a time-ordered "
                f"validation split (validation_fraction={cfg.validation_fraction})"
            )
        is_val = frame["period"].to_numpy() >= periods[-n_val]
        device = select_device(cfg.device)
        with torch_threads(cfg.threads):
            # offsets and market index come from the fitting periods only, so the validation
            # periods are scored as a forecast is: their realised market total is not known
            fitting = PricePanel(frame[~is_val], panel.freq, panel.source)
            self.market_ = MarketIndex.of(fitting)
            self._set_references(frame[~is_val], item_codes[~is_val])
            rows = self._inputs(frame, item_codes, price)
            self.network_ = self._new_network(device)
            task = _RowTask(self.network_, rows, units, ~is_val, is_val, cfg, device)
            result = Trainer(cfg, desc="price demand net").fit(task)
            self.train_result_ = result
            self.best_epoch_ = max(result.best_epoch, 1)
            self.market_ = MarketIndex.of(panel)
            if cfg.refit:
                self._set_references(frame, item_codes)
                rows = self._inputs(frame, item_codes, price)
                self.network_ = self._new_network(device)
                every = np.ones(len(units), dtype=bool)
                full = _RowTask(self.network_, rows, units, every, None, cfg, device)
                again = DeepDemandConfig(**{**asdict(cfg), "epochs": self.best_epoch_})
                Trainer(again, desc="price demand net (all periods)").fit(full)
        self.network_.cpu().eval()
        return self

    def _set_references(self, frame: pd.DataFrame, item_codes: np.ndarray) -> None:
        """Per product: reference price (median observed price) and offset (mean units).
        A product without rows here gets the median over all products."""
        n = len(self.items_)
        price = frame["price"].to_numpy(float)
        observed = ~frame["price_imputed"].to_numpy(bool)
        ref = pd.Series(price[observed]).groupby(item_codes[observed]).median()
        anyprice = pd.Series(price).groupby(item_codes).median().reindex(range(n))
        ref = ref.reindex(range(n)).fillna(anyprice)
        self.reference_price_ = ref.fillna(ref.median()).to_numpy(float)
        mean_units = pd.Series(frame["units"].to_numpy(float)).groupby(item_codes).mean()
        mean_units = mean_units.reindex(range(n))
        self.scale_ = np.maximum(mean_units.fillna(mean_units.median()).to_numpy(), MIN_SCALE)

    def _new_network(self, device: torch.device) -> _Net:
        torch.manual_seed(self.config.random_state)
        net = _Net(len(self.items_), len(self.categories_), self.config)
        return net.to(device)

    def _inputs(
        self, frame: pd.DataFrame, item_codes: np.ndarray, price: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Network inputs of every row (item codes must be known)."""
        return {
            "item": item_codes.astype(np.int64),
            "category": self.item_category_[item_codes],
            "calendar": _calendar(frame["period"]),
            "z": self.market_.at(frame["period"]).astype(np.float32),
            "x": (np.log(price) - np.log(self.reference_price_[item_codes])).astype(np.float32),
            "offset": np.log(self.scale_[item_codes]).astype(np.float32),
        }

    # ------------------------------------------------------------------------ predict
    def predict(self, panel: PricePanel, prices: np.ndarray | None = None) -> np.ndarray:
        """Expected units for every row of `panel.frame`, at `prices` (one per row) instead
        of the frame's own prices when given."""
        self._check_fitted()
        frame = panel.frame
        if frame.empty:
            return np.zeros(0)
        codes = self._codes(frame["item_id"])
        price = frame["price"].to_numpy(float) if prices is None else np.asarray(prices, float)
        if price.shape != (len(frame),):
            raise ValueError(f"prices must hold one price per panel row ({len(frame)}), not "
                             f"shape {price.shape}")  # fmt: skip
        if not (np.isfinite(price) & (price > 0)).all():
            raise ValueError("prices must be finite and > 0")
        rows = self._inputs(frame, codes, price)
        b, e = self._heads(rows)
        return np.exp(rows["offset"].astype(float) + b + e * rows["x"].astype(float))

    def elasticities(self, panel: PricePanel, last: int = 4) -> pd.DataFrame:
        """Per product of `panel`: the model's elasticity averaged over its `last` periods,
        its spread over all the product's periods in `panel`, and the base demand (units at
        the reference price) over the same `last` periods.

        Columns: item_id, category, elasticity, elasticity_sd, elasticity_min,
        elasticity_max, base_units, reference_price, periods.
        """
        self._check_fitted()
        frame = panel.frame
        if frame.empty:
            raise ValueError(f"{panel.source}: the price panel is empty")
        codes = self._codes(frame["item_id"])
        rows = self._inputs(frame, codes, frame["price"].to_numpy(float))
        b, e = self._heads(rows)
        out = pd.DataFrame(
            {
                "item_id": frame["item_id"].astype(str).to_numpy(),
                "period": frame["period"].to_numpy(),
                "e": e,
                "base": np.exp(rows["offset"].astype(float) + b),
            }
        ).sort_values(["item_id", "period"], kind="stable")
        g = out.groupby("item_id", sort=False)
        tail = out.groupby("item_id", sort=False).tail(last).groupby("item_id", sort=False)
        table = pd.DataFrame(
            {
                "elasticity": tail["e"].mean(),
                "elasticity_sd": g["e"].std(ddof=0),
                "elasticity_min": g["e"].min(),
                "elasticity_max": g["e"].max(),
                "base_units": tail["base"].mean(),
                "periods": g.size(),
            }
        )
        index = {item: k for k, item in enumerate(self.items_)}
        known = [index[i] for i in table.index]
        table.insert(0, "category", [self.categories_[c] for c in self.item_category_[known]])
        table["reference_price"] = self.reference_price_[known]
        return table.rename_axis("item_id").reset_index()

    def _heads(self, rows: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        net = self.network_
        with torch.no_grad(), torch_threads(self.config.threads):
            b, e = net.heads(
                torch.from_numpy(rows["item"]),
                torch.from_numpy(rows["category"]),
                torch.from_numpy(rows["calendar"]),
                torch.from_numpy(rows["z"]),
            )
        return b.numpy().astype(float), e.numpy().astype(float)

    def _codes(self, items: pd.Series) -> np.ndarray:
        codes = pd.Index(self.items_).get_indexer(items.astype(str))
        if (codes < 0).any():
            unknown = list(pd.unique(items.astype(str)[codes < 0]))
            listed = ", ".join(repr(i) for i in unknown[:5])
            raise ValueError(
                f"{len(unknown)} item(s) were not in the panel this model was fitted on: "
                f"{listed}{' ...' if len(unknown) > 5 else ''}"
            )
        return codes

    # ------------------------------------------------------------------------ persist
    def save(self, path: str | Path) -> Path:
        """model.json (config, products, reference prices, market index) +
        weights.safetensors, each written atomically."""
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.network_.state_dict().items()}
        atomic_write(folder / WEIGHTS_FILE, lambda tmp: save_torch(state, tmp))
        meta = {
            "model": KIND,
            "config": self.get_params(),
            "freq": self.freq_,
            "items": self.items_,
            "categories": self.categories_,
            "item_category": self.item_category_.tolist(),
            "reference_price": self.reference_price_.tolist(),
            "scale": self.scale_.tolist(),
            "market": {"by_period": self.market_.by_period, "by_season": self.market_.by_season},
            "last_period": str(self.last_period_.date()),
            "best_epoch": self.best_epoch_,
        }
        write_json(folder / CONFIG_FILE, meta, strict=True)
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`: the same predictions as the saved model."""
        folder = Path(path)
        meta = read_model_json(folder, KIND, CONFIG_FILE)
        model = cls(**meta["config"])
        model.freq_ = meta["freq"]
        model.items_ = list(meta["items"])
        model.categories_ = list(meta["categories"])
        model.item_category_ = np.asarray(meta["item_category"], dtype=np.int64)
        model.reference_price_ = np.asarray(meta["reference_price"], dtype=float)
        model.scale_ = np.asarray(meta["scale"], dtype=float)
        market = meta["market"]
        model.market_ = MarketIndex(model.freq_, market["by_period"], market["by_season"])
        model.last_period_ = pd.Timestamp(meta["last_period"])
        model.best_epoch_ = int(meta["best_epoch"])
        model.train_result_ = None
        model.network_ = _Net(len(model.items_), len(model.categories_), model.config)
        model.network_.load_state_dict(load_torch(folder / WEIGHTS_FILE))
        model.network_.eval()
        return model


class _RowTask:
    """Panel rows as a training task: shuffled mini-batches of the training rows; the
    validation score is minus the weighted Poisson deviance of the validation rows."""

    def __init__(
        self,
        module: _Net,
        rows: dict[str, np.ndarray],
        units: np.ndarray,
        train: np.ndarray,
        val: np.ndarray | None,
        cfg: DeepDemandConfig,
        device: torch.device,
    ) -> None:
        self.module, self.cfg = module, cfg
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in rows.items()}
        tensors["y"] = torch.from_numpy(units).to(device)
        self.train = {k: v[torch.from_numpy(np.flatnonzero(train))] for k, v in tensors.items()}
        self.n = int(train.sum())
        if self.n == 0:
            raise ValueError("no training rows before the validation periods")
        self.val = (
            None
            if val is None or not val.any()
            else {k: v[torch.from_numpy(np.flatnonzero(val))] for k, v in tensors.items()}
        )

    def batches(self, rng: np.random.Generator) -> Any:
        order = torch.from_numpy(rng.permutation(self.n))
        for start in range(0, self.n, self.cfg.batch_size):
            pick = order[start : start + self.cfg.batch_size]
            yield {k: v[pick] for k, v in self.train.items()}

    def _relative(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(log relative rate, relative units y / s_i)."""
        eta = self.module(batch["item"], batch["category"], batch["calendar"], batch["z"],
                          batch["x"])  # fmt: skip
        return eta, batch["y"] * torch.exp(-batch["offset"])

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        eta, y = self._relative(batch)
        if self.cfg.loss == "negbin":
            return _negbin_nll(batch["y"], eta + batch["offset"], self.module.log_dispersion)
        return (torch.exp(eta) - y * eta).mean()

    def validate(self) -> float | None:
        if self.val is None:
            return None
        eta, y = self._relative(self.val)
        mu = torch.exp(eta)
        return -float(_deviance_t(y, mu).mean())


def _negbin_nll(y: torch.Tensor, log_mu: torch.Tensor, log_alpha: torch.Tensor) -> torch.Tensor:
    """Mean negative-binomial NLL (NB2: variance μ + αμ²), constants in y dropped."""
    r = torch.exp(-log_alpha)
    log_r_mu = torch.logaddexp(-log_alpha, log_mu)  # log(r + μ)
    ll = (
        torch.lgamma(y + r)
        - torch.lgamma(r)
        + r * (-log_alpha - log_r_mu)
        + y * (log_mu - log_r_mu)
    )
    return -ll.mean()


def _deviance_t(y: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    term = torch.where(y > 0, y * torch.log(y.clamp(min=1e-12) / mu), torch.zeros_like(y))
    return 2.0 * (term - (y - mu))


# ============================================================================ comparison
def poisson_deviance(y: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Unit Poisson deviance of every row, 2 (y log(y / μ) − (y − μ)); 0 log 0 = 0."""
    y = np.asarray(y, float)
    mu = np.maximum(np.asarray(mu, float), 1e-9)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return 2.0 * (term - (y - mu))


def loglog_predict(
    model: ElasticityModel, train: PricePanel, panel: PricePanel, prices: np.ndarray | None = None
) -> np.ndarray:
    """Expected units for every row of `panel` from `model`'s per-product log-log fit on
    `train`: exp(a_i + e_i log p + c_i z) times Duan's smearing factor mean(exp(residual)).

    `e_i` is the elasticity `model` hands downstream (own estimate shrunk to the category's);
    given it, `c_i` and the intercept `a_i` are the least-squares fit of the product's
    observed periods in `train` (the regression `elasticity.py` runs). A product without an
    own estimate (too few periods or prices) takes the median `c` of those with one.
    Products without an observed period, or without any elasticity, get their mean units in
    `train`. The market index of a later period follows `MarketIndex` (as the deep model).
    """
    if model.table_ is None:
        raise NotFittedError("the ElasticityModel is not fitted: call fit(panel) first")
    market = MarketIndex.of(train)
    obs = train.observed()
    item = obs["item_id"].astype(str).to_numpy()
    e_map = model.table_["elasticity"].rename(index=str)
    e = pd.Series(item).map(e_map).to_numpy(float)
    y, x = np.log(obs["units"].to_numpy(float)), np.log(obs["price"].to_numpy(float))
    z = market.at(obs["period"]) if model.config.market_control else np.zeros(len(obs))
    d = pd.DataFrame({"item": item, "r": y - e * x, "z": z})
    g = d.groupby("item", sort=False)
    rc = d[["r", "z"]] - g[["r", "z"]].transform("mean")
    szz = (rc["z"] ** 2).groupby(d["item"]).sum()
    szr = (rc["z"] * rc["r"]).groupby(d["item"]).sum()
    c = szr / szz.where(szz > 1e-12)
    # a product too short for its own estimate would fit c to a handful of points and
    # extrapolate wildly: it takes the median market coefficient of the estimated products
    own = model.table_["status"].rename(index=str).reindex(c.index).eq("ok")
    shared = c[own].median() if own.any() else 0.0
    c = c.where(own).fillna(shared if np.isfinite(shared) else 0.0)
    a = g["r"].mean() - c * g["z"].mean()
    resid = d["r"] - d["item"].map(a) - d["item"].map(c) * d["z"]
    smear = np.exp(resid).groupby(d["item"]).mean()

    frame = panel.frame
    target = frame["item_id"].astype(str)
    p = frame["price"].to_numpy(float) if prices is None else np.asarray(prices, float)
    zt = market.at(frame["period"]) if model.config.market_control else np.zeros(len(frame))
    eta = (
        target.map(a).to_numpy(float)
        + target.map(e_map).to_numpy(float) * np.log(p)
        + target.map(c).to_numpy(float) * zt
    )
    out = np.exp(eta) * target.map(smear).to_numpy(float)
    fallback = target.map(train.frame.groupby(train.frame["item_id"].astype(str))["units"].mean())
    return np.where(np.isfinite(out), out, fallback.to_numpy(float))


def holdout_comparison(
    panel: PricePanel,
    cutoff: str | pd.Timestamp,
    *,
    params: dict[str, Any] | None = None,
    elasticity_params: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Fit on the periods before `cutoff`, predict the later periods at their observed
    prices, and score against the per-product mean units of the training periods and the
    per-product log-log regression (`ElasticityModel`).

    Only products of the training part are scored (a product first sold after the cut-off
    has no history to predict from). Returns one row per model ("deep", "loglog",
    "item_mean"): poisson_deviance (mean unit deviance), scaled_deviance (each row's
    deviance divided by the product's training mean, then averaged: every product counts
    alike), mae, rows and items; `attrs["model"]` holds the fitted deep model.
    """
    cutoff = pd.Timestamp(cutoff)
    train = panel.until(cutoff)
    if train.frame.empty:
        raise ValueError(f"{panel.source}: no period before {cutoff:%Y-%m-%d} to fit on")
    known = set(train.frame["item_id"].astype(str))
    later = panel.frame[
        (panel.frame["period"] >= cutoff) & panel.frame["item_id"].astype(str).isin(known)
    ]
    if later.empty:
        raise ValueError(f"{panel.source}: no period on or after {cutoff:%Y-%m-%d} to score")
    test = PricePanel(later.reset_index(drop=True), panel.freq, panel.source)
    deep = DeepDemandModel(**(params or {})).fit(train)
    elastic = ElasticityModel(**{"n_boot": 200, **(elasticity_params or {})}).fit(train)
    mean_units = train.frame.groupby(train.frame["item_id"].astype(str))["units"].mean()
    item = test.frame["item_id"].astype(str)
    forecasts = {
        "deep": deep.predict(test),
        "loglog": loglog_predict(elastic, train, test),
        "item_mean": item.map(mean_units).to_numpy(float),
    }
    y = test.frame["units"].to_numpy(float)
    scale = np.maximum(item.map(mean_units).to_numpy(float), MIN_SCALE)
    rows = []
    for name, mu in forecasts.items():
        dev = poisson_deviance(y, mu)
        rows.append(
            {
                "model": name,
                "poisson_deviance": float(dev.mean()),
                "scaled_deviance": float((dev / scale).mean()),
                "mae": float(np.abs(y - mu).mean()),
                "rows": len(y),
                "items": int(item.nunique()),
            }
        )
    out = pd.DataFrame(rows).set_index("model")
    out.attrs["model"] = deep
    return out


__all__ = [
    "KIND",
    "DeepDemandConfig",
    "DeepDemandModel",
    "MarketIndex",
    "holdout_comparison",
    "loglog_predict",
    "poisson_deviance",
]
