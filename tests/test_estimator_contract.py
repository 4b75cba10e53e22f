"""One contract, written once, run over every registered model kind.

For each kind a small factory says how to fit it on data that ships with shopsense (the
bundled UCI sample, the test shop's reviews, the Fashion-MNIST slice) and how to ask it
for outputs; the checks are the same for all: save -> load gives the same outputs, an
unfitted model raises NotFittedError, clearly bad input raises a clear error with a
message, and the same seed gives the same model. Fits are tiny (one thread, few epochs):
the contract is about the edges, each family's own tests measure quality.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shopsense.estimator import NotFittedError, registered_kinds
from shopsense.registry import KINDS, model_class

EVAL = pd.Timestamp("2011-09-01")
ONE = {"threads": 1, "random_state": 0}


# --------------------------------------------------------------------------- shipped data
@functools.cache
def _sample() -> Any:
    from shopsense.data.sources import load_sample

    return load_sample()


@functools.cache
def _lines() -> pd.DataFrame:
    return _sample().order_lines_view()


@functools.cache
def _interactions() -> Any:
    from shopsense.data.views import Interactions

    return Interactions.from_frame(_sample().tables["events"], keep="first")


@functools.cache
def _products() -> pd.DataFrame:
    items = _sample().tables["items"]
    return items[items["kind"] == "product"]


@functools.cache
def _history() -> Any:
    from shopsense.data.customers import CustomerHistory

    return CustomerHistory.from_order_lines(_lines())


@functools.cache
def _cutoffs(horizon: int) -> tuple[Any, ...]:
    from shopsense.behavior.predict import rolling_cutoffs

    return tuple(rolling_cutoffs(_history().until(EVAL), horizon, n=2))


@functools.cache
def _order_units() -> Any:
    from shopsense.data.units import order_units

    return order_units(_lines())


@functools.cache
def _demand() -> Any:
    from shopsense.data.demand import demand_view

    full = demand_view(_lines())
    return full.select(full.top_items(12))


@functools.cache
def _panel() -> Any:
    from shopsense.data.demand import demand_view
    from shopsense.data.panel import panel_from_order_lines

    view = demand_view(_lines())
    return panel_from_order_lines(_lines(), items=view.top_items(30), view=view)


@functools.cache
def _images() -> Any:
    from tests.images.shop import sample

    return sample("train", 200)


@functools.cache
def _reviews() -> pd.DataFrame:
    from tests.shop import reviews

    frame = reviews()
    return frame[frame["label"].notna()].reset_index(drop=True)


# --------------------------------------------------------------------------- the kinds
@dataclass(frozen=True)
class Case:
    """How to build, fit and question one kind."""

    make: Callable[[], Any]
    fit: Callable[[Any], Any]
    outputs: Callable[[Any], Any]
    bad: Callable[[Any], Any]
    #: what `bad` raises: a clear error of one of these types, with a message
    errors: tuple[type[Exception], ...] = (ValueError, TypeError, KeyError)


def _recommender(kind: str, **params: Any) -> Case:
    def fit(m: Any) -> Any:
        items = _products() if kind == "content" else None
        return m.fit(_interactions(), items)

    return Case(
        make=lambda: model_class(kind)(**params),
        fit=fit,
        outputs=lambda m: m.score(np.arange(25)),
        bad=lambda m: m.recommend(["no-such-customer"], k=5),
    )


def _forecaster(kind: str, **params: Any) -> Case:
    return Case(
        make=lambda: model_class(kind)(**params),
        fit=lambda m: m.fit(_demand().until(EVAL)),
        outputs=lambda m: m.predict(_demand().until(EVAL)),
        bad=lambda m: m.predict("demand"),
    )


NEURAL = {"epochs": 1, "batch_size": 256, **ONE}
CASES: dict[str, Case] = {
    "popular": _recommender("popular"),
    "itemknn": _recommender("itemknn"),
    "userknn": _recommender("userknn"),
    "content": _recommender("content"),
    "als": _recommender("als", factors=8, iterations=2),
    "bpr": _recommender("bpr", factors=8, epochs=1),
    "ease": _recommender("ease", l2=200.0),
    "neumf": _recommender("neumf", **NEURAL),
    "multvae": _recommender("multvae", **NEURAL),
    "multdae": _recommender("multdae", **NEURAL),
    "gru4rec": _recommender("gru4rec", **NEURAL),
    "sasrec": _recommender("sasrec", **NEURAL),
    "customer-segmenter": Case(
        make=lambda: model_class("customer-segmenter")(
            k=3, clusterer="kmeans", ensemble=1, epochs=2, stability_seeds=0, n_init=1, **ONE
        ),
        fit=lambda m: m.fit(_history()),
        outputs=lambda m: (m.predict(_history()), m.transform(_history())),
        bad=lambda m: m.predict(_history().features().drop(columns=["monetary"])),
    ),
    "next_purchase": Case(
        make=lambda: model_class("next_purchase")("gru", epochs=2, **ONE),
        fit=lambda m: m.fit(_history().until(EVAL), list(_cutoffs(30))),
        outputs=lambda m: m.predict_proba(_history().until(EVAL)),
        bad=lambda m: m.predict_proba("customers"),
    ),
    "churn": Case(
        make=lambda: model_class("churn")("logreg", **ONE),
        fit=lambda m: m.fit(_history().until(EVAL), list(_cutoffs(90))),
        outputs=lambda m: m.predict_proba(_history().until(EVAL)),
        bad=lambda m: m.predict_proba(None),
    ),
    "customer_value": Case(
        make=lambda: model_class("customer_value")("gbm", **ONE),
        fit=lambda m: m.fit(_history().until(EVAL), list(_cutoffs(90))),
        outputs=lambda m: m.predict(_history().until(EVAL)),
        bad=lambda m: m.predict(pd.DataFrame()),
    ),
    "isolation_forest": Case(
        make=lambda: model_class("isolation_forest")(random_state=0),
        fit=lambda m: m.fit(_order_units()),
        outputs=lambda m: m.score(_order_units()),
        bad=lambda m: m.score(_order_units().without(["lines"])),
    ),
    "sequence_autoencoder": Case(
        make=lambda: model_class("sequence_autoencoder")(epochs=2, **ONE),
        fit=lambda m: m.fit(_order_units()),
        outputs=lambda m: m.score(_order_units()),
        bad=lambda m: m.score(pd.DataFrame()),
    ),
    "forecast_seasonal_naive": _forecaster("forecast_seasonal_naive", horizon=7),
    "forecast_ets": _forecaster("forecast_ets", horizon=7),
    "forecast_recurrent": _forecaster(
        "forecast_recurrent", cell="gru", horizon=7, epochs=2, hidden_size=8, **ONE
    ),
    "elasticity": Case(
        make=lambda: model_class("elasticity")(n_boot=20, random_state=0),
        fit=lambda m: m.fit(_panel()),
        outputs=lambda m: pd.DataFrame([m.elasticity(i) for i in _panel().items[:8]]),
        bad=lambda m: m.elasticity("no-such-product"),
    ),
    "price_demand_net": Case(
        make=lambda: model_class("price_demand_net")(epochs=2, **ONE),
        fit=lambda m: m.fit(_panel()),
        outputs=lambda m: m.predict(_panel()),
        bad=lambda m: m.predict(_panel(), prices=np.ones(3)),
    ),
    "image_classifier": Case(
        make=lambda: model_class("image_classifier")(
            widths=[8, 16, 16], epochs=1, batch_size=64, **ONE
        ),
        fit=lambda m: m.fit(_images()),
        outputs=lambda m: m.predict_proba(_images().images[:40]),
        bad=lambda m: m.predict_proba(np.zeros((2, 5), dtype=np.float32)),
    ),
    "sentiment_classifier": Case(
        make=lambda: model_class("sentiment_classifier")("tfidf", **ONE),
        fit=lambda m: m.fit(list(_reviews()["text"]), _reviews()["label"].astype(int)),
        outputs=lambda m: m.predict_proba(list(_reviews()["text"][:60])),
        bad=lambda m: m.predict_proba("one review, not a list of reviews"),
    ),
}


def _same(a: Any, b: Any) -> None:
    """Outputs equal to float tolerance, whatever their container."""
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(
            a, b, check_dtype=False, check_exact=False, rtol=1e-5, atol=1e-6
        )
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=False, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


@functools.cache
def _fitted(kind: str) -> Any:
    case = CASES[kind]
    return case.fit(case.make())


def test_every_registered_kind_has_a_case():
    for kind in KINDS:
        model_class(kind)  # imports the module, which registers the kind
    ours = {k for k in registered_kinds() if not k.startswith("test-")}  # test_estimator's
    # a reader of an earlier version's files fits nothing: its own family's tests load them
    readers = {k for k in ours if getattr(model_class(k), "reads_only", False)}
    assert ours == set(KINDS) == set(CASES) | readers


@pytest.mark.parametrize("kind", sorted(CASES))
def test_save_then_load_gives_the_same_outputs(kind, tmp_path):
    model = _fitted(kind)
    assert model.kind == kind and model.is_fitted()
    model.save(tmp_path / "m")
    loaded = model_class(kind).load(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.is_fitted()
    assert loaded.get_params() == model.get_params()
    _same(CASES[kind].outputs(loaded), CASES[kind].outputs(model))


@pytest.mark.parametrize("kind", sorted(CASES))
def test_an_unfitted_model_says_so(kind, tmp_path):
    model = CASES[kind].make()
    assert not model.is_fitted()
    with pytest.raises(NotFittedError, match="not fitted"):
        CASES[kind].outputs(model)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_input_is_a_clear_error(kind):
    case = CASES[kind]
    with pytest.raises(case.errors) as caught:
        case.bad(_fitted(kind))
    assert str(caught.value).strip(), f"{kind}: {type(caught.value).__name__} without a message"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_the_same_seed_gives_the_same_model(kind):
    case = CASES[kind]
    again = case.fit(case.make())
    _same(case.outputs(again), case.outputs(_fitted(kind)))


# --------------------------------------------------------------------------- export
#: the kinds whose network exports to ONNX; every deep family is to join this set
EXPORTABLE = {"gru4rec", "image_classifier", "multdae", "multvae", "sasrec"}


def test_the_exportable_kinds_are_the_ones_expected():
    found = {k for k in CASES if getattr(model_class(k), "exportable", False)}
    assert found == EXPORTABLE


@pytest.mark.parametrize("kind", sorted(EXPORTABLE))
def test_an_exported_model_loads_and_gives_the_same_outputs(kind, tmp_path, monkeypatch):
    model = _fitted(kind)
    folder = model.save(tmp_path / "m")
    report = model.export(folder)
    assert report["precisions"]["fp32"]["passed"], report
    monkeypatch.setenv("SHOPSENSE_ONNX", "fp32")
    loaded = model_class(kind).load(folder)
    assert loaded.runtime_ is not None  # scoring below runs in ONNX Runtime, not torch
    np.testing.assert_allclose(
        CASES[kind].outputs(loaded), CASES[kind].outputs(model), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("kind", sorted(set(CASES) - EXPORTABLE))
def test_a_kind_without_an_exported_form_says_so(kind, tmp_path):
    with pytest.raises(NotImplementedError, match="no exported form"):
        _fitted(kind).export(tmp_path)
