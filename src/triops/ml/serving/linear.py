"""scikit-learn linear models compiled to one matrix product.

scikit-learn's ``predict`` validates its input on every call (~0.1 ms on a numpy
matrix, ~1 ms on a DataFrame, whatever the number of rows), while the prediction itself
is ``X @ coef_.T + intercept_`` — a few microseconds for the rows online serving sends.
The compiled form does exactly what scikit-learn's ``LinearClassifierMixin`` and
``LinearModel`` do after validation (``MultiOutputLinearModel.predict`` only calls
the latter), with the same arrays and the same numpy
operations, so its outputs are scikit-learn's to the bit; models that override those
methods (or whose predict does more) are left to scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triops.ml.serving.trees import Compiled


def compile_linear(model: Any) -> Compiled | None:
    """The compiled form of a dense linear classifier or regressor, or None."""
    from sklearn.linear_model._base import (
        LinearClassifierMixin,
        LinearModel,
        MultiOutputLinearModel,
    )

    cls = type(model)
    coef = getattr(model, "coef_", None)
    intercept = getattr(model, "intercept_", None)
    if not isinstance(coef, np.ndarray) or coef.dtype != np.float64 \
            or not isinstance(intercept, (np.ndarray, float, int)):
        return None
    classifier = isinstance(model, LinearClassifierMixin) \
        and cls.predict is LinearClassifierMixin.predict \
        and cls.decision_function is LinearClassifierMixin.decision_function
    # Regressors with one target only: several give rows of outputs.
    regressor = not classifier and isinstance(model, LinearModel) and coef.ndim == 1 \
        and cls.predict in (LinearModel.predict, MultiOutputLinearModel.predict) \
        and cls._decision_function is LinearModel._decision_function
    if not (classifier or regressor):
        return None
    coef_t = coef.T if coef.ndim == 2 else coef
    n_features = int(coef.shape[-1])
    classes = getattr(model, "classes_", None)

    def predict_matrix(x: np.ndarray) -> list[Any]:
        scores = x @ coef_t + intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            scores = scores.reshape(-1)
        if not classifier:
            return scores.tolist()
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 \
            else np.argmax(scores, axis=1)
        return classes.take(indices, axis=0).tolist()

    names = getattr(model, "feature_names_in_", None)
    return Compiled(features=[str(n) for n in names] if names is not None else None,
                    n_features=n_features, predict_matrix=predict_matrix,
                    fallback=model.predict)
