"""The retraining pipeline the closed-loop test registers; it runs inside the server.

It reads the endpoint's recent labelled predictions over HTTP, trains a new model on
most of them with the stock ``mlflow`` client (registering a version), and hands
triops both models' predictions on the rest: the champion's are the outputs it served.
"""

from __future__ import annotations

import os

import httpx
import numpy as np
import pandas as pd

from triops.ml.pipelines import Pipeline

retrain_churn = Pipeline("retrain_churn", params=["model", "champion_version"])
FEATURES = ["age", "visits"]


def _http() -> httpx.Client:
    return httpx.Client(base_url=os.environ["CLOSED_LOOP_URL"], timeout=30, headers={
        "Authorization": f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"})


@retrain_churn.step(inputs=["model"], outputs=["recent"], cache=False)
def recent_labelled(model):
    with _http() as http:
        logged = http.get("/api/v1/endpoints/churn/predictions",
                          params={"limit": 2000}).json()["predictions"]
    rows = []
    for p in logged:
        labels = p["label"] if isinstance(p["label"], list) else [p["label"]]
        if p["label"] is None:
            continue
        for inputs, output, label in zip(p["inputs"], p["outputs"], labels, strict=False):
            rows.append({**inputs, "served": output, "label": label})
    return pd.DataFrame(rows)


@retrain_churn.step(inputs=["recent", "model"], outputs=["candidate_version", "evaluation"],
                    cache=False)
def train_and_compare(recent, model):
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(os.environ["CLOSED_LOOP_URL"])
    mlflow.set_registry_uri(os.environ["CLOSED_LOOP_URL"])
    order = np.random.default_rng(0).permutation(len(recent))
    cut = int(len(recent) * 0.7)
    train, holdout = recent.iloc[order[:cut]], recent.iloc[order[cut:]]
    fitted = LogisticRegression(max_iter=1000).fit(train[FEATURES], train["label"].astype(int))
    with mlflow.start_run(run_name="retrain"):
        info = mlflow.sklearn.log_model(
            fitted, name="model", registered_model_name=model,
            signature=infer_signature(train[FEATURES], fitted.predict(train[FEATURES])),
            serialization_format="skops", pip_requirements=["scikit-learn"])
    return {"candidate_version": int(info.registered_model_version),
            "evaluation": {"y_true": holdout["label"].astype(int).tolist(),
                           "champion": holdout["served"].astype(int).tolist(),
                           "candidate": fitted.predict(holdout[FEATURES]).astype(int).tolist()}}
