"""Pricing: the demand view and demand forecasting (first part of the pricing pillar)."""
