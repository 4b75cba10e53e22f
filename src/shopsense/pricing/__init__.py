"""Pricing: demand view and forecasts, price panel and elasticities, a market simulator fitted
on the data, a learned price policy under business rules, and explained suggestions (see
docs/pricing.md)."""
