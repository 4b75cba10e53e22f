"""What every model family shares, whatever it learns: the kind a saved model is known by,
one `NotFittedError`, and a small `Estimator` base.

The registry finds a saved model's class through `register`: a class says which kind it
saves as (the "model" field of its `model.json`), so no "module:Class" strings exist and a
renamed class cannot silently stop loading. This module imports nothing heavy, so the CLI,
the registry and the service can use it without loading torch or scikit-learn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

T = TypeVar("T", bound=type)

_CLASSES: dict[str, type] = {}


class NotFittedError(RuntimeError, ValueError):
    """A model was used before `fit` (or `load`).

    Both a RuntimeError and a ValueError, so code written against either of the errors the
    families raised before keeps catching it.
    """


def register(kind: str) -> Callable[[T], T]:
    """Class decorator: saved models whose `model.json` names `kind` load with this class.

    A kind belongs to one class; registering it twice is a mistake (two classes would
    claim the same files) and raises ValueError.
    """
    if not kind or not isinstance(kind, str):
        raise ValueError(f"a model kind is a non-empty string, got {kind!r}")

    def add(cls: T) -> T:
        known = _CLASSES.get(kind)
        if known is not None:
            raise ValueError(
                f"model kind {kind!r} is already registered to "
                f"{known.__module__}.{known.__qualname__}; cannot register "
                f"{cls.__module__}.{cls.__qualname__} too"
            )
        cls.kind = kind  # type: ignore[attr-defined]
        _CLASSES[kind] = cls
        return cls

    return add


def registered(kind: str) -> type | None:
    """The class registered for `kind`, or None if no imported module registered it."""
    return _CLASSES.get(kind)


def registered_kinds() -> list[str]:
    """Every kind registered so far (by the modules imported until now), sorted."""
    return sorted(_CLASSES)


class Estimator:
    """The base of every savable model: the shared edges, not the maths.

    A subclass keeps its own `fit`, predictions and `save`/`load`; it names the learned
    attribute that `fit` (and `load`) set in `fitted_attribute`, so `check_fitted` can
    refuse a model used too early with one error type across the families.
    """

    #: the kind its `model.json` names, set by `register`
    kind: ClassVar[str]
    #: the registry's default model name
    name: ClassVar[str]
    #: a learned attribute present (and not None) once the model is fitted or loaded
    fitted_attribute: ClassVar[str]
    #: whether `export` writes a compressed form (ONNX) that loading then scores with
    exportable: ClassVar[bool] = False

    def is_fitted(self) -> bool:
        """Whether `fit` (or `load`) has run."""
        return getattr(self, self.fitted_attribute, None) is not None

    def check_fitted(self) -> None:
        """Raise `NotFittedError` unless the model is fitted."""
        if not self.is_fitted():
            raise NotFittedError(
                f"{type(self).__name__} is not fitted: call fit(...) or load(path) first"
            )

    def _check_fitted(self) -> None:
        self.check_fitted()

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters: the fields of the model's config dataclass."""
        config = getattr(self, "config", None)
        if config is None or not dataclasses.is_dataclass(config):
            return {}
        return dataclasses.asdict(config)

    def save(self, path: str | Path) -> Path:
        """Write the fitted model into the folder `path` (config JSON + arrays)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement save")

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a folder written by `save`."""
        raise NotImplementedError(f"{cls.__name__} does not implement load")

    def export(self, path: str | Path, *, int8: bool = True) -> dict[str, Any]:
        """Write the fitted model's network as ONNX (fp32, and int8 where asked) into the
        saved model's folder `path`, checked against the model itself; returns the check's
        report. `load` of that folder then scores with ONNX Runtime (setting `onnx`)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no exported form (only models with exportable = True)"
        )
