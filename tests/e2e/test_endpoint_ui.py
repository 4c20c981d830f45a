"""The serving endpoint pages in headless Chromium against a real ``triops up``: two
forest versions logged by the stock mlflow client, deployed as champion with a canary
challenger, explained traffic, and the two versions' reliance side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.e2e.browser import browser_page, login, shot

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.ensemble import RandomForestClassifier

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# The pages do not depend on the store backend; tests/ml covers both.
BACKENDS_UNDER_TEST = ("sqlite",)

X = pd.DataFrame({"age": np.arange(60.0) % 37, "visits": np.arange(60) % 7,
                  "tenure": np.arange(60.0) % 11})


def test_endpoint_pages_compare_champion_and_challenger(server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.admin_key)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    # Each version learns from one feature, so each relies on a different one.
    for on in ("age", "visits"):
        y = (X[on] > X[on].median()).astype(int)
        model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", registered_model_name="credit",
                                     signature=infer_signature(X, model.predict(X)),
                                     serialization_format="skops",
                                     pip_requirements=["scikit-learn"],
                                     skops_trusted_types=["sklearn.tree._tree.Tree"])
    registry = MlflowClient()
    registry.set_registered_model_alias("credit", "champion", "1")
    registry.set_registered_model_alias("credit", "challenger", "2")
    with server.http() as http:
        r = http.post("/api/v1/endpoints", json={
            "name": "credit", "model": "credit@champion",
            "canary": {"ref": "@challenger", "percent": 30}})
        assert r.status_code == 201, r.text
        served = set()
        for i in range(40):
            got = http.post("/api/v1/endpoints/credit/predict", params={"explain": "true"},
                            json={"records": X.iloc[i:i + 3].to_dict("records")})
            assert got.status_code == 200, got.text
            served.add(got.json()["served_by"])
        assert served == {"primary", "canary"}
    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.goto("/ui/ml")
        page.click("text=Serving endpoints")
        assert "canary v2 · 30%" in page.inner_text("#endpoints")
        shot(page, "ml-endpoints")
        page.click("#endpoints >> text=credit >> nth=0")
        assert page.locator("#deployment tbody tr").count() == 2
        panels = page.locator("#reliance figure")
        assert panels.count() == 2
        assert panels.nth(0).locator("code").first.inner_text() == "age"
        assert panels.nth(1).locator("code").first.inner_text() == "visits"
        shot(page, "ml-endpoint-reliance")
        page.click("#deployment >> text=credit v2")
        assert page.locator("text=What it relies on").count() == 1
