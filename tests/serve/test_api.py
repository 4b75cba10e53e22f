"""The /v1 API contract on the bundled sample shop: every endpoint, auth where it belongs,
bad input -> 4xx, events change the next recommendation, activation and rollback."""

from __future__ import annotations

import threading

import pytest

from tests.serve.conftest import KEY

AUTH = {"X-API-Key": KEY}
USER = "12348"  # a customer with history in the sample


def items(response) -> list[str]:
    return [i["item_id"] for i in response.json()["items"]]


def test_recommendations_for_a_known_user(client):
    r = client.get(f"/v1/users/{USER}/recommendations", params={"k": 5, "explain": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "model" and body["model"].startswith("ease/")
    assert len(body["items"]) == 5 and [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    history = {h["item_id"] for h in client.get(f"/v1/users/{USER}/history").json()["items"]}
    assert not history & set(items(r)), "seen items must not come back"
    first = body["items"][0]
    assert first["title"] and first["price"] is not None
    assert first["reason"].startswith("because you bought")
    assert {b["item_id"] for b in first["because"]} <= history


def test_unknown_user_gets_labelled_cold_start(client):
    r = client.get("/v1/users/never-seen-before/recommendations", params={"k": 3})
    assert r.status_code == 200
    assert r.json()["source"] == "cold_start" and len(r.json()["items"]) == 3


def test_an_event_changes_the_next_recommendations_at_once(client):
    user = "brand-new-customer"
    before = client.get(f"/v1/users/{user}/recommendations", params={"k": 10})
    assert before.json()["source"] == "cold_start"
    bought = "22423"  # regency cake stand
    event = {"user_id": user, "item_id": bought, "event_type": "purchase", "value": 1}
    r = client.post("/v1/events", json={"events": [event]}, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json() == {
        "received": 1,
        "stored": 1,
        "already_stored": 0,
        "users": 1,
        "replay": False,
    }
    after = client.get(f"/v1/users/{user}/recommendations", params={"k": 10, "explain": True})
    assert after.json()["source"] == "fold_in"
    assert bought not in items(after) and items(after) != items(before)
    assert "REGENCY CAKESTAND" in after.json()["items"][0]["reason"]
    # the same for a known customer: the new purchase leaves their list and shifts it
    known_before = items(client.get(f"/v1/users/{USER}/recommendations"))
    # an explicit timestamp: an event without one is stamped "now", so a retry a second
    # later would be a different event
    event = {
        "user_id": USER,
        "item_id": known_before[0],
        "event_type": "purchase",
        "timestamp": "2011-12-10T09:30:00",
    }
    assert client.post("/v1/events", json={"events": [event]}, headers=AUTH).status_code == 201
    known_after = client.get(f"/v1/users/{USER}/recommendations")
    assert known_after.json()["source"] == "fold_in"
    assert known_before[0] not in items(known_after)
    # stored durably: posting the same event again stores nothing new
    again = client.post("/v1/events", json={"events": [event]}, headers=AUTH)
    assert again.json()["stored"] == 0 and again.json()["already_stored"] == 1


def test_events_survive_a_restart(fresh_shop):
    from fastapi.testclient import TestClient

    from shopsense.serve.app import create_app

    event = {"user_id": "restart-user", "item_id": "22423", "event_type": "view"}
    with TestClient(create_app(fresh_shop)) as c:
        assert c.post("/v1/events", json={"events": [event]}, headers=AUTH).status_code == 201
    with TestClient(create_app(fresh_shop)) as c:
        r = c.get("/v1/users/restart-user/recommendations")
        assert r.json()["source"] == "fold_in" and "22423" not in items(r)


def test_model_without_fold_in_still_excludes_new_items(client):
    before = items(client.get(f"/v1/users/{USER}/recommendations", params={"model": "bpr"}))
    event = {"user_id": USER, "item_id": before[0], "event_type": "purchase"}
    assert client.post("/v1/events", json={"events": [event]}, headers=AUTH).status_code == 201
    after = client.get(f"/v1/users/{USER}/recommendations", params={"model": "bpr"})
    assert after.json()["source"] == "model" and before[0] not in items(after)
    assert items(after)[:5] == before[1:6]


def test_filters_restrict_price(client):
    r = client.get(
        f"/v1/users/{USER}/recommendations", params={"k": 10, "min_price": 2, "max_price": 5}
    )
    assert r.status_code == 200 and r.json()["items"]
    assert all(2 <= i["price"] <= 5 for i in r.json()["items"])
    bad = client.get(f"/v1/users/{USER}/recommendations", params={"min_price": 5, "max_price": 2})
    assert bad.status_code == 422


def test_batch_answers_each_user(client):
    body = {"users": [USER, "14096", "nobody"], "k": 4}
    r = client.post("/v1/recommendations/batch", json=body)
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["user_id"] for x in results] == body["users"]
    assert [x["source"] for x in results] == ["model", "model", "cold_start"]
    single = client.get(f"/v1/users/{USER}/recommendations", params={"k": 4})
    assert [i["item_id"] for i in results[0]["items"]] == items(single)


def test_session_recommendations(client):
    r = client.post("/v1/sessions/recommendations", json={"items": ["22423", "22699"], "k": 5})
    assert r.status_code == 200 and r.json()["source"] == "fold_in"
    assert not {"22423", "22699"} & set(items(r))
    r = client.post("/v1/sessions/recommendations", json={"items": ["22423"], "model": "bpr"})
    assert r.status_code == 422 and "cannot score a session" in r.json()["detail"]


def test_similar_items_and_explain(client):
    r = client.get("/v1/items/22423/similar", params={"k": 5})
    assert r.status_code == 200 and len(r.json()["items"]) == 5
    assert "22423" not in items(r)
    assert client.get("/v1/items/no-such-item/similar").status_code == 404
    rec = items(client.get(f"/v1/users/{USER}/recommendations", params={"k": 1}))[0]
    why = client.get(f"/v1/users/{USER}/explain/{rec}")
    assert why.status_code == 200 and why.json()["text"].startswith("because you bought")
    assert client.get(f"/v1/users/{USER}/explain/nope").status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"/v1/users/{USER}/recommendations", {"k": 0}),
        (f"/v1/users/{USER}/recommendations", {"k": 101}),  # above max_k
        (f"/v1/users/{USER}/recommendations", {"k": "ten"}),
        (f"/v1/users/{USER}/recommendations", {"model": "../../etc"}),
        (f"/v1/users/{USER}/recommendations", {"min_price": -1}),
        (f"/v1/users/{'x' * 200}/recommendations", {}),
    ],
)
def test_bad_queries_are_4xx_with_a_reason(client, path, params):
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert "detail" in r.json() and "Traceback" not in r.text


def test_unknown_model_is_404(client):
    r = client.get(f"/v1/users/{USER}/recommendations", params={"model": "nosuchmodel"})
    assert r.status_code == 404 and "saved models" in r.json()["detail"]


@pytest.mark.parametrize(
    "events",
    [
        [{"user_id": "u", "item_id": "i", "event_type": "teleport"}],
        [{"user_id": "", "item_id": "i", "event_type": "view"}],
        [{"user_id": "u", "item_id": "i", "event_type": "view", "extra": 1}],
        [{"user_id": "u\x00", "item_id": "i", "event_type": "view"}],
        [],
    ],
)
def test_bad_events_are_refused_and_nothing_is_stored(client, events):
    r = client.post("/v1/events", json={"events": events}, headers=AUTH)
    assert r.status_code == 422
    ok = {"user_id": "u", "item_id": "22423", "event_type": "view"}
    assert client.post("/v1/events", json={"events": [ok]}, headers=AUTH).json()["stored"] == 1


def test_too_many_events_or_users(client, fresh_shop):
    event = {"user_id": "u", "item_id": "22423", "event_type": "view"}
    many = [event] * (fresh_shop.max_events + 1)
    assert client.post("/v1/events", json={"events": many}, headers=AUTH).status_code == 422
    users = [str(i) for i in range(fresh_shop.max_batch_users + 1)]
    assert client.post("/v1/recommendations/batch", json={"users": users}).status_code == 422


def test_writes_need_a_key(client):
    event = {"events": [{"user_id": "u", "item_id": "22423", "event_type": "view"}]}
    assert client.post("/v1/events", json=event).status_code == 401
    assert client.post("/v1/events", json=event, headers={"X-API-Key": "wrong"}).status_code == 403
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert client.post("/v1/events", json=event, headers=bearer).status_code == 201
    body = {"version": "v0001"}
    assert client.post("/v1/models/ease/activate", json=body).status_code == 401
    assert client.post("/v1/models/ease/rollback").status_code == 401


def test_models_list_activate_and_rollback(client):
    listed = client.get("/v1/models").json()
    ease = {v["version"]: v for v in listed if v["name"] == "ease"}
    assert set(ease) == {"v0001", "v0002"} and ease["v0002"]["active"]
    assert ease["v0002"]["params"]["l2"] == 400.0 and ease["v0002"]["data"]["events"] > 0
    r = client.post("/v1/models/ease/activate", json={"version": "v0001"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["version"] == "v0001" and r.json()["loaded"]
    served = client.get(f"/v1/users/{USER}/recommendations").json()["model"]
    assert served == "ease/v0001"
    r = client.post("/v1/models/ease/rollback", headers=AUTH)
    assert r.status_code == 200 and r.json()["version"] == "v0002"
    assert client.get(f"/v1/users/{USER}/recommendations").json()["model"] == "ease/v0002"
    r = client.post("/v1/models/ease/rollback", headers=AUTH)
    assert r.status_code == 409 and "no earlier active version" in r.json()["detail"]
    r = client.post("/v1/models/ease/activate", json={"version": "v0009"}, headers=AUTH)
    assert r.status_code == 404
    r = client.post("/v1/models/ease/activate", json={"version": "latest"}, headers=AUTH)
    assert r.status_code == 422


def test_hot_swap_drops_no_request(client):
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            statuses.append(client.get(f"/v1/users/{USER}/recommendations").status_code)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for version in ("v0001", "v0002", "v0001"):
            r = client.post("/v1/models/ease/activate", json={"version": version}, headers=AUTH)
            assert r.status_code == 200
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(statuses) > 3 and set(statuses) == {200}


def test_a_new_item_gets_similar_items_by_its_text(fresh_shop):
    import pandas as pd
    from fastapi.testclient import TestClient

    from shopsense.data.store import Store
    from shopsense.serve.app import create_app

    new = pd.DataFrame(
        {"item_id": ["NEW-1"], "title": ["REGENCY CAKESTAND 4 TIER GOLD"], "price": [19.95]}
    )
    with Store(fresh_shop.store_path) as store:
        store.write_frame("items", new, source="test")
    with TestClient(create_app(fresh_shop)) as c:
        r = c.get("/v1/items/NEW-1/similar", params={"k": 5})
        assert r.status_code == 200 and r.json()["source"] == "content"
        titles = [i["title"] for i in r.json()["items"]]
        assert titles[0] == "REGENCY CAKESTAND 3 TIER"
        assert all({"REGENCY", "CAKESTAND", "TIER"} & set(t.split()) for t in titles)
        assert c.get("/v1/items/22423/similar").json()["source"] == "model"
        assert c.get("/v1/items/NOT-ANYWHERE/similar").status_code == 404


def test_data_quality_reports(client):
    reports = client.get("/v1/data/quality").json()
    tables = {r["table"] for r in reports}
    assert {"order_lines", "items", "reviews"} <= tables
    lines = next(r for r in reports if r["table"] == "order_lines")
    assert lines["rows"] > 0 and all(f["rows"] > 0 for f in lines["findings"])
    one = client.get("/v1/data/quality", params={"table": "items"}).json()
    assert [r["table"] for r in one] == ["items"]
    assert client.get("/v1/data/quality", params={"table": "nope"}).status_code == 404
