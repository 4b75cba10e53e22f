"""Segment profiles in a marketer's terms and the names generated from them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from shopsense.behavior.segments.config import RFM_COLUMNS
from shopsense.behavior.segments.inputs import _require
from shopsense.behavior.segments.rfm import _mid_rank


def _percentile(value: float, reference: Sequence[float]) -> float:
    return float(_mid_rank(value, reference))


def profile_name(profile: pd.Series, features: pd.DataFrame) -> str:
    """A short name from where a segment's medians sit among all customers, e.g.
    "lapsed high-value", "active frequent big-basket", "new one-off low-spend"."""
    recent = 1.0 - _percentile(profile["recency_days_median"], features["recency_days"])
    freq = _percentile(profile["frequency_median"], features["frequency"])
    money = _percentile(profile["monetary_median"], features["monetary"])
    words = []
    tenure = profile.get("tenure_days_median")
    if (
        tenure is not None
        and "tenure_days" in features
        and (
            _percentile(tenure, features["tenure_days"]) <= 0.25
            and profile["frequency_median"] <= 2
        )
    ):
        words.append("new")
    elif recent <= 1 / 3:
        words.append("lapsed")
    elif recent >= 2 / 3:
        words.append("active")
    if freq >= 2 / 3:
        words.append("frequent")
    elif profile["frequency_median"] <= 1:
        words.append("one-off")
    if money >= 2 / 3:
        words.append("high-value")
    elif money <= 1 / 3:
        words.append("low-spend")
    else:
        basket = profile.get("basket_value_median")
        b = _percentile(basket, features["basket_value"]) if "basket_value" in features else 0.5
        words.append("big-basket" if b >= 2 / 3 else "small-basket" if b <= 1 / 3 else "mid-value")
    return " ".join(words if len(words) > 1 else ["steady", *words])


def segment_profiles(
    features: pd.DataFrame,
    labels: np.ndarray,
    names: Sequence[str] | None = None,
    top_groups: int = 3,
) -> pd.DataFrame:
    """One row per non-empty segment, ordered by label: customers, share of customers,
    revenue share, medians of recency / frequency / monetary (and basket value, tenure),
    the product groups with the largest share of the segment's spend (`top_groups`) and
    those it buys most above the average mix (`distinctive_groups`, lift ×).

    `names[label]` names the segments; None generates names from the profiles
    (`profile_name`), made unique by the most distinctive group and then a number.
    """
    labels = np.asarray(labels)
    if len(labels) != len(features):
        raise ValueError(f"{len(labels)} labels for {len(features)} customers")
    _require(features, RFM_COLUMNS, "segment_profiles")
    money = features["monetary"].to_numpy(dtype=float)
    groups = [c for c in features.columns if str(c).startswith("group_")]
    medians = [c for c in (*RFM_COLUMNS, "basket_value", "tenure_days") if c in features]
    overall = _group_mix(features, groups)
    rows = []
    for label in np.unique(labels):
        mine = labels == label
        part = features[mine]
        row: dict[str, Any] = {"segment": int(label), "customers": int(mine.sum())}
        row["customer_share"] = float(mine.mean())
        row["revenue_share"] = float(money[mine].sum() / money.sum()) if money.sum() else 0.0
        row.update({f"{c}_median": float(part[c].median()) for c in medians})
        mix = _group_mix(part, groups)
        row["top_groups"] = _top_groups(mix, top_groups)
        row["distinctive_groups"] = _distinctive_groups(mix, overall, top_groups)
        rows.append(row)
    out = pd.DataFrame(rows)
    if names is not None:
        out.insert(1, "name", [names[label] for label in out["segment"]])
    else:
        out.insert(1, "name", _unique([profile_name(r, features) for _, r in out.iterrows()], out))
    return out


def _group_mix(part: pd.DataFrame, groups: list[str]) -> pd.Series:
    """Share of the customers' spend per product group (spend-weighted group shares)."""
    spend = part[groups].mul(part["monetary"], axis=0).sum()
    return spend / spend.sum() if spend.sum() > 0 else spend * 0.0


def _top_groups(mix: pd.Series, n: int) -> str:
    """The largest shares of a segment's spend: "bag|lunch|jumbo 34%, ..."."""
    top = mix[mix > 0].sort_values(ascending=False, kind="stable").head(n)
    return ", ".join(f"{g.removeprefix('group_')} {s:.0%}" for g, s in top.items())


def _distinctive_groups(mix: pd.Series, overall: pd.Series, n: int) -> str:
    """Groups the segment buys most above the average mix (share ≥ 2%, lift ≥ 1.1): "bag ×1.6"."""
    lift = (mix / overall.where(overall > 0)).where(mix >= 0.02).dropna()
    top = lift[lift >= 1.1].sort_values(ascending=False, kind="stable").head(n)
    return ", ".join(f"{g.removeprefix('group_')} ×{v:.1f}" for g, v in top.items())


def _unique(names: list[str], profiles: pd.DataFrame) -> list[str]:
    """Tell apart segments with the same generated name by their most distinctive group,
    then by a number."""
    tops = [
        str(d or t).split(" ")[0]
        for d, t in zip(profiles["distinctive_groups"], profiles["top_groups"], strict=True)
    ]
    out = [
        f"{n} ({top})" if names.count(n) > 1 and top else n
        for n, top in zip(names, tops, strict=True)
    ]
    return [
        n if out[:i].count(n) == 0 else f"{n} {out[:i].count(n) + 1}" for i, n in enumerate(out)
    ]


def _names_by_label(profiles: pd.DataFrame, k: int) -> list[str]:
    names = [f"segment {i}" for i in range(k)]
    for label, name in zip(profiles["segment"], profiles["name"], strict=True):
        names[int(label)] = str(name)
    return names
