"""Tests mirror the package: every module has a test file (or its package has one)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "shopsense"


def test_every_module_has_tests():
    missing = []
    for module in SRC.rglob("*.py"):
        if module.name == "__init__.py":
            continue
        rel = module.relative_to(SRC)
        own = ROOT / "tests" / rel.parent / f"test_{module.stem.strip('_')}.py"
        package = ROOT / "tests" / rel.parent.parent / f"test_{rel.parent.name}.py"
        if not own.exists() and not (rel.parent != Path(".") and package.exists()):
            missing.append(str(rel))
    assert not missing, f"modules without a test file: {missing}"
