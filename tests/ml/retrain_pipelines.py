"""Pipelines the monitor and pipeline tests register by reference (``module:name``)."""

from __future__ import annotations

import time

import numpy as np

from triops.ml.pipelines import Pipeline
from triops.store.repos import registry

#: Calls per step, so tests can tell cache hits from real runs.
CALLS: dict[str, int] = {}
#: The store the retraining pipeline registers its candidate in (set by the test).
STORE: dict[str, object] = {}

numbers = Pipeline("numbers", params=["n", "scale"])


@numbers.step(inputs=["n"], outputs=["raw"])
def make(n):
    CALLS["make"] = CALLS.get("make", 0) + 1
    return np.arange(n, dtype=np.float64)


@numbers.step(inputs=["raw", "scale"], outputs=["scaled", "total"])
def scale_it(raw, scale):
    CALLS["scale_it"] = CALLS.get("scale_it", 0) + 1
    scaled = raw * scale
    return {"scaled": scaled, "total": float(scaled.sum())}


broken = Pipeline("broken", params=[])


@broken.step(outputs=["x"])
def explode():
    raise RuntimeError("boom")


retrain = Pipeline("retrain", params=["model", "champion_version", "project"])


@retrain.step(inputs=["model", "project"], outputs=["candidate_version"], cache=False)
def train(model, project):
    db = STORE["db"]
    with db.write() as session:  # type: ignore[attr-defined]
        row = registry.create_version(session, project, model, source="models:/candidate",
                                      run_id=None)
        return row.version


@retrain.step(inputs=["candidate_version", "champion_version"], outputs=["evaluation"],
              cache=False)
def evaluate(candidate_version, champion_version):
    y = [0, 1] * 50
    quality = STORE.get("candidate_quality", "better")
    candidate = y if quality == "better" else [1 - v for v in y]
    champion = [0] * 100
    return {"y_true": y, "champion": champion, "candidate": candidate}


side_by_side = Pipeline("side_by_side", params=["meeting"])


def _meet(meeting: str, me: str, other: str) -> bool:
    """Say ``me`` has started, then wait (bounded) for ``other`` to start: True when both
    were running at once, which only an executor that runs them side by side allows."""
    from pathlib import Path

    Path(meeting, me).touch()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if Path(meeting, other).exists():
            return True
        time.sleep(0.05)
    return False


@side_by_side.step(inputs=["meeting"], outputs=["left_met_right"], cache=False)
def left(meeting):
    return _meet(meeting, "left", "right")


@side_by_side.step(inputs=["meeting"], outputs=["right_met_left"], cache=False)
def right(meeting):
    return _meet(meeting, "right", "left")


@side_by_side.step(inputs=["left_met_right", "right_met_left"], outputs=["met"], cache=False)
def both(left_met_right, right_met_left):
    return left_met_right and right_met_left
