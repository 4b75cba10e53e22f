"""Pricing: demand forecasts and elasticities, a market simulator fitted on the data, a
learned price policy under business rules, and explained suggestions (see docs/pricing.md).

The package takes views of the store, it never reads order lines itself: the daily demand
view (`shopsense.data.demand`) and the price panel (`shopsense.data.panel`), both built
from the order-line view.
"""
