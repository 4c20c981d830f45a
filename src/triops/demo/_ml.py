"""Loop 1 (ML): a challenger is promoted, drift and an accuracy drop follow, the incident
ranks the promotion first, the runbook rolls the alias back, the signals stop.

The model is a logistic regression kept as JSON (so the demo needs no ML library). Both
versions live in the registry as real artifacts. A monitor in this loop plays the model's
traffic: each tick it resolves ``churn@champion`` through the MLflow API, scores a batch
of the bundled churn data with whatever version the alias points at, and tests the batch
against the champion's reference with triops' PSI drift test and against the labels for
accuracy; a breach is posted as a signal, as a scheduled monitor posts it.
"""

from __future__ import annotations

import csv
import json
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np

from triops.demo._context import DemoContext, LoopFailed, LoopResult
from triops.ml.monitoring import REGISTRY, ColumnSample

NAME = "ml"
MODEL, ALIAS = "churn", "champion"
SUBJECT = f"model:{MODEL}@{ALIAS}"
MLFLOW = "/api/2.0/mlflow"
PSI_THRESHOLD = 0.2
ACCURACY_DROP = 0.1
BATCH = 120

RUNBOOK = f"""\
description: roll the churn champion back when drift follows a promotion
trigger:
  kind: drift
  source: ml
  entity: "{SUBJECT}"
  min_severity: warning
  cause: {{kind: model.alias.moved, within_top: 1}}
steps:
  - action: model.rollback_alias
    params: {{model: "{MODEL}", alias: "{ALIAS}"}}
approval: required
limits: {{max_runs_per_hour: 3, max_concurrent: 1}}
cooldown: 10m
verification: {{clear_within: 8s, settle: 2s, on_fail: undo}}
"""


def _data() -> tuple[np.ndarray, np.ndarray]:
    text = resources.files("triops.demo").joinpath("data/churn.csv").read_text()
    rows = list(csv.reader(text.splitlines()))[1:]
    table = np.array(rows, dtype=float)
    return table[:, :-1], table[:, -1].astype(int)


def _bundled_model(version: int) -> bytes:
    return resources.files("triops.demo").joinpath(f"data/churn_v{version}.json").read_bytes()


def _probabilities(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    z = x @ np.asarray(model["weights"], dtype=float) + float(model["bias"])
    return 1 / (1 + np.exp(-z))


@dataclass
class _Monitor:
    ctx: DemoContext
    x: np.ndarray
    y: np.ndarray
    reference: np.ndarray
    reference_accuracy: float
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))
    models: dict[int, dict[str, Any]] = field(default_factory=dict)
    first_signal_ms: int | None = None
    incidents: dict[str, str] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)

    def _champion(self) -> tuple[int, dict[str, Any]]:
        found = self.ctx.call("GET", f"{MLFLOW}/registered-models/alias",
                              params={"name": MODEL, "alias": ALIAS})["model_version"]
        version = int(found["version"])
        if version not in self.models:
            path = found["source"].removeprefix("mlflow-artifacts:/")
            reply = self.ctx.http.get(f"/api/2.0/mlflow-artifacts/artifacts/{path}/model.json")
            if not reply.is_success:
                raise LoopFailed(f"model {MODEL} version {version}: its artifact answered "
                                 f"{reply.status_code}")
            self.models[version] = json.loads(reply.content)
        return version, self.models[version]

    def tick(self) -> None:
        """Score one batch with the current champion; post a signal for each breach."""
        served_ms = int(time.time() * 1000)
        version, model = self._champion()
        rows = self.rng.choice(len(self.y), BATCH, replace=False)
        scores = _probabilities(model, self.x[rows])
        psi = REGISTRY.get("psi").score(ColumnSample(self.reference, "numeric"),
                                        ColumnSample(scores, "numeric"))
        accuracy = float(((scores > 0.5) == self.y[rows]).mean())
        self.last = {"version": version, "psi": psi, "accuracy": accuracy}
        breaches = []
        if psi > PSI_THRESHOLD:
            breaches.append(("drift", psi, (f"prediction drift on {MODEL}: PSI {psi:.2f} "
                                            f"over {PSI_THRESHOLD} (version {version})")))
        if accuracy < self.reference_accuracy - ACCURACY_DROP:
            breaches.append(("performance", accuracy,
                             (f"accuracy of {MODEL} fell to {accuracy:.0%} from "
                              f"{self.reference_accuracy:.0%} (version {version})")))
        for kind, value, summary in breaches:
            # Stamped when the batch was served: that is when the predictions were made.
            folded = self.ctx.call("POST", "/api/v1/signals", json={
                "source": "ml", "kind": kind, "subject": SUBJECT, "severity": "warning",
                "value": value, "time_ms": served_ms, "summary": summary,
                "labels": {"model": MODEL}})
            if kind not in self.incidents:
                self.incidents[kind] = folded["incident_id"]
                self.ctx.say(NAME, f"[red]signal[/] {summary} → incident {folded['incident_id']}")
            if self.first_signal_ms is None:
                self.first_signal_ms = served_ms

    @property
    def drift_incident(self) -> str | None:
        return self.incidents.get("drift")


def _register(ctx: DemoContext) -> None:
    ctx.call("POST", f"{MLFLOW}/registered-models/create", json={"name": MODEL})
    for version in (1, 2):
        rel = f"0/models/m-{uuid.uuid4().hex}/artifacts"
        ctx.call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{rel}/model.json",
                 content=_bundled_model(version))
        ctx.call("POST", f"{MLFLOW}/model-versions/create",
                 json={"name": MODEL, "source": f"mlflow-artifacts:/{rel}"})
    _move_alias(ctx, 1)


def _move_alias(ctx: DemoContext, version: int) -> None:
    ctx.call("POST", f"{MLFLOW}/registered-models/alias",
             json={"name": MODEL, "alias": ALIAS, "version": str(version)})


def play(ctx: DemoContext) -> LoopResult:
    x, y = _data()
    ctx.put_runbook("rollback-churn", RUNBOOK)
    _register(ctx)
    champion = json.loads(_bundled_model(1))
    reference = _probabilities(champion, x)
    accuracy = float(((reference > 0.5) == y).mean())
    ctx.say(NAME, f"model {MODEL}: versions 1 and 2 registered, {ALIAS} → 1 (accuracy "
                  f"{accuracy:.0%} on {len(y)} labelled rows); runbook rollback-churn applied")
    monitor = _Monitor(ctx, x, y, reference, accuracy)
    for _ in range(3):
        monitor.tick()
    if monitor.first_signal_ms is not None:
        raise LoopFailed("the monitor flagged the champion before any promotion")
    ctx.say(NAME, f"monitor on version 1: PSI {monitor.last['psi']:.2f}, accuracy "
                  f"{monitor.last['accuracy']:.0%}: healthy")
    _move_alias(ctx, 2)
    ctx.say(NAME, f"[bold]challenger promoted[/]: {ALIAS} → version 2 (a change event)")
    incident_id = ctx.wait_for("a drift signal", lambda: monitor.drift_incident,
                               tick=monitor.tick)
    causes = ctx.wait_for("probable causes", lambda: ctx.call(
        "GET", f"/api/v1/incidents/{incident_id}/causes") or None)
    ctx.say(NAME, f"first cause: {causes[0]['entity']} ({causes[0]['kind']}, score "
                  f"{causes[0]['score']:.2f}): {causes[0]['evidence']}")
    run = ctx.see_run_through(NAME, incident_id, tick=monitor.tick)
    monitor.tick()
    version = monitor.last["version"]
    ctx.say(NAME, f"monitor on version {version:.0f}: PSI {monitor.last['psi']:.2f}, "
                  f"accuracy {monitor.last['accuracy']:.0%}")
    # The accuracy drop is an incident of its own; the rollback has to end it too.
    quiet = all(row["last_ms"] <= run["acted_ms"] for row in ctx.call(
        "GET", "/api/v1/incidents") if row["subject"] == SUBJECT)
    promoted_first = (causes[0]["entity"], causes[0]["kind"]) == (SUBJECT, "model.alias.moved")
    closed = promoted_first and run["status"] == "succeeded" and version == 1 and quiet
    summary = (f"causes[0] {causes[0]['entity']} {causes[0]['kind']}; run {run['status']} "
               f"({run['reason']}); {ALIAS} at version {version:.0f}; "
               f"{'no' if quiet else 'still a'} drift or accuracy signal after the rollback")
    return LoopResult(NAME, closed, summary, monitor.first_signal_ms, run["acted_ms"],
                      facts={"incident_id": incident_id, "run_id": run["id"], **monitor.last})
