"""Every recommender family learns on data that ships with shopsense: the bundled UCI
sample (1,094 customers, 3,318 products), leave-last-out, full ranking, validation users.

These run on a fresh clone with no public data; the MovieLens tests beside them go deeper
where that data set is present.
"""

from __future__ import annotations

import pandas as pd
import pytest

from shopsense.data.sources import load_sample
from shopsense.data.views import Interactions
from shopsense.eval.evaluate import evaluate
from shopsense.eval.splits import Split, leave_last_out
from shopsense.workflows import make_model


@pytest.fixture(scope="module")
def sample() -> tuple[Split, pd.DataFrame]:
    data = load_sample()
    events = Interactions.from_frame(data.tables["events"], keep="first")
    items = data.tables["items"]
    return leave_last_out(events), items[items["kind"] == "product"]


@pytest.fixture(scope="module")
def popular_ndcg(sample) -> float:
    split, _ = sample
    return evaluate(make_model("popular").fit(split.train), split.validation, k=10).metrics[
        "ndcg@10"
    ]


@pytest.mark.parametrize(
    ("name", "params", "factor"),
    [
        ("itemknn", {}, 2.5),
        ("userknn", {}, 2.5),
        ("ease", {"l2": 200.0}, 3.0),
        ("als", {"factors": 32}, 2.0),
        ("content", {}, 2.0),
        ("multdae", {"epochs": 20}, 2.0),
        ("sasrec", {"epochs": 5}, 1.25),
    ],
)
def test_beats_popularity_on_the_bundled_sample(sample, popular_ndcg, name, params, factor):
    split, items = sample
    model = make_model(name, params)
    model = model.fit(split.train, items=items) if name == "content" else model.fit(split.train)
    ndcg = evaluate(model, split.validation, k=10).metrics["ndcg@10"]
    assert ndcg > factor * popular_ndcg, (name, ndcg, popular_ndcg)
    ids, _ = model.recommend([split.validation.user_ids[0]], k=10)
    assert set(ids[0]) <= set(items["item_id"])  # never postage, fees or vouchers
