"""Reliance shift: do two versions of a model lean on the same features?

The champion (the monitor's ``model@alias``) and the version a ``ReliancePolicy`` names
(``@challenger`` or a version number) explain the same rows, the window's logged inputs.
Each version's reliance is its mean absolute attribution per feature, normalised to sum
to 1; the shift is the total variation distance between the two, from 0 (the same
features in the same proportions) to 1 (disjoint). A shift above the threshold is a
signal, as drift is: a challenger that is as accurate but for other reasons deserves a
look before it is promoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from triops.core.errors import Conflict
from triops.ml.explain import build_explainer, feature_names, matrix
from triops.ml.serving.deploy import trust_of
from triops.ml.serving.loaders import ModelFiles, artifact_root, load_model
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.repos import deployments, registry


@dataclass(frozen=True)
class Reliance:
    version: int
    features: list[str]
    share: list[float]  # normalised mean |attribution|, sums to 1
    method: str


def _version(db: Database, project: str, model: str, ref: str) -> tuple[int, str]:
    with db.read() as session:
        if ref.startswith("@"):
            _m, row = registry.get_by_alias(session, project, model, ref[1:])
        else:
            _m, row = registry.get_version(session, project, model, ref)
        return row.version, row.storage_location


def reliance_of(db: Database, artifacts: ArtifactStore, project: str, endpoint: str,
                model: str, ref: str, rows: pd.DataFrame) -> Reliance:
    version, location = _version(db, project, model, ref)
    with db.read() as session:
        trust = trust_of(deployments.spec_of(deployments.get(session, project, endpoint)))
    handle = load_model(ModelFiles(artifacts, artifact_root(location, project)), trust=trust)
    features = feature_names(handle, rows)
    x = matrix(rows, features)
    explainer = build_explainer(handle, features, background=x)
    mean_abs = np.abs(explainer.explain(x).values).mean(axis=0)
    total = float(mean_abs.sum())
    share = (mean_abs / total if total > 0 else mean_abs).tolist()
    return Reliance(version, features, share, explainer.method)


def shift(a: Reliance, b: Reliance) -> float:
    """Total variation distance between two reliances (features matched by name)."""
    names = sorted(set(a.features) | set(b.features))
    va, vb = dict(zip(a.features, a.share, strict=True)), dict(zip(b.features, b.share,
                                                                    strict=True))
    return float(0.5 * sum(abs(va.get(n, 0.0) - vb.get(n, 0.0)) for n in names))


def compare(db: Database, artifacts: ArtifactStore, project: str, endpoint: str, model: str,
            champion: str, challenger: str, rows: pd.DataFrame) -> dict[str, Any]:
    if rows.empty:
        raise Conflict("no logged rows to explain")
    a = reliance_of(db, artifacts, project, endpoint, model, champion, rows)
    b = reliance_of(db, artifacts, project, endpoint, model, challenger, rows)
    return {"champion": {"version": a.version, "method": a.method,
                         "share": dict(zip(a.features, a.share, strict=True))},
            "challenger": {"version": b.version, "method": b.method,
                           "share": dict(zip(b.features, b.share, strict=True))},
            "rows": len(rows), "shift": shift(a, b)}
