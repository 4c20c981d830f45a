"""Explanations and fairness against a real ``triops up``: an Adult model logged by the
stock mlflow client and deployed; labelled traffic explained at serving time; a fairness
breach, injected by shifting one group's outcomes, becomes an incident; the monitor and
model-version pages show it (screenshots in tests/screenshots)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.e2e.browser import browser_page, login, shot

mlflow = pytest.importorskip("mlflow")
from mlflow.models import infer_signature
from sklearn.ensemble import GradientBoostingClassifier

pytestmark = pytest.mark.e2e
ADULT = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "adult" / "adult.data"
BATCH = 50


def _adult() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    raw = pd.read_csv(ADULT, skipinitialspace=True).sample(4000, random_state=0)
    y = (raw.pop("income") == ">50K").astype(int)
    x = raw.copy()
    for c in x.columns:
        if not pd.api.types.is_numeric_dtype(x[c]):
            x[c] = pd.Categorical(x[c]).codes.astype(float)
    return raw, x.astype(float), y


def _send(http, x, y, start, n, *, female=None, shift_female=False):
    """n labelled rows in requests of BATCH rows, each explained at serving time."""
    for s in range(start, start + n, BATCH):
        part = x.iloc[s:s + BATCH]
        r = http.post("/api/v1/endpoints/adult/predict", params={"explain": "true"},
                      json={"records": part.to_dict(orient="records")})
        assert r.status_code == 200, r.text
        labels = y.iloc[s:s + BATCH].to_numpy().copy()
        if shift_female:  # every woman's true outcome becomes favourable
            labels[(part["sex"] == female).to_numpy()] = 1
        assert http.post("/api/v1/endpoints/adult/labels", json=[
            {"request_id": r.json()["request_id"], "label": labels.tolist()}]).status_code == 200
    return r.json()


def test_adult_explained_and_a_fairness_breach_becomes_an_incident(server, monkeypatch):
    raw, x, y = _adult()
    female = float(pd.Categorical(raw["sex"]).categories.get_loc("Female"))
    model = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(
        x[:2000], y[:2000])
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.admin_key)
    mlflow.set_tracking_uri(server.url)
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="adult",
                                 signature=infer_signature(x, model.predict(x)),
                                 serialization_format="skops", pip_requirements=["scikit-learn"],
                                 skops_trusted_types=["sklearn.tree._tree.Tree"])
    test_x, test_y = x[2000:].reset_index(drop=True), y[2000:].reset_index(drop=True)
    with server.http() as http:
        assert http.post("/api/v1/endpoints", json={
            "name": "adult", "model": "adult/1"}).status_code == 201
        last = _send(http, test_x, test_y, 0, 1000)
        got = last["explanation"]
        assert got["method"] == "tree-path-dependent" and got["features"] == list(x.columns)
        rows = test_x.iloc[950:1000]
        np.testing.assert_allclose(np.sum(got["values"], axis=1) + got["base_values"],
                                   model.decision_function(rows), atol=1e-9)
        importance = http.get("/api/v1/endpoints/adult/importance").json()["importance"][0]
        assert importance["rows"] == 1000 and importance["logged"] == 1000
        created = http.post("/api/v1/monitors", json={
            "name": "adult-fair", "endpoint": "adult", "spec": {
                "model": "adult", "alias": "champion", "drift": None, "quality": None,
                "window": {"kind": "count", "size": 1000},
                "fairness": {"sensitive": ["sex", "race"], "threshold": 0.35,
                             "gaps": ["equalized_odds_difference"], "min_group": 30}}})
        assert created.status_code == 201, created.text
        fair = http.post("/api/v1/monitors/adult-fair/run").json()
        assert fair["status"] == "ok", fair["performance"]["fairness"]
        _send(http, test_x, test_y, 1000, 1000, female=female, shift_female=True)
        breach = http.post("/api/v1/monitors/adult-fair/run").json()
        assert breach["status"] == "breach", breach["performance"]["fairness"]
        assert breach["breaches"]["fairness"]["feature"] == "sex"
        incidents = http.get("/api/v1/incidents").json()
        assert [i["kind"] for i in incidents] == ["fairness"]
    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.goto("/ui/ml/monitors/adult-fair")
        assert page.locator("text=Latest window by").count() == 2
        shot(page, "monitor-fairness")
        page.goto("/ui/ml/models/adult/versions/1")
        assert page.locator("text=What it relies on").count() == 1
        shot(page, "model-version-reliance")
