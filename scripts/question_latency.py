"""How long one customer question takes to answer, cold and warm.

Loads the Amazon Q&A appliances corpus and the women's clothing reviews into a temporary
store (from the data root, `SHOPSENSE_DATA_ROOT`), picks the items with the most passages
(hundreds of reviews) and times, with the service's thread setting (`serve_threads`):

- per_request: the old way, every passage of the item embedded for each question;
- cold: the first question about an item (its passages embedded and saved once);
- warm: a new question about the same item (only the question is embedded);
- repeat: the same question again (its vector is cached too);
- restart: a new process's first question about an item already indexed;
- service: a new question through the HTTP service (which knows the store's data versions
  without opening it).

    python scripts/question_latency.py [--items 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from fastapi.testclient import TestClient

from shopsense.config import Settings
from shopsense.data.sources import load_source
from shopsense.data.store import Store
from shopsense.reviews import qa_cache, workflows
from shopsense.reviews.qa import AnswerIndex
from shopsense.serve.app import create_app


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2, help="items to ask about")
    args = parser.parse_args()
    env = Settings()
    torch.set_num_threads(env.serve_threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(store_path=root / "s.duckdb", models_dir=root / "m")
        with Store(settings.store_path) as store:
            for name in ("amazon-qa-appliances", "womens-ecommerce-clothing-reviews"):
                data = load_source(name, env.data_root)
                for table, frame in data.tables.items():
                    store.write_frame(table, frame, source=data.name)
        everything = qa_cache.passage_index(settings).passages
        items = list(everything["item_id"].value_counts().index[: args.items])
        asks = ["does it fit a 30 inch cabinet?", "how loud is it?"]
        qa_cache.shared_encoder().encode(["load the model"])  # not part of any question
        times: dict[str, list[float]] = {
            k: [] for k in ("per_request", "cold", "warm", "repeat", "restart")
        }
        sizes = []
        for item in items:
            index = qa_cache.passage_index(settings)
            rows = index.passages[index.passages["item_id"] == item]
            sizes.append(len(rows))
            times["per_request"].append(
                _timed(lambda r=rows, i=item: AnswerIndex().build(r).search([asks[1]], [i], k=5))
            )
            times["cold"].append(_timed(lambda i=item: workflows.ask(settings, asks[0], i, k=5)))
            times["warm"].append(_timed(lambda i=item: workflows.ask(settings, asks[1], i, k=5)))
            times["repeat"].append(_timed(lambda i=item: workflows.ask(settings, asks[1], i, k=5)))
        qa_cache._CACHED.clear()  # as a restarted service: the saved vectors are read back
        for item in items:
            question = f"is {item} easy to install?"
            times["restart"].append(
                _timed(lambda i=item, q=question: workflows.ask(settings, q, i, k=5))
            )
        times["service"] = []
        with TestClient(create_app(settings)) as client:
            for n, item in enumerate(items):
                body = {"question": f"what is the warranty, case {n}?", "item_id": item, "k": 5}
                answered = client.post("/v1/questions/answer", json=body).status_code
                other = body | {"question": f"does it shrink in the wash, case {n}?"}
                times["service"].append(
                    _timed(lambda b=other: client.post("/v1/questions/answer", json=b))
                )
                assert answered == 200
    out = {
        "items": items,
        "passages_per_item": sizes,
        "threads": env.serve_threads,
        "seconds_median": {k: round(statistics.median(v), 4) for k, v in times.items()},
        "seconds": {k: [round(x, 4) for x in v] for k, v in times.items()},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
