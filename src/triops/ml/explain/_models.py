"""From a loaded model (``ModelHandle``) and a table of rows to an explainer's inputs.

The explained rows are float64 in the order of the model's features: the names a
scikit-learn model was fitted with, else the signature's, else the table's own columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from triops.core.errors import InvalidInput
from triops.ml.explain._explainers import Attribution, Explainer, Model, explainer_for
from triops.ml.explain._sklearn_trees import class_index
from triops.ml.serving.loaders import ModelHandle


def feature_names(handle: ModelHandle, frame: pd.DataFrame | None = None) -> list[str]:
    native = handle.native
    names = getattr(native, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if handle.columns:
        return [c.name for c in handle.columns]
    if frame is not None:
        return [str(c) for c in frame.columns]
    raise InvalidInput("the model names no features; give rows with named columns")


def matrix(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The rows as float64 in feature order; refuses missing or non-numeric columns."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidInput(f"the rows lack the model's features: {', '.join(missing[:10])}")
    try:
        return frame[features].to_numpy(dtype=np.float64)
    except (ValueError, TypeError):
        raise InvalidInput("every feature must be numeric to be explained") from None


def output_function(native: Any, features: list[str], target: Any = None
                    ) -> Callable[[np.ndarray], np.ndarray] | None:
    """One number per row from the model, for the model-agnostic explainer: the
    probability of the target class for classifiers, the prediction otherwise."""
    if type(native).__name__ == "InferenceSession":
        return _onnx_function(native, target)
    predict = getattr(native, "predict", None)
    if predict is None:
        return None
    named = getattr(native, "feature_names_in_", None) is not None

    def frame(x: np.ndarray) -> Any:
        return pd.DataFrame(x, columns=features) if named else x

    if hasattr(native, "predict_proba") and hasattr(native, "classes_"):
        k = class_index(native, target)
        return lambda x: np.asarray(native.predict_proba(frame(x)), np.float64)[:, k]
    return lambda x: np.asarray(predict(frame(x)), dtype=np.float64).reshape(len(x), -1)[:, 0]


def _onnx_function(session: Any, target: Any) -> Callable[[np.ndarray], np.ndarray]:
    first = session.get_inputs()[0].name
    outputs = session.get_outputs()

    def run(x: np.ndarray) -> np.ndarray:
        result = session.run(None, {first: x.astype(np.float32)})
        if len(outputs) > 1:  # a classifier: label, then probabilities
            probs = result[1]
            if isinstance(probs, list):  # ZipMap: one {class: probability} per row
                keys = list(probs[0])
                key = keys[-1] if target is None else next(
                    (k for k in keys if str(k) == str(target)), None)
                if key is None:
                    raise InvalidInput(f"class {target!r} is not one of {keys}")
                return np.array([p[key] for p in probs], dtype=np.float64)
            probs = np.asarray(probs, dtype=np.float64)
            return probs[:, -1 if target is None else int(target)]
        return np.asarray(result[0], dtype=np.float64).reshape(len(x), -1)[:, 0]

    return run


def build_explainer(handle: ModelHandle, features: list[str], *,
                    background: np.ndarray | None = None, target: Any = None,
                    method: str | None = None) -> Explainer:
    native = handle.native
    if native is None:
        raise InvalidInput(f"a {handle.format} model cannot be explained yet")
    model = Model(native=native, features=features,
                  function=output_function(native, features, target),
                  background=background, target=target)
    return explainer_for(model, method)


def explain_frame(handle: ModelHandle, frame: pd.DataFrame, *,
                  background: pd.DataFrame | None = None, target: Any = None,
                  method: str | None = None) -> Attribution:
    """Attributions of every row of ``frame``; the background defaults to ``frame``.

    >>> from sklearn.tree import DecisionTreeRegressor
    >>> from triops.ml.serving.loaders import ModelHandle
    >>> x = pd.DataFrame({"a": [0.0, 1.0, 0.0, 1.0], "b": [0.0, 0.0, 1.0, 1.0]})
    >>> tree = DecisionTreeRegressor().fit(x, [0.0, 1.0, 2.0, 3.0])
    >>> handle = ModelHandle(predict=tree.predict, columns=None, format="skops", native=tree)
    >>> got = explain_frame(handle, x.iloc[[3]])
    >>> got.method, float(got.base_values[0]), got.values.round(6).tolist()
    ('tree-path-dependent', 1.5, [[0.5, 1.0]])
    """
    features = feature_names(handle, frame)
    x = matrix(frame, features)
    bg = matrix(background, features) if background is not None else x
    explainer = build_explainer(handle, features, background=bg, target=target,
                                method=method)
    return explainer.explain(x)
