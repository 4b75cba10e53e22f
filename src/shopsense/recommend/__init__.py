"""Recommendation: one contract, many models."""
