"""The serving benchmark's models: the same data, seed and estimators on every side.

Imported by ``bench/serving.py`` and run as a script in the mlflow peer venv, where it
logs the forest to an MLflow tracking store (SQLite) and prints the model URI for ``mlflow
models serve``. Needs only scikit-learn, numpy, pandas (and mlflow when run as a script).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

N_FEATURES = 20


def data() -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(n_samples=5000, n_features=N_FEATURES, n_informative=10,
                               random_state=0)
    return pd.DataFrame(x, columns=[f"f{i}" for i in range(N_FEATURES)]), y


def model() -> RandomForestClassifier:
    x, y = data()
    return RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0).fit(x, y)


def logistic() -> LogisticRegression:
    x, y = data()
    return LogisticRegression(max_iter=1000).fit(x, y)


def log_to_store(tracking_uri: str) -> str:
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri)
    x, _ = data()
    m = model()
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(m, name="model",
                                        signature=infer_signature(x, m.predict(x)),
                                        pip_requirements=["scikit-learn"],
                                        # MLflow 3.17 saves sklearn models with skops by
                                        # default and asks for tree types to be trusted.
                                        skops_trusted_types=["sklearn.tree._tree.Tree"])
    return info.model_uri


if __name__ == "__main__":
    print(log_to_store(sys.argv[1]))
