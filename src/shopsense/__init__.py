"""shopsense: deep learning on an online shop's own data."""

__version__ = "0.1.0"
