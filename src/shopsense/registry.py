"""The model registry: `models/<task>/<name>/<version>/`.

Each version folder holds what the model's `save` wrote (config JSON + arrays, never a
pickle) and a `meta.json` with the registry's own record: when it was trained, on which
data (a hash and counts), with which parameters, and its evaluation metrics. A version is
written into a hidden temporary folder and renamed into place, so a crash never leaves a
half-written version that `load` would pick up.

Which version serves is recorded per model in `<task>/<name>/active.json`: the active
version and the ones active before it, so `rollback` can go back. A service asks
`serving()`, which records the version it first serves as active, so a version trained
later (of any task) serves only once it is activated, also after a restart; only
`auto_activate` serves the newest without that step.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol, Self

from shopsense import __version__
from shopsense.estimator import registered
from shopsense.persist import atomic_write

#: where each model kind is defined: the module is imported on the first load of that kind
#: (a service that serves recommendations never imports the behaviour models' code, and
#: importing the registry imports no model). The class itself comes from the module's
#: `@register(kind)`, so this table only says where to look.
KINDS: dict[str, str] = {
    "popular": "shopsense.recommend.popular",
    "itemknn": "shopsense.recommend.neighbors",
    "userknn": "shopsense.recommend.neighbors",
    "content": "shopsense.recommend.content",
    "als": "shopsense.recommend.factorization",
    "bpr": "shopsense.recommend.bpr",
    "ease": "shopsense.recommend.ease",
    "neumf": "shopsense.recommend.ncf",
    "multvae": "shopsense.recommend.autoencoders",
    "multdae": "shopsense.recommend.autoencoders",
    "gru4rec": "shopsense.recommend.gru4rec",
    "sasrec": "shopsense.recommend.sasrec",
    "customer-segmenter": "shopsense.behavior.segments.estimator",
    "next_purchase": "shopsense.behavior.predict.models",
    "churn": "shopsense.behavior.predict.models",
    "customer_value": "shopsense.behavior.value",
    "isolation_forest": "shopsense.behavior.anomaly.isolation_forest",
    "sequence_autoencoder": "shopsense.behavior.anomaly.autoencoder",
    "demand_forecaster": "shopsense.pricing.forecast",  # saved by earlier versions
    "forecast_seasonal_naive": "shopsense.pricing.forecast",
    "forecast_ets": "shopsense.pricing.forecast",
    "forecast_recurrent": "shopsense.pricing.forecast",
    "image_classifier": "shopsense.images.model",
    "sentiment_classifier": "shopsense.reviews.sentiment",
    "elasticity": "shopsense.pricing.elasticity",
    "price_demand_net": "shopsense.pricing.deep_demand",
}

CONFIG_FILE = "model.json"
META_FILE = "meta.json"
ACTIVE_FILE = "active.json"
_VERSION = re.compile(r"^v(\d{4,})$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelVersion:
    """One saved version of one model."""

    task: str
    name: str
    version: str
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> dict[str, float]:
        return self.meta.get("metrics", {})


class Savable(Protocol):
    """What the registry stores: any model of any task with these four members. `save`
    writes `model.json` whose "model" field names its kind (what its class registered with
    `shopsense.estimator.register`)."""

    name: str

    def get_params(self) -> dict[str, Any]: ...

    def save(self, path: str | Path) -> Path: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...


def model_class(kind: str) -> type[Savable]:
    """The class that loads a saved model of `kind`: the one registered for it, importing
    the kind's module on first use."""
    cls = registered(kind)
    if cls is not None:
        return cls
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    import_module(KINDS[kind])
    cls = registered(kind)
    if cls is None:
        raise ValueError(
            f"model kind {kind!r}: its module {KINDS[kind]} registers no class for it "
            "(decorate the class with @shopsense.estimator.register)"
        )
    return cls


class Registry:
    """Saved models under one root folder."""

    def __init__(self, root: str | Path = "models") -> None:
        self.root = Path(root)
        #: called with every model this registry loads: the service limits torch's threads
        #: there, once a model that needs torch has imported it
        self.on_load: list[Callable[[Any], None]] = []
        #: (task, name) -> the version `serving` last handed out: what this process serves
        #: when the registry cannot record it (read-only), and which models it already
        #: auto-activated (once, like a start)
        self._served: dict[tuple[str, str], str] = {}

    def save(
        self,
        model: Savable,
        *,
        task: str = "recommend",
        name: str | None = None,
        metrics: dict[str, float] | None = None,
        data: dict[str, Any] | None = None,
        export: bool = False,
    ) -> ModelVersion:
        """Store a fitted model as the next version of `task/name` (name: the model's);
        with `export`, an exportable model's ONNX form is written beside its weights."""
        name = name or model.name
        folder = self.root / task / name
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".incoming-"))
        try:
            model.save(tmp)
            exported = None
            if export and getattr(model, "exportable", False):
                exported = _export_or_note(model, tmp)
            meta = {
                "task": task,
                "name": name,
                "model": model.name,
                "params": model.get_params(),
                "metrics": metrics or {},
                "data": data or {},
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "shopsense_version": __version__,
            }
            if exported is not None:
                meta["export"] = exported
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
            while True:  # next free version number; rename fails if another writer won
                version = f"v{self._next_number(folder):04d}"
                try:
                    os.rename(tmp, folder / version)
                    break
                except OSError:
                    if not (folder / version).exists():
                        raise
            os.chmod(folder / version, 0o755)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return ModelVersion(task, name, version, folder / version, meta)

    @staticmethod
    def _next_number(folder: Path) -> int:
        numbers = [_number(p.name) for p in folder.iterdir()]
        return max([n for n in numbers if n > 0], default=0) + 1

    def tasks(self) -> list[str]:
        """Tasks with saved models, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, task: str = "recommend", name: str | None = None) -> list[ModelVersion]:
        """Saved versions, oldest first (all names of the task when `name` is None)."""
        base = self.root / task
        if not base.is_dir():
            return []
        names = [name] if name else sorted(p.name for p in base.iterdir() if p.is_dir())
        out = []
        for n in names:
            folder = base / n
            if not folder.is_dir():
                continue
            for v in sorted(folder.iterdir(), key=lambda p: _number(p.name)):
                if _VERSION.match(v.name) and (v / CONFIG_FILE).exists():
                    meta = (
                        json.loads((v / META_FILE).read_text()) if (v / META_FILE).exists() else {}
                    )
                    out.append(ModelVersion(task, n, v.name, v, meta))
        return out

    def get(self, task: str, name: str, version: str | None = None) -> ModelVersion:
        """One version (the latest when `version` is None), with a clear error if absent."""
        found = self.versions(task, name)
        if not found:
            known = sorted({v.name for v in self.versions(task)})
            raise FileNotFoundError(
                f"no saved model {task}/{name} under {self.root}"
                + (f"; saved models: {', '.join(known)}" if known else "; train one first")
            )
        if version is None:
            return found[-1]
        for v in found:
            if v.version == version:
                return v
        raise FileNotFoundError(
            f"{task}/{name} has no version {version}; it has {[v.version for v in found]}"
        )

    # ----------------------------------------------------------------- activation
    def active(self, task: str, name: str) -> ModelVersion:
        """The active version on disk: the activated one, else the newest (which a service
        serves, and records as activated, when it first serves the model)."""
        pointer = self._pointer(task, name)
        if pointer.get("version"):
            return self.get(task, name, pointer["version"])
        return self.get(task, name)

    def serving(self, task: str, name: str, *, auto_activate: bool = False) -> ModelVersion:
        """The version a service answers with: the activated one. When none was activated
        yet, the newest, recorded as activated, so a version trained later waits for its
        activation, also across restarts. With `auto_activate` the newest, activated, the
        first time this registry serves `name` (a service holds one registry: at start).

        A registry that cannot be written (OSError) still serves, with a warning, and keeps
        serving the version it first served until one is activated."""
        version = self.would_serve(task, name, auto_activate=auto_activate)
        served = self._served.get((task, name))
        if version.version != served and self.activated(task, name) != version.version:
            try:
                self.activate(task, name, version.version)
                log.info("%s/%s/%s is now the active version", task, name, version.version)
            except OSError as e:  # read-only: serve it all the same
                log.warning(
                    "could not record %s/%s/%s as active: %s", task, name, version.version, e
                )
        self._served[(task, name)] = version.version
        return version

    def would_serve(self, task: str, name: str, *, auto_activate: bool = False) -> ModelVersion:
        """What `serving` hands out now, recording nothing."""
        served = self._served.get((task, name))
        activated = self.activated(task, name)
        if activated is not None and not (auto_activate and served is None):
            return self.get(task, name, activated)
        if served is not None and activated is None and self._exists(task, name, served):
            return self.get(task, name, served)
        return self.get(task, name)

    def activated(self, task: str, name: str) -> str | None:
        """The version last activated; None when none was (the newest serves first)."""
        return self._pointer(task, name).get("version") or None

    def activated_at(self, task: str, name: str) -> str | None:
        """When `name` was last activated (ISO 8601 UTC); None when it never was."""
        return self._pointer(task, name).get("activated_at") or None

    def activate(self, task: str, name: str, version: str) -> ModelVersion:
        """Make `version` the one that serves; the previous one is remembered for rollback."""
        target = self.get(task, name, version)  # clear error if absent
        pointer = self._pointer(task, name)
        current = pointer.get("version") or self.get(task, name).version
        history = list(pointer.get("previous", []))
        if current != target.version:
            history.append(current)
        self._write_pointer(task, name, target.version, history)
        return target

    def rollback(self, task: str, name: str) -> ModelVersion:
        """Serve the version that was active before the current one."""
        pointer = self._pointer(task, name)
        history = [v for v in pointer.get("previous", []) if self._exists(task, name, v)]
        if not history:
            raise ValueError(f"{task}/{name} has no earlier active version to roll back to")
        version = history.pop()
        self._write_pointer(task, name, version, history)
        return self.get(task, name, version)

    def _exists(self, task: str, name: str, version: str) -> bool:
        return (self.root / task / name / version / CONFIG_FILE).exists()

    def _pointer(self, task: str, name: str) -> dict[str, Any]:
        path = self.root / task / name / ACTIVE_FILE
        return json.loads(path.read_text()) if path.exists() else {}

    def _write_pointer(self, task: str, name: str, version: str, previous: list[str]) -> None:
        folder = self.root / task / name
        payload = {
            "version": version,
            "previous": previous[-50:],
            "activated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{ACTIVE_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(payload, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, folder / ACTIVE_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(
        self, task: str, name: str, version: str | None = None, *, onnx: str | None = None
    ) -> Any:
        """Load a saved model (the latest version by default). `onnx` ("fp32", "int8",
        "off") chooses what scores a model saved with an ONNX export; None: the setting
        of this process's environment (SHOPSENSE_ONNX)."""
        v = self.get(task, name, version)
        kind = json.loads((v.path / CONFIG_FILE).read_text())["model"]
        try:
            cls = model_class(kind)
        except ValueError:
            raise ValueError(f"{v.path} holds an unknown model kind {kind!r}") from None
        model = cls.load(v.path)
        if onnx is not None and getattr(model, "exportable", False):
            model.use_runtime(v.path, onnx)
        for callback in self.on_load:
            callback(model)
        return model

    def export(
        self,
        task: str,
        name: str,
        version: str | None = None,
        *,
        int8: bool = True,
        **inputs: Any,
    ) -> dict[str, Any]:
        """Write the ONNX form of a saved version (the latest by default) into its folder,
        for a version saved without one; returns the export's parity report. `inputs` go
        to the model's `export` (an image classifier's check needs `images=`)."""
        v = self.get(task, name, version)
        kind = json.loads((v.path / CONFIG_FILE).read_text())["model"]
        cls = model_class(kind)
        if not getattr(cls, "exportable", False):
            raise ValueError(f"{task}/{name}/{v.version} ({kind}) has no exported form")
        report = cls.load(v.path).export(v.path, int8=int8, **inputs)  # type: ignore[attr-defined]
        meta = {**v.meta, "export": report}
        text = json.dumps(meta, indent=2, default=str)
        atomic_write(v.path / META_FILE, lambda tmp: Path(tmp).write_text(text))
        return report


def _export_or_note(model: Any, folder: Path) -> dict[str, Any]:
    """The model's export report; an export that fails does not cost the trained model: it
    is saved without one (it scores in torch) and the failure is noted in its metadata."""
    try:
        return model.export(folder)
    except Exception as e:  # any exporter failure: the model itself is fine
        log.warning("%s: no ONNX export (%s: %s); it will score in torch", model.name,
                    type(e).__name__, e)  # fmt: skip
        return {"error": f"{type(e).__name__}: {e}", "precisions": {}}


def _number(name: str) -> int:
    m = _VERSION.match(name)
    return int(m.group(1)) if m else -1
