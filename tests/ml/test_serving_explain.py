"""Explanations through the real app on both stores: the explain parameter and route,
attributions in the prediction log, global importance per version, and models that need
a background taken from the log."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from tests.ml import serving_models as sm
from triops.ml import traffic

ROWS = [{"age": 25.0, "visits": 3}, {"age": 61.0, "visits": 0}]


@functools.cache
def _forest(on: str) -> RandomForestClassifier:
    """Learns from ``on`` alone, so two versions rely on different features."""
    x = sm.FEATURES
    y = (x[on] > x[on].median()).astype(int)
    return RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(x, y)


@pytest.fixture
def credit(runtime):
    sm.register(runtime, "credit", sm.skops_files(_forest("age")), alias="champion")
    sm.register(runtime, "credit", sm.skops_files(_forest("visits")), alias="challenger")
    return runtime


def _deploy(client, name, model):
    r = client.post("/api/v1/endpoints", json={"name": name, "model": model})
    assert r.status_code == 201, r.text


def test_predict_with_explain_returns_and_logs_exact_attributions(client, credit):
    _deploy(client, "credit", "credit@champion")
    plain = client.post("/api/v1/endpoints/credit/predict", json={"records": ROWS}).json()
    assert "explanation" not in plain
    r = client.post("/api/v1/endpoints/credit/predict", params={"explain": "true"},
                    json={"records": ROWS})
    assert r.status_code == 200, r.text
    body = r.json()
    got = body["explanation"]
    assert got["method"] == "tree-path-dependent" and got["features"] == ["age", "visits"]
    proba = _forest("age").predict_proba(pd.DataFrame(ROWS))[:, 1]
    np.testing.assert_allclose(np.asarray(got["values"]).sum(axis=1) + got["base_values"],
                               proba, atol=1e-9)
    same = client.post("/api/v1/endpoints/credit/explain", json={"records": ROWS}).json()
    assert same["explanation"]["values"] == got["values"]
    logged = client.get("/api/v1/endpoints/credit/predictions").json()["predictions"]
    assert [p.get("explanation") is not None for p in logged] == [False, True, True]
    assert logged[1]["explanation"]["values"] == got["values"]


def test_importance_per_version_from_the_log(client, credit):
    _deploy(client, "credit", "credit@champion")
    rng = np.random.default_rng(0)
    records = [{"age": float(a), "visits": int(v)}
               for a, v in zip(rng.uniform(0, 40, 30), rng.integers(0, 5, 30), strict=True)]
    client.post("/api/v1/endpoints/credit/predict", json={"records": records[:10]})
    client.post("/api/v1/endpoints/credit/explain", json={"records": records[10:]})
    r = client.get("/api/v1/endpoints/credit/importance")
    assert r.status_code == 200, r.text
    (champion,) = r.json()["importance"]
    assert champion["version"] == 1 and champion["rows"] == 30 and champion["logged"] == 20
    assert champion["features"][0]["feature"] == "age"
    # On the same logged rows, the challenger relies on visits instead.
    both = client.get("/api/v1/endpoints/credit/importance",
                      params=[("version", 1), ("version", 2)]).json()["importance"]
    assert [b["features"][0]["feature"] for b in both] == ["age", "visits"]
    assert both[0]["features"] == champion["features"]


def test_a_linear_model_takes_its_background_from_the_log(client, runtime):
    sm.register(runtime, "churn", sm.skops_files(sm.classifier()), alias="champion")
    _deploy(client, "churn", "churn@champion")
    early = client.post("/api/v1/endpoints/churn/explain", json={"records": ROWS})
    assert early.status_code == 400 and "background" in early.json()["message"]
    logged = [{"age": float(a), "visits": int(a) % 5} for a in range(40)]
    client.post("/api/v1/endpoints/churn/predict", json={"records": logged})
    r = client.post("/api/v1/endpoints/churn/explain", json={"records": ROWS})
    assert r.status_code == 200, r.text
    got = r.json()["explanation"]
    assert got["method"] == "linear"
    model = sm.classifier()
    mean = pd.DataFrame(logged)[["age", "visits"]].mean().to_numpy()
    np.testing.assert_allclose(got["values"], (pd.DataFrame(ROWS).to_numpy() - mean)
                               * model.coef_[0], atol=1e-9)


def test_explaining_unknown_or_unexplainable_inputs_is_a_4xx(client, credit):
    _deploy(client, "credit", "credit@champion")
    assert client.post("/api/v1/endpoints/nope/explain",
                       json={"records": ROWS}).status_code == 404
    bad = client.post("/api/v1/endpoints/credit/explain",
                      json={"records": [{"age": "old", "visits": 1}]})
    assert 400 <= bad.status_code < 500
    assert client.get("/api/v1/endpoints/credit/importance").json() == {"importance": []}
    none = client.get("/api/v1/endpoints/credit/importance", params={"version": 1})
    assert none.status_code == 400 and "no logged predictions" in none.json()["message"]


def test_boosted_model_explains_its_log_odds(client, runtime):
    x = sm.FEATURES
    gb = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(x, sm.LABELS)
    sm.register(runtime, "gb", sm.skops_files(gb), alias="champion")
    _deploy(client, "gb", "gb@champion")
    got = client.post("/api/v1/endpoints/gb/explain", json={"records": ROWS}).json()
    np.testing.assert_allclose(
        np.asarray(got["explanation"]["values"]).sum(axis=1)
        + got["explanation"]["base_values"], gb.decision_function(pd.DataFrame(ROWS)),
        atol=1e-9)


def test_a_challenger_relying_on_other_features_is_a_signal(client, credit):
    _deploy(client, "credit", "credit@champion")
    rng = np.random.default_rng(1)
    records = [{"age": float(a), "visits": int(v)}
               for a, v in zip(rng.uniform(0, 40, 60), rng.integers(0, 5, 60), strict=True)]
    client.post("/api/v1/endpoints/credit/predict", json={"records": records})
    for name, compare in (("same", "1"), ("shift", "@challenger")):
        r = client.post("/api/v1/monitors", json={"name": name, "endpoint": "credit", "spec": {
            "model": "credit", "drift": None, "quality": None,
            "reliance": {"compare": compare, "threshold": 0.2}}})
        assert r.status_code == 201, r.text
    same = client.post("/api/v1/monitors/same/run").json()
    assert same["status"] == "ok", same
    assert same["performance"]["reliance"]["shift"] == pytest.approx(0.0, abs=1e-12)
    shifted = client.post("/api/v1/monitors/shift/run").json()
    assert shifted["status"] == "breach", shifted
    detail = shifted["breaches"]["reliance_shift"]
    assert detail["versions"] == [1, 2] and detail["value"] > 0.5
    assert detail["top"] == {"champion": "age", "challenger": "visits"}
    [incident] = client.get("/api/v1/incidents").json()
    members = client.get(f"/api/v1/incidents/{incident['id']}").json()["members"]
    assert {(m["kind"], m["subject"]) for m in members} == {
        ("reliance_shift", "model:credit@champion")}
    bad = client.post("/api/v1/monitors", json={"name": "bad", "endpoint": "credit", "spec": {
        "model": "credit", "drift": None, "quality": None, "reliance": {"compare": "x"}}})
    assert bad.status_code == 400 and "reliance.compare" in bad.json()["message"]


def test_model_version_page_shows_what_it_relies_on(client, credit):
    _deploy(client, "credit", "credit@champion")
    empty = client.get("/ui/ml/models/credit/versions/1")
    assert empty.status_code == 200 and "No explained predictions" in empty.text
    client.post("/api/v1/endpoints/credit/explain", json={"records": ROWS * 5})
    page = client.get("/ui/ml/models/credit/versions/1")
    assert page.status_code == 200 and "What it relies on" in page.text
    assert "10 rows" in page.text and page.text.index("<code>age</code>") < page.text.index(
        "<code>visits</code>")


def test_endpoint_pages_show_deployment_traffic_and_reliance_side_by_side(client, credit):
    r = client.post("/api/v1/endpoints", json={
        "name": "credit", "model": "credit@champion",
        "canary": {"ref": "@challenger", "percent": 25}})
    assert r.status_code == 201, r.text
    listed = client.get("/ui/ml/endpoints")
    assert listed.status_code == 200
    assert 'href="/ui/ml/endpoints/credit"' in listed.text
    assert "primary v1 · 75%" in listed.text and "canary v2 · 25%" in listed.text
    assert 'href="/ui/ml/endpoints"' in client.get("/ui/ml").text
    empty = client.get("/ui/ml/endpoints/credit")
    assert empty.status_code == 200
    assert 'href="/ui/ml/models/credit/versions/1"' in empty.text
    assert 'href="/ui/ml/models/credit/versions/2"' in empty.text
    assert "No predictions logged yet" in empty.text
    assert empty.text.count("No explained predictions logged for this version yet") == 2
    # Request ids chosen so that the hash split sends four to each version.
    policy = traffic.parse_policy({"canary": {"ref": "@challenger", "percent": 25}})
    ids = [f"req-{i}" for i in range(200)]
    chosen = ([i for i in ids if traffic.route(policy, i) == "primary"][:4]
              + [i for i in ids if traffic.route(policy, i) == "canary"][:4])
    for i, request_id in enumerate(chosen):
        r = client.post("/api/v1/endpoints/credit/predict", params={"explain": "true"},
                        headers={"x-request-id": request_id},
                        json={"records": [{"age": 20.0 + 5 * i, "visits": i % 5}]})
        assert r.status_code == 200, r.text
    page = client.get("/ui/ml/endpoints/credit").text
    assert "No explained predictions" not in page and "No predictions logged" not in page
    recent = page[page.index('id="recent"'):page.index('id="reliance"')]
    assert '<td>primary</td><td class="num">4</td>' in recent
    assert '<td>canary</td><td class="num">4</td>' in recent
    reliance = page[page.index('id="reliance"'):]
    # Champion learnt from age, challenger from visits: each panel ranks its own first.
    first, second = reliance.split("<figure>")[1:3]
    assert "v1" in first and first.index("<code>age</code>") < first.index("<code>visits</code>")
    assert "v2" in second and second.index("<code>visits</code>") < second.index("<code>age</code>")
    assert client.get("/ui/ml/endpoints/nope").status_code == 404
    shadow = client.post("/api/v1/endpoints", json={
        "name": "shadowed", "model": "credit@champion", "shadow": {"ref": "@challenger"}})
    assert shadow.status_code == 201, shadow.text
    shadowed = client.get("/ui/ml/endpoints/shadowed").text
    assert "mirrors every request" in shadowed and "Shadow traffic is not explained" in shadowed
