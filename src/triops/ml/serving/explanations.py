"""Explanations at serving time, and the global importance read from the prediction log.

A served version's explainer is built once, on the first request that asks for one
(an exact tree explainer needs only the model; linear and sampling explainers take
their background from the endpoint's last logged rows), then kept with the loaded
version. Attributions asked for with a prediction are logged with it, so that the
importance of a version is the mean absolute attribution per feature over its logged
predictions; rows logged without attributions are explained from their logged inputs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from triops.core.errors import InvalidInput
from triops.ml.explain import Attribution, Explainer, build_explainer, feature_names, matrix
from triops.ml.serving.loaders import ModelHandle
from triops.ml.serving.predictions import PredictionRecord, predictions_window

#: Logged rows a background sample is taken from.
BACKGROUND_ROWS = 100


@dataclass
class ExplainerSlot:
    """The explainer of one loaded version, built at most once."""

    lock: threading.Lock
    explainer: Explainer | None = None


def explainer_of(slot: ExplainerSlot, handle: ModelHandle, columns: list[str],
                 background: Callable[[], pd.DataFrame | None]) -> Explainer:
    """Build (once) and return the explainer of a loaded version. Runs in a thread."""
    if slot.explainer is not None:
        return slot.explainer
    with slot.lock:
        if slot.explainer is None:
            frame = pd.DataFrame(columns=columns)
            features = feature_names(handle, frame)
            bg = None
            try:
                built = build_explainer(handle, features)
            except InvalidInput:
                logged = background()
                if logged is None or logged.empty:
                    raise InvalidInput(
                        "this model needs a background sample to be explained, taken from "
                        "the endpoint's logged predictions; none are logged yet") from None
                bg = matrix(logged, features)
                built = build_explainer(handle, features, background=bg)
            slot.explainer = built
    return slot.explainer


def batch_handle(explainer: Explainer) -> ModelHandle:
    """The explainer as a model whose output per row is (attributions, base value), so
    that a ``Batcher`` explains concurrent requests in one call, as it predicts them."""
    def rows_of(x: np.ndarray) -> list[Any]:
        got = explainer.explain(x)
        return list(zip(got.values, got.base_values, strict=True))

    return ModelHandle(predict=lambda frame: rows_of(matrix(frame, explainer.features)),
                       columns=None, format=f"explainer:{explainer.method}",
                       predict_matrix=rows_of, matrix_columns=list(explainer.features))


def from_batch(explainer: Explainer, rows: list[Any]) -> dict[str, Any]:
    """What ``batch_handle``'s outputs for one request are logged (and returned) as."""
    return as_logged(Attribution(list(explainer.features),
                                 np.array([r[0] for r in rows]).reshape(len(rows), -1),
                                 np.array([r[1] for r in rows]), explainer.method,
                                 explainer.output))


def as_logged(attribution: Attribution) -> dict[str, Any]:
    """How attributions are stored in a prediction record (and returned by the API)."""
    return {"method": attribution.method, "output": attribution.output,
            "features": list(attribution.features),
            "base_values": [float(b) for b in attribution.base_values],
            "values": np.round(attribution.values, 12).tolist()}


def background_frame(found: list[PredictionRecord]) -> pd.DataFrame | None:
    rows = [row for p in found for row in p.inputs]
    return pd.DataFrame(rows[-BACKGROUND_ROWS:]) if rows else None


@dataclass
class Importance:
    """Mean absolute attribution per feature over ``rows`` logged rows of a version."""

    version: int
    features: list[str]
    mean_abs: list[float]
    rows: int
    logged: int  # of those rows, how many carried attributions from serving time
    method: str

    def normalised(self) -> np.ndarray:
        v = np.asarray(self.mean_abs, dtype=np.float64)
        total = v.sum()
        return v / total if total > 0 else v

    def as_dict(self) -> dict[str, Any]:
        order = np.argsort(self.mean_abs)[::-1]
        return {"version": self.version, "rows": self.rows, "logged": self.logged,
                "method": self.method,
                "features": [{"feature": self.features[i], "mean_abs": self.mean_abs[i]}
                             for i in order]}


def importance(version: int, explainer: Explainer, found: list[PredictionRecord],
               every_row: bool = False) -> Importance:
    """Global importance of ``version`` from the logged predictions it served, or from
    ``every_row`` logged (to compare versions on the same inputs)."""
    features = explainer.features
    sums = np.zeros(len(features))
    rows = logged = 0
    unexplained: list[dict[str, Any]] = []
    for p in found:
        if p.version != version and not every_row:
            continue
        stored = p.explanation if p.version == version else None
        if stored and stored.get("features") == features:
            values = np.abs(np.asarray(stored["values"], dtype=np.float64))
            sums += values.sum(axis=0)
            rows += len(values)
            logged += len(values)
        else:
            unexplained.extend(p.inputs)
    if unexplained:
        values = explainer.explain(matrix(pd.DataFrame(unexplained), features)).values
        sums += np.abs(values).sum(axis=0)
        rows += len(values)
    if rows == 0:
        raise InvalidInput(f"version {version} has no logged predictions to explain")
    return Importance(version, features, (sums / rows).tolist(), rows, logged,
                      explainer.method)


def importance_shift(a: Importance, b: Importance) -> float:
    """How far apart two versions' reliance on features is: the total variation
    distance between their normalised importances, 0 (same) to 1 (disjoint)."""
    if a.features != b.features:
        names = sorted(set(a.features) | set(b.features))
        va = dict(zip(a.features, a.normalised(), strict=True))
        vb = dict(zip(b.features, b.normalised(), strict=True))
        return float(0.5 * sum(abs(va.get(n, 0.0) - vb.get(n, 0.0)) for n in names))
    return float(0.5 * np.abs(a.normalised() - b.normalised()).sum())


def logged_importance(db: Any, project: str, endpoint: str, version: int,
                      limit: int = 1000) -> dict[str, Any] | None:
    """Mean absolute attribution per feature from the attributions logged with the
    endpoint's last ``limit`` predictions of ``version`` (no model is loaded), or None."""
    with db.read() as session:
        found = predictions_window(session, project, endpoint, limit=limit)
    sums: dict[str, float] = {}
    rows = 0
    for p in found:
        stored = p.explanation
        if p.version != version or not stored:
            continue
        values = np.abs(np.asarray(stored.get("values") or [], dtype=np.float64))
        if values.ndim != 2 or values.shape[1] != len(stored.get("features") or []):
            continue
        for name, total in zip(stored["features"], values.sum(axis=0), strict=True):
            sums[name] = sums.get(name, 0.0) + float(total)
        rows += len(values)
    if not rows:
        return None
    mean = {k: v / rows for k, v in sums.items()}
    top = max(mean.values()) or 1.0
    ranked = sorted(mean.items(), key=lambda kv: kv[1], reverse=True)
    return {"endpoint": endpoint, "rows": rows,
            "features": [{"feature": k, "mean_abs": v, "width": 100 * v / top}
                         for k, v in ranked]}
