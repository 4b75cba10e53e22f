"""How the dashboard writes numbers, prices, scores and times (Jinja2 filters)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from jinja2 import pass_context
from jinja2.runtime import Context


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


def local_time(value: Any, zone: str = "UTC") -> datetime | None:
    """A stored time as the wall time of the shop's `zone`: the store keeps naive UTC, so a
    naive value is read as UTC; one with an offset keeps its instant. None for what is
    missing or is no time."""
    if value is None or value == "" or value != value:  # NaT is unequal to itself
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if hasattr(value, "to_pydatetime"):  # pandas: its range (1677..2262) must not limit us
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(ZoneInfo(zone))
    except OverflowError:  # within hours of year 1 or 9999: shown as stored
        return value


def when(value: Any, zone: str = "UTC") -> str:
    """`YYYY-MM-DD HH:MM` in the shop's `zone` (minutes are precise enough here); the page
    names the zone once, not every time."""
    shown = local_time(value, zone)
    if shown is None:
        return "–" if value is None or value == "" or value != value else str(value)
    return f"{shown:%Y-%m-%d %H:%M}"


def day(value: Any, zone: str = "UTC") -> str:
    """Just the date in the shop's `zone`, where the time of day would only add noise."""
    text = when(value, zone)
    return text[:10] if text[:4].isdigit() else text


def shop_zone(request: Any) -> str:
    """The shop's time zone (`Settings.shop_timezone`) of the app answering `request`."""
    service = getattr(getattr(getattr(request, "app", None), "state", None), "service", None)
    return getattr(getattr(service, "settings", None), "shop_timezone", None) or "UTC"


@pass_context
def _when(context: Context, value: Any) -> str:
    return when(value, shop_zone(context.get("request")))


@pass_context
def _day(context: Context, value: Any) -> str:
    return day(value, shop_zone(context.get("request")))


#: every filter the templates use, by the name they use
FILTERS = {
    "number": number,
    "decimal": decimal,
    "price": price,
    "when": _when,
    "day": _day,
    "shop_zone": shop_zone,
    "score": score,
}
