"""What a customer will spend over the next 90 days.

Three ways, one API (`CustomerValueModel(kind=...)`, sharing `CutoffModel` with the
purchase models in `predict`):

- "bgnbd": the BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting Your Customers
  the Easy Way: An Alternative to the Pareto/NBD Model", Marketing Science 24(2)) for the
  expected number of purchases, times the Gamma-Gamma spend model (Fader, Hardie & Lee
  2005, "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", JMR 42(4); the
  likelihood as in Fader & Hardie's note "The Gamma-Gamma Model of Monetary Value", 2013)
  for the expected spend per purchase. Both fitted by maximum likelihood on the customers'
  recency / frequency / spend before the cut-off: no labels, no earlier cut-offs needed.
- "gru" and "gbm": the sequence network and boosted trees of `predict` with a regression
  head on log1p(next-period value), learnt from earlier cut-offs.
- "last_period": the customer's spend in the `horizon_days` before the cut-off, times one
  factor fitted on earlier cut-offs (next-period revenue over last-period revenue).

Time in BG/NBD is counted in days and a "purchase" is a purchase day (several invoices on
one day are one transaction), as is usual for this model. `BGNBD` and `GammaGamma` work in
any time unit; `simulate_bgnbd` / `simulate_gamma_gamma` draw customers from given
parameters, which is how the fits are checked against the published CDNOW estimates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from shopsense.behavior.predict import CutoffModel, aligned, temporal_split
from shopsense.data.customers import DAY, CustomerHistory
from shopsense.estimator import NotFittedError, register

BGNBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "gamma")


# --------------------------------------------------------------------------- RFM summary
def rfm_summary(history: CustomerHistory) -> pd.DataFrame:
    """Per customer with a purchase before the cut-off (index customer_id), in days:
    frequency (repeat purchase days: purchase days − 1), recency (first → last purchase
    day), T (first purchase day → cut-off) and monetary (mean net spend of the repeat
    purchase days; 0 without repeats) — the inputs of BG/NBD and Gamma-Gamma."""
    inv = history.invoices
    if inv.empty:
        raise ValueError(f"no customer has a purchase before {history.cutoff:%Y-%m-%d}")
    days = inv.assign(day=inv["time"].dt.normalize())
    per_day = days.groupby(["customer_id", "day"], sort=True)["value"].sum().reset_index()
    g = per_day.groupby("customer_id", sort=True)
    first, last, n = g["day"].min(), g["day"].max(), g.size()
    total, first_spend = g["value"].sum(), g["value"].first()
    out = pd.DataFrame(
        {
            "frequency": (n - 1).astype(float),
            "recency": (last - first) / DAY,
            "T": (history.cutoff - first) / DAY,
        }
    )
    repeats = out["frequency"] > 0
    out["monetary"] = np.where(repeats, (total - first_spend) / out["frequency"].clip(lower=1), 0.0)
    out.index.name = "customer_id"
    return out.astype(float)


def _check_rfm(frequency: Any, recency: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, tx, t = (np.asarray(v, dtype=np.float64) for v in (frequency, recency, T))
    x, tx, t = np.broadcast_arrays(x, tx, t)
    if x.size == 0:
        raise ValueError("no customers to fit: frequency, recency and T are empty")
    if not (np.isfinite(x).all() and np.isfinite(tx).all() and np.isfinite(t).all()):
        raise ValueError("frequency, recency and T must be finite numbers")
    if (x < 0).any() or (np.round(x) != x).any():
        raise ValueError("frequency must be a whole number of repeat purchases (>= 0)")
    if (tx < 0).any() or (tx > t + 1e-9).any():
        raise ValueError("need 0 <= recency <= T for every customer (recency is first → last)")
    if ((x == 0) & (tx > 0)).any():
        raise ValueError("a customer without repeat purchases must have recency 0")
    return x, tx, t


# --------------------------------------------------------------------------- BG/NBD
def bgnbd_log_likelihood(
    params: Sequence[float], x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood of BG/NBD (Fader, Hardie & Lee 2005, eq. 6)."""
    r, alpha, a, b = params
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0)) - (r + x) * np.log(alpha + tx),
            -np.inf,
        )
    return a1 + a2 + np.logaddexp(a3, a4)


class _MaximumLikelihood:
    """What BG/NBD and Gamma-Gamma share: fitted parameters with their standard errors,
    kept as a plain dict (JSON) and read back."""

    PARAMS: tuple[str, ...] = ()
    params_: dict[str, float]
    standard_errors_: dict[str, float]
    log_likelihood_: float
    n_customers_: int

    def to_dict(self) -> dict[str, Any]:
        if not hasattr(self, "params_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        return {
            "params": dict(self.params_),
            "standard_errors": dict(self.standard_errors_),
            "log_likelihood": self.log_likelihood_,
            "n_customers": self.n_customers_,
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> Self:
        model = cls()
        model.params_ = {k: float(state["params"][k]) for k in cls.PARAMS}
        model.standard_errors_ = dict(state.get("standard_errors", {}))
        model.log_likelihood_ = float(state.get("log_likelihood", np.nan))
        model.n_customers_ = int(state.get("n_customers", 0))
        return model


class BGNBD(_MaximumLikelihood):
    """Beta-geometric / negative binomial distribution model of repeat purchasing.

    While alive a customer buys at a Poisson rate λ ~ Gamma(r, α); after each repeat purchase
    they drop out with probability p ~ Beta(a, b). Fitted by maximum likelihood on the
    log-parameters (L-BFGS-B, then Nelder-Mead to polish). `standard_errors_` come from the
    inverse Hessian of the log-likelihood (delta method).
    """

    PARAMS = BGNBD_PARAMS

    def fit(self, frequency: Any, recency: Any, T: Any) -> Self:
        """frequency = repeat purchases, recency = time of the last one since the first
        purchase, T = time since the first purchase (same unit for both)."""
        x, tx, t = _check_rfm(frequency, recency, T)

        def nll(theta: np.ndarray) -> float:
            value = -bgnbd_log_likelihood(np.exp(theta), x, tx, t).mean()
            return float(value) if np.isfinite(value) else 1e300

        theta = _maximise(nll, np.zeros(4))
        self.params_ = dict(zip(BGNBD_PARAMS, np.exp(theta).tolist(), strict=True))
        self.log_likelihood_ = -nll(theta) * len(x)
        self.n_customers_ = len(x)
        self.standard_errors_ = _standard_errors(nll, theta, len(x), BGNBD_PARAMS)
        return self

    def _params(self) -> tuple[float, float, float, float]:
        if not hasattr(self, "params_"):
            raise NotFittedError("BGNBD is not fitted; call fit(frequency, recency, T) first")
        return tuple(self.params_[k] for k in BGNBD_PARAMS)  # type: ignore[return-value]

    def expected_purchases(self, t: float, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """E[purchases in (T, T + t]] of each customer given their history (Fader, Hardie &
        Lee 2005, eq. 10), with the Euler transform of 2F1 so that it stays finite for
        customers with hundreds of purchases."""
        r, alpha, a, b = self._params()
        x, tx, T = _check_rfm(frequency, recency, T)
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
        return head * tail * self.probability_alive(x, tx, T)

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(the customer has not dropped out by T) given their history."""
        r, alpha, a, b = self._params()
        x, tx, T = _check_rfm(frequency, recency, T)
        with np.errstate(divide="ignore"):
            log_odds = (
                np.log(a)
                - np.log(np.where(x > 0, b + x - 1, 1.0))
                + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
            )
        return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(log_odds, 700))), 1.0)

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        """E[repeat purchases in (0, t]] of a customer just acquired (eq. 9)."""
        r, alpha, a, b = self._params()
        t = np.asarray(t, dtype=np.float64)
        z = t / (alpha + t)
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, z))


# --------------------------------------------------------------------------- Gamma-Gamma
def gamma_gamma_log_likelihood(params: Sequence[float], x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of the mean spend m of x transactions: spends are
    Gamma(p, ν) with ν ~ Gamma(q, γ) across customers, so x·m | ν ~ Gamma(p·x, ν)."""
    p, q, gamma = params
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(gamma)
        + p * x * np.log(x)
        + (p * x - 1) * np.log(m)
        - (p * x + q) * np.log(gamma + m * x)
    )


class GammaGamma(_MaximumLikelihood):
    """Spend per transaction: Gamma(p, ν) around each customer's own mean, ν ~ Gamma(q, γ).

    Fitted on customers with at least one repeat purchase (their mean repeat spend), as in
    the paper; customers without repeats get the population mean p·γ / (q − 1).
    """

    PARAMS = GAMMA_GAMMA_PARAMS

    def fit(self, frequency: Any, monetary: Any) -> Self:
        x, m = self._inputs(frequency, monetary)
        keep = (x > 0) & (m > 0)
        if keep.sum() < 2:
            raise ValueError(
                "Gamma-Gamma needs customers with at least one repeat purchase and a positive "
                f"mean spend; found {int(keep.sum())}"
            )
        x, m = x[keep], m[keep]

        def nll(theta: np.ndarray) -> float:
            value = -gamma_gamma_log_likelihood(np.exp(theta), x, m).mean()
            return float(value) if np.isfinite(value) else 1e300

        theta = _maximise(nll, np.array([0.0, 0.0, np.log(np.mean(m))]))
        self.params_ = dict(zip(GAMMA_GAMMA_PARAMS, np.exp(theta).tolist(), strict=True))
        self.log_likelihood_ = -nll(theta) * len(x)
        self.n_customers_ = len(x)
        self.standard_errors_ = _standard_errors(nll, theta, len(x), GAMMA_GAMMA_PARAMS)
        return self

    @staticmethod
    def _inputs(frequency: Any, monetary: Any) -> tuple[np.ndarray, np.ndarray]:
        x, m = (np.asarray(v, dtype=np.float64) for v in (frequency, monetary))
        x, m = np.broadcast_arrays(x, m)
        if x.size == 0 or not (np.isfinite(x).all() and np.isfinite(m).all()):
            raise ValueError("frequency and monetary must be non-empty and finite")
        if (x < 0).any() or ((x > 0) & (m < 0)).any():
            raise ValueError("frequency must be >= 0 and monetary >= 0 where frequency > 0")
        return x, m

    def expected_spend(self, frequency: Any, monetary: Any) -> np.ndarray:
        """E[spend per transaction] of each customer: a credibility-weighted mix of the
        population mean and the customer's own mean, weight growing with frequency."""
        if not hasattr(self, "params_"):
            raise NotFittedError("GammaGamma is not fitted; call fit(frequency, monetary) first")
        p, q, gamma = (self.params_[k] for k in GAMMA_GAMMA_PARAMS)
        if q <= 1:
            raise ValueError(f"q = {q:.3g} <= 1: the fitted spend distribution has no mean")
        x, m = self._inputs(frequency, monetary)
        m = np.where(x > 0, m, 0.0)
        return (gamma + m * x) * p / (p * x + q - 1)

    @property
    def mean_spend(self) -> float:
        """Population mean spend per transaction, p·γ / (q − 1)."""
        return float(self.expected_spend(0.0, 0.0))


def _maximise(nll: Any, start: np.ndarray) -> np.ndarray:
    """Minimise a mean negative log-likelihood over log-parameters: L-BFGS-B from `start`,
    then Nelder-Mead from there (finite-difference gradients stop a little short)."""
    first = minimize(nll, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * len(start))
    polish = minimize(
        nll,
        first.x,
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000 * len(start)},
    )
    best = polish if polish.fun <= first.fun else first
    if not np.isfinite(best.fun) or best.fun >= 1e299:
        raise RuntimeError("the likelihood could not be maximised (no finite value found)")
    return np.asarray(best.x, dtype=np.float64)


def _standard_errors(
    nll: Any, theta: np.ndarray, n: int, names: Sequence[str], step: float = 1e-4
) -> dict[str, float]:
    """Standard errors of exp(theta) from the central-difference Hessian of the total
    negative log-likelihood in log-parameters (delta method); NaN if it is not invertible."""
    k = len(theta)
    hessian = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            e_i, e_j = np.eye(k)[i] * step, np.eye(k)[j] * step
            value = (
                nll(theta + e_i + e_j)
                - nll(theta + e_i - e_j)
                - nll(theta - e_i + e_j)
                + nll(theta - e_i - e_j)
            ) / (4 * step * step)
            hessian[i, j] = hessian[j, i] = value * n
    try:
        variance = np.diag(np.linalg.inv(hessian))
    except np.linalg.LinAlgError:
        variance = np.full(k, np.nan)
    se = np.exp(theta) * np.sqrt(np.where(variance > 0, variance, np.nan))
    return dict(zip(names, se.tolist(), strict=True))


# --------------------------------------------------------------------------- simulation
def simulate_bgnbd(
    n: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: float | np.ndarray,
    holdout: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Draw `n` customers from BG/NBD, each observed for T after their first purchase and
    then for `holdout` more: frequency, recency, T (the calibration summary), future
    (repeat purchases in (T, T + holdout]) and their true rate and drop-out probability."""
    rng = np.random.default_rng(seed)
    T = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    rate = np.maximum(rng.gamma(r, 1.0 / alpha, n), 1e-300)
    drop = rng.beta(a, b, n)
    now, x, tx = np.zeros(n), np.zeros(n, np.int64), np.zeros(n)
    future = np.zeros(n, np.int64)
    alive, end = np.ones(n, bool), T + holdout
    while alive.any():
        idx = np.flatnonzero(alive)
        now[idx] += rng.exponential(1.0 / rate[idx])
        over = now[idx] > end[idx]
        alive[idx[over]] = False
        idx = idx[~over]
        early = now[idx] <= T[idx]
        x[idx[early]] += 1
        tx[idx[early]] = now[idx[early]]
        future[idx[~early]] += 1
        alive[idx[rng.random(len(idx)) < drop[idx]]] = False
    return pd.DataFrame(
        {"frequency": x, "recency": tx, "T": T, "future": future, "rate": rate, "drop": drop}
    )


def simulate_gamma_gamma(
    frequency: Any, *, p: float, q: float, gamma: float, seed: int = 0
) -> pd.DataFrame:
    """Per customer, the mean of `frequency` spends drawn from Gamma-Gamma (0 where
    frequency is 0) and their true mean spend p / ν."""
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / gamma, len(x))
    total = np.where(x > 0, rng.gamma(np.maximum(p * x, 1e-12), 1.0 / nu), 0.0)
    monetary = np.where(x > 0, total / np.maximum(x, 1), 0.0)
    return pd.DataFrame({"frequency": x, "monetary": monetary, "true_mean": p / nu})


# --------------------------------------------------------------------------- the estimator
@register("customer_value")
class CustomerValueModel(CutoffModel):
    """Expected spend per customer over the `horizon_days` (90 by default) after the cut-off.

    >>> model = CustomerValueModel("bgnbd").fit(history.until("2011-09-01"))
    >>> value = model.predict(history.until("2011-09-01"))       # Series by customer_id
    """

    name = "customer_value"
    kinds = ("bgnbd", "last_period", "gbm", "gru")
    default_horizon = 90

    def target(self, labels: pd.DataFrame) -> pd.Series:
        return labels["value"].rename(f"value_{self.horizon}d")

    def _objective(self) -> str:
        """The GRU is trained with a zero-inflated lognormal loss, the trees by regression."""
        return "ziln" if self.config.kind == "gru" else "regression"

    def _encode(self, target: pd.Series) -> np.ndarray:
        """The GRU's ZILN loss reads the amount itself; the trees regress log1p of it."""
        value = target.to_numpy(np.float64)
        return value if self.config.kind == "gru" else np.log1p(value)

    def fit(
        self, history: CustomerHistory, cutoffs: Sequence[pd.Timestamp | str] | None = None
    ) -> Self:
        """Kind bgnbd fits on `history` as it is (cut-offs unused), last_period fits its
        factor on the cut-offs, gbm and gru learn from every customer at every cut-off."""
        self._check_kind()
        kind = self.config.kind
        if kind == "bgnbd":
            rfm = rfm_summary(history)
            self.bgnbd_ = BGNBD().fit(rfm["frequency"], rfm["recency"], rfm["T"])
            self.gamma_gamma_ = GammaGamma().fit(rfm["frequency"], rfm["monetary"])
            self.cutoffs_ = [history.cutoff]
            self.n_examples_ = len(rfm)
            return self
        if kind == "last_period":
            cutoffs = self._cutoffs(history, cutoffs)
            last, later = 0.0, 0.0
            for cutoff in cutoffs:
                split = temporal_split(history, cutoff, self.horizon)
                recent = self._last_period(split.past)
                truth, before = aligned(split.labels["value"], recent)
                last, later = last + before.sum(), later + truth.sum()
            if last <= 0:
                raise ValueError("no spend in any last period before the training cut-offs")
            self.scale_ = later / last
            self.cutoffs_ = cutoffs
            self.n_examples_ = 0
            return self
        return super().fit(history, cutoffs)

    def _last_period(self, past: CustomerHistory) -> pd.Series:
        """Net spend per customer in the `horizon_days` before `past.cutoff` (floored at 0)."""
        customers = pd.Index(past.customers, name="customer_id")
        window = past.between(past.cutoff - self.horizon * DAY, past.cutoff)
        spend = window.groupby("customer_id")["value"].sum()
        return spend.reindex(customers).fillna(0.0).clip(lower=0.0)

    def predict(self, history: CustomerHistory) -> pd.Series:
        """Expected spend in the next `horizon_days` per customer with a purchase before
        `history.cutoff` (in the data's currency)."""
        self._check_input(history)
        kind = self.config.kind
        if kind in ("bgnbd", "last_period") and history.invoices.empty:
            raise ValueError(
                f"no customer has a purchase before the cut-off {history.cutoff:%Y-%m-%d}: "
                "nobody to score"
            )
        if kind == "bgnbd":
            rfm = rfm_summary(history)
            purchases = self.bgnbd_.expected_purchases(
                self.horizon, rfm["frequency"], rfm["recency"], rfm["T"]
            )
            spend = self.gamma_gamma_.expected_spend(rfm["frequency"], rfm["monetary"])
            value = pd.Series(purchases * spend, index=rfm.index)
        elif kind == "last_period":
            value = self._last_period(history) * self.scale_
        elif kind == "gru":
            value = self._raw(history)
        else:
            value = np.expm1(self._raw(history)).clip(lower=0.0)
        return value.rename(f"value_{self.horizon}d")

    def _state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        kind = self.config.kind
        common = {"cutoffs": [str(c) for c in self.cutoffs_], "n_examples": self.n_examples_}
        if kind == "bgnbd":
            state = {"bgnbd": self.bgnbd_.to_dict(), "gamma_gamma": self.gamma_gamma_.to_dict()}
            return {**common, **state}, {}
        if kind == "last_period":
            return {**common, "scale": self.scale_}, {}
        return super()._state()

    def _set_state(self, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
        kind = self.config.kind
        if kind not in ("bgnbd", "last_period"):
            super()._set_state(meta, arrays)
            return
        self.cutoffs_ = [pd.Timestamp(c) for c in meta["cutoffs"]]
        self.n_examples_ = int(meta["n_examples"])
        if kind == "bgnbd":
            self.bgnbd_ = BGNBD.from_dict(meta["bgnbd"])
            self.gamma_gamma_ = GammaGamma.from_dict(meta["gamma_gamma"])
        else:
            self.scale_ = float(meta["scale"])


# --------------------------------------------------------------------------- evaluation
def value_scores(actual: Any, predicted: Any) -> dict[str, float]:
    """MAE, RMSE, the share of actual revenue made by the top decile of predicted value
    (how well the ranking finds the big spenders; 0.1 is random) and predicted over
    actual total revenue (1 is unbiased in aggregate)."""
    y, f = np.asarray(actual, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if len(y) != len(f) or len(y) == 0:
        raise ValueError(f"need as many predictions as actual values (got {len(f)}, {len(y)})")
    if y.sum() <= 0:
        raise ValueError("the actual values sum to 0: no revenue to capture")
    top = np.argsort(-f, kind="stable")[: int(np.ceil(0.1 * len(f)))]
    return {
        "mae": float(np.mean(np.abs(y - f))),
        "rmse": float(np.sqrt(np.mean((y - f) ** 2))),
        "top_decile_share": float(y[top].sum() / y.sum()),
        "total_ratio": float(f.sum() / y.sum()),
    }


__all__ = [
    "BGNBD",
    "CustomerValueModel",
    "GammaGamma",
    "bgnbd_log_likelihood",
    "gamma_gamma_log_likelihood",
    "rfm_summary",
    "simulate_bgnbd",
    "simulate_gamma_gamma",
    "value_scores",
]
