"""Retraining that closes the loop: run the registered pipeline, compare its candidate
with the champion on the holdout, and move the alias only when the policy says so.

The pipeline (registered under the monitor's ``retrain.pipeline`` name) receives any of
the parameters ``model``, ``alias``, ``champion_version`` and ``project`` it declares, and
must produce two outputs:

* ``candidate_version`` — the registered version it trained (an int);
* ``evaluation`` — ``{"y_true": [...], "champion": [...], "candidate": [...]}``, both
  models' predictions on the same holdout (optionally ``champion_score`` and
  ``candidate_score`` for ROC AUC).

triops scores both with the same metric code the monitors use, so the decision does not
depend on how the pipeline computes its own numbers. Every step lands in the audit log.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from triops.core.errors import InvalidInput, NotFound
from triops.ml.monitoring.performance import HIGHER_IS_BETTER, metrics
from triops.ml.monitoring.spec import RetrainPolicy
from triops.ml.pipelines import Executor, load_registered, run_pipeline
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.repos import audit, registry
from triops.store.repos import monitoring as repo


@dataclass(frozen=True)
class RetrainOutcome:
    run_id: str
    status: str
    champion_version: int | None
    candidate_version: int | None
    champion_score: float | None
    candidate_score: float | None
    promoted: bool
    reason: str


def decide(policy: RetrainPolicy, champion: float, candidate: float) -> tuple[bool, str]:
    """Promote only a strict improvement of at least ``min_improvement``."""
    gain = candidate - champion if HIGHER_IS_BETTER[policy.metric] else champion - candidate
    if gain > 0 and gain >= policy.min_improvement:
        return True, f"{policy.metric} improved by {gain:.4f} (needs {policy.min_improvement})"
    return False, (f"{policy.metric} changed by {gain:+.4f}; "
                   f"needs an improvement of at least {policy.min_improvement}")


def _score(policy: RetrainPolicy, evaluation: dict[str, Any], who: str) -> float:
    value = metrics(policy.task, evaluation["y_true"], evaluation[who],
                    evaluation.get(f"{who}_score"))
    if policy.metric not in value:
        raise InvalidInput(f"metric {policy.metric!r} cannot be computed for this holdout")
    return value[policy.metric]


def retrain(db: Database, artifacts: ArtifactStore, project: str, *, model: str, alias: str,
            policy: RetrainPolicy, trigger: str, actor: str = "retraining",
            executor: Executor | None = None,
            pipeline_modules: Collection[str] = ()) -> RetrainOutcome:
    with db.read() as session:
        registered = repo.get_pipeline(session, project, policy.pipeline)
        try:
            champion_version: int | None = registry.get_by_alias(
                session, project, model, alias)[1].version
        except NotFound:
            champion_version = None
    pipeline = load_registered(registered.ref, pipeline_modules, artifacts, project)
    offered = {"model": model, "alias": alias, "champion_version": champion_version,
               "project": project}
    unknown = [p for p in pipeline.params if p not in offered]
    if unknown:
        raise InvalidInput(f"retraining pipeline {policy.pipeline!r} declares parameters "
                           f"{unknown}; it may only take {sorted(offered)}")
    with db.write() as session:
        audit.record(session, project=project, actor=actor, action="retraining.start",
                     target=f"model:{model}@{alias}",
                     detail={"pipeline": policy.pipeline, "trigger": trigger,
                             "champion_version": champion_version})
    run = run_pipeline(db, artifacts, project, pipeline,
                       {p: offered[p] for p in pipeline.params}, ref=registered.ref,
                       executor=executor, trigger=trigger, actor=actor,
                       name=registered.name)
    if run.status != "succeeded":
        with db.write() as session:
            audit.record(session, project=project, actor=actor, action="retraining.fail",
                         target=f"model:{model}@{alias}",
                         detail={"run_id": run.run_id, "error": run.error})
        return RetrainOutcome(run.run_id, "failed", champion_version, None, None, None, False,
                              run.error)
    try:
        candidate = int(run.values["candidate_version"])
        evaluation = run.values["evaluation"]
        candidate_score = _score(policy, evaluation, "candidate")
        champion_score = _score(policy, evaluation, "champion") if champion_version else None
    except (KeyError, TypeError, ValueError, InvalidInput) as exc:
        reason = (f"the pipeline must output candidate_version and evaluation "
                  f"{{y_true, champion, candidate}}: {exc}")
        with db.write() as session:
            audit.record(session, project=project, actor=actor, action="retraining.fail",
                         target=f"model:{model}@{alias}",
                         detail={"run_id": run.run_id, "error": reason})
        return RetrainOutcome(run.run_id, "failed", champion_version, None, None, None, False,
                              reason)
    if champion_score is None:
        promote, reason = True, "no champion held the alias"
    else:
        promote, reason = decide(policy, champion_score, candidate_score)
    with db.write() as session:
        audit.record(session, project=project, actor=actor, action="retraining.evaluate",
                     target=f"model:{model}@{alias}",
                     detail={"run_id": run.run_id, "metric": policy.metric,
                             "champion_version": champion_version,
                             "candidate_version": candidate, "champion": champion_score,
                             "candidate": candidate_score, "promote": promote,
                             "reason": reason})
        if promote:
            registry.set_alias(session, project, model, alias, candidate, actor=actor)
            audit.record(session, project=project, actor=actor, action="model.alias.move",
                         target=f"model:{model}@{alias}",
                         detail={"from": champion_version, "to": candidate,
                                 "run_id": run.run_id})
    return RetrainOutcome(run.run_id, "succeeded", champion_version, candidate,
                          champion_score, candidate_score, promote, reason)
