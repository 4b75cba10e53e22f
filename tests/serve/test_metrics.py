"""Metrics keep one serving version per model name."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import generate_latest

from shopsense.serve.metrics import Metrics


def test_a_swap_replaces_the_version_series():
    m = Metrics()
    m.model_swapped("ease", SimpleNamespace(version=SimpleNamespace(version="v0001"), live_users=3))
    m.model_swapped("ease", SimpleNamespace(version=SimpleNamespace(version="v0002"), live_users=0))
    m.model_swapped("als", SimpleNamespace(version=SimpleNamespace(version="v0001"), live_users=0))
    text = generate_latest(m.registry).decode()
    assert 'shopsense_model_info{name="ease",version="v0002"} 1.0' in text
    assert 'version="v0001"} 1.0' in text.replace('name="als",', "")
    assert 'name="ease",version="v0001"' not in text
