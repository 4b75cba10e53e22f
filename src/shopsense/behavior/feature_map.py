"""What a customer model needs to read new data the way it read its training data.

Customer features include the share of spend per product group, and product groups come
from the catalogue (its categories, or groups found in the titles). Recomputed after the
catalogue changes, they no longer match the columns a model was fitted on. So a model
fitted on a `CustomerHistory` keeps its `FeatureMap`: the item -> product group mapping it
saw and the feature columns it reads, saved with the model as JSON. Scoring reads any later
history through that mapping:

- an item the mapping does not know (added to the catalogue after the fit) counts in the
  group "other"; a model fitted without a `group_other` column reads no column for that
  spend (the other groups' shares still divide by the customer's whole spend);
- a group column the model knows but no customer of the new data bought from is 0;
- a feature the model needs that the data cannot give raises `CannotScore`, which says
  why and what to do.

A model fitted on a features frame (or saved before maps were kept) has no mapping: it
scores a history through the history's own groups, and refuses with `CannotScore` when
those hold groups it was never fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from shopsense.data.customers import CustomerHistory

GROUP_PREFIX = "group_"
OTHER_GROUP = "other"


class CannotScore(ValueError):
    """The model cannot read this data the way it was fitted: retrain it on the current data."""


@dataclass(frozen=True, eq=False)
class FeatureMap:
    """The feature columns a model reads, in order, and the item -> product group mapping
    its group columns come from (empty: a history without groups; None: unknown, the model
    was fitted on a features frame)."""

    columns: tuple[str, ...]
    groups: pd.Series | None = None

    @classmethod
    def of(cls, data: CustomerHistory | pd.DataFrame, columns: Sequence[str]) -> FeatureMap:
        """The map of a model fitted on `data` with `columns`."""
        groups = data.groups if isinstance(data, CustomerHistory) else None
        return cls(tuple(str(c) for c in columns), groups)

    def history(self, history: CustomerHistory) -> CustomerHistory:
        """`history` read through the saved product groups (as it is without a mapping)."""
        return history if self.groups is None else history.with_groups(self.groups)

    def align(self, features: pd.DataFrame, model: str = "the model") -> pd.DataFrame:
        """`features` with exactly `columns`, in order; group columns nobody bought are 0.

        Raises CannotScore naming the columns when a needed feature is missing or the
        frame holds product groups the model was not fitted on.
        """
        missing = [c for c in self.columns if c not in features.columns]
        needed = [c for c in missing if not c.startswith(GROUP_PREFIX)]
        if needed:
            raise CannotScore(
                f"the customer features lack column(s) {needed} that {model} was fitted on; "
                "retrain it on the current data"
            )
        other = f"{GROUP_PREFIX}{OTHER_GROUP}"
        foreign = [
            str(c)
            for c in features.columns
            if str(c).startswith(GROUP_PREFIX) and c not in self.columns and c != other
        ]
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise CannotScore(
                f"{model} was fitted on other product groups than the current catalogue's "
                f"({shown}); retrain it on the current data"
            )
        return features.reindex(columns=list(self.columns), fill_value=0.0)

    def to_json(self) -> dict[str, Any]:
        """Columns, and the groups as {group: [item ids]} (compact for large catalogues)."""
        out: dict[str, Any] = {"columns": list(self.columns)}
        if self.groups is not None:
            by_group = self.groups.groupby(self.groups, sort=True).groups
            out["groups"] = {str(g): sorted(map(str, ids)) for g, ids in by_group.items()}
        return out

    @classmethod
    def from_json(cls, saved: dict[str, Any] | None, columns: Sequence[str]) -> FeatureMap:
        """A map written by `to_json`; `columns` stands in for a model saved without one."""
        if not saved:
            return cls(tuple(columns))
        groups = None
        if "groups" in saved:
            pairs = [(item, g) for g, items in saved["groups"].items() for item in items]
            groups = pd.Series(
                [g for _, g in pairs], index=[i for i, _ in pairs], dtype=object, name="group"
            )
        return cls(tuple(saved["columns"]), groups)


__all__ = ["GROUP_PREFIX", "OTHER_GROUP", "CannotScore", "FeatureMap"]
