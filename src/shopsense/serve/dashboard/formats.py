"""How the dashboard writes numbers, prices, scores and times (Jinja2 filters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np


def number(value: Any) -> str:
    """Thousands separators for counts; a dash for what is missing."""
    if value is None:
        return "–"
    if isinstance(value, float) and not np.isfinite(value):
        return "–"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{float(value):,.2f}"


def decimal(value: Any, digits: int = 4) -> str:
    """Scores and metrics: fixed decimals, so columns line up."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def score(value: Any) -> str:
    """Model scores are small fractions, popularity scores (cold start) are counts: each
    shown the way it reads, fractions with aligned decimals."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    value = float(value)
    return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"


def price(value: Any) -> str:
    """Catalogue prices carry no currency in the store: two decimals, nothing more."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return f"{float(value):,.2f}"


def when(value: Any) -> str:
    """Datetimes and ISO strings as `YYYY-MM-DD HH:MM` (minutes are precise enough here)."""
    if value is None or value == "":
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    suffix = " UTC" if getattr(value, "tzinfo", None) is not None else ""
    return f"{value:%Y-%m-%d %H:%M}{suffix}"


def day(value: Any) -> str:
    """Just the date, where the time of day would only add noise."""
    text = when(value)
    return text[:10] if text[:4].isdigit() else text


#: every filter the templates use, by the name they use
FILTERS = {
    "number": number,
    "decimal": decimal,
    "price": price,
    "when": when,
    "day": day,
    "score": score,
}
