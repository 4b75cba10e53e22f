"""Evaluation: splits, metrics and reports; pure computation, no I/O."""
