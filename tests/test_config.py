from pathlib import Path

from shopsense.config import Settings


def test_environment_overrides_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPSENSE_STORE_PATH", str(tmp_path / "s.duckdb"))
    monkeypatch.setenv("SHOPSENSE_THREADS", "3")
    s = Settings()
    assert s.store_path == tmp_path / "s.duckdb" and s.threads == 3
    assert Settings(store_path=Path("x.duckdb")).store_path == Path("x.duckdb")


def test_defaults_point_at_an_embedded_store(monkeypatch):
    monkeypatch.delenv("SHOPSENSE_STORE_PATH", raising=False)
    s = Settings()
    assert s.store_path == Path("shopsense.duckdb") and s.models_dir == Path("models")
    assert (s.data_root / "movielens-100k").is_dir()
