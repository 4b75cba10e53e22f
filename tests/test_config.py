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


def test_data_root_is_a_user_setting_not_the_checkout_layout(monkeypatch, tmp_path):
    monkeypatch.delenv("SHOPSENSE_DATA_ROOT", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert Settings().data_root == tmp_path / "cache" / "shopsense" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Settings().data_root == tmp_path / ".cache" / "shopsense" / "data"
    monkeypatch.setenv("SHOPSENSE_DATA_ROOT", str(tmp_path / "mine"))
    assert Settings().data_root == tmp_path / "mine"
