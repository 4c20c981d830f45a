"""Runbook actions on MLOps objects: model aliases, endpoint traffic, retraining."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from triops.core.errors import Conflict, NotFound
from triops.ops.runbooks.actions import Action, ActionContext, Change, Outcome
from triops.store.repos import audit, deployments, registry

ALIAS_MOVE = "model.alias.move"


def _alias_target(model: str, alias: str) -> str:
    return f"model:{model}@{alias}"


def _current(ctx: ActionContext, model: str, alias: str) -> int:
    with ctx.db.read() as session:
        return registry.get_by_alias(session, ctx.project, model, alias)[1].version


def previous_version(ctx: ActionContext, model: str, alias: str, current: int) -> int:
    """The version ``alias`` pointed at before it last moved to ``current``.

    Rollbacks are skipped, so rolling back twice keeps walking back through the
    history instead of bouncing between two versions.
    """
    with ctx.db.read() as session:
        moves = audit.of_target(session, ctx.project, ALIAS_MOVE, _alias_target(model, alias))
    for move in moves:
        detail = move.detail or {}
        if detail.get("rollback") or detail.get("to") != current:
            continue
        if detail.get("from") is not None:
            return int(detail["from"])
    raise Conflict(f"alias '{alias}' of model '{model}' has no recorded earlier version to "
                   f"roll back to; give to_version")


def _move_alias(ctx: ActionContext, model: str, alias: str, to: int,
                detail: dict[str, Any]) -> int:
    with ctx.db.write() as session:
        before = registry.get_by_alias(session, ctx.project, model, alias)[1].version
        registry.set_alias(session, ctx.project, model, alias, to)
        audit.record(session, project=ctx.project, actor=ctx.actor, action=ALIAS_MOVE,
                     target=_alias_target(model, alias),
                     detail={"from": before, "to": to, **detail})
    return before


class _AliasParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., min_length=1)
    alias: str = "champion"
    to_version: int | None = Field(None, ge=1, description="default: the previous version")


class RollbackAlias(Action):
    name = "model.rollback_alias"
    can_undo = True
    Params = _AliasParams

    def _plan(self, ctx: ActionContext, p: _AliasParams) -> tuple[int, int]:
        current = _current(ctx, p.model, p.alias)
        target = p.to_version or previous_version(ctx, p.model, p.alias, current)
        with ctx.db.read() as session:
            registry.get_version(session, ctx.project, p.model, target)
        return current, target

    def dry_run(self, ctx: ActionContext, params: _AliasParams) -> list[Change]:
        current, target = self._plan(ctx, params)
        return [Change(_alias_target(params.model, params.alias), "version", current, target)]

    def run(self, ctx: ActionContext, params: _AliasParams) -> Outcome:
        _current_version, target = self._plan(ctx, params)
        before = _move_alias(ctx, params.model, params.alias, target, {"rollback": True})
        return Outcome([Change(_alias_target(params.model, params.alias), "version", before,
                               target)], undo={"version": before})

    def undo(self, ctx: ActionContext, params: _AliasParams, undo: dict[str, Any]
             ) -> list[Change]:
        back = int(undo["version"])
        before = _move_alias(ctx, params.model, params.alias, back, {"undo": True})
        return [Change(_alias_target(params.model, params.alias), "version", before, back)]


class _TrafficParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(..., min_length=1)
    canary_percent: float = Field(..., ge=0, le=100)
    canary_ref: str | None = Field(None, description="@alias or a version; default: kept")


def _set_policy(ctx: ActionContext, endpoint: str, policy: dict[str, Any],
                action: str) -> dict[str, Any]:
    with ctx.db.write() as session:
        row = deployments.get(session, ctx.project, endpoint)
        before = dict(row.policy or {})
        row.policy = policy
        row.updated_ms = ctx.clock()
        audit.record(session, project=ctx.project, actor=ctx.actor, action=action,
                     target=f"endpoint:{endpoint}", detail={"from": before, "to": policy})
    return before


def _policy(ctx: ActionContext, endpoint: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        return dict(deployments.get(session, ctx.project, endpoint).policy or {})


class _EndpointAction(Action):
    can_undo = True

    def after(self, before: dict[str, Any], params: Any) -> dict[str, Any]:
        raise NotImplementedError

    def dry_run(self, ctx: ActionContext, params: Any) -> list[Change]:
        before = _policy(ctx, params.endpoint)
        return [Change(f"endpoint:{params.endpoint}", "traffic policy", before,
                       self.after(before, params))]

    def run(self, ctx: ActionContext, params: Any) -> Outcome:
        after = self.after(_policy(ctx, params.endpoint), params)
        before = _set_policy(ctx, params.endpoint, after, f"endpoint.{self.name}")
        return Outcome([Change(f"endpoint:{params.endpoint}", "traffic policy", before, after)],
                       undo={"policy": before})

    def undo(self, ctx: ActionContext, params: Any, undo: dict[str, Any]) -> list[Change]:
        before = _set_policy(ctx, params.endpoint, undo["policy"], "endpoint.traffic.undo")
        return [Change(f"endpoint:{params.endpoint}", "traffic policy", before, undo["policy"])]


class ShiftTraffic(_EndpointAction):
    """Send ``canary_percent`` of an endpoint's requests to its canary (0 stops it)."""

    name = "deployment.shift_traffic"
    Params = _TrafficParams

    def after(self, before: dict[str, Any], params: _TrafficParams) -> dict[str, Any]:
        ref = params.canary_ref or (before.get("canary") or {}).get("ref")
        if ref is None:
            raise Conflict(f"endpoint '{params.endpoint}' has no canary; give canary_ref")
        return {**before, "canary": {"ref": ref, "percent": params.canary_percent}}


class _EndpointParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(..., min_length=1)


class RollbackDeployment(_EndpointAction):
    """Take the canary out: every request goes to the endpoint's primary version."""

    name = "deployment.rollback"
    Params = _EndpointParams

    def after(self, before: dict[str, Any], params: _EndpointParams) -> dict[str, Any]:
        if "canary" not in before:
            raise Conflict(f"endpoint '{params.endpoint}' has no canary to roll back")
        return {k: v for k, v in before.items() if k != "canary"}


class _RetrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: str = Field(..., min_length=1, description="a registered pipeline")
    model: str = Field(..., min_length=1)
    alias: str = "champion"
    metric: str = "accuracy"
    min_improvement: float = 0.0
    task: Literal["classification", "regression"] = "classification"


class RunPipeline(Action):
    """Retrain with a registered pipeline; the alias moves only when the candidate beats
    the champion (the champion/challenger policy of ``triops.ml.retraining``)."""

    name = "pipeline.run"
    Params = _RetrainParams

    def dry_run(self, ctx: ActionContext, params: _RetrainParams) -> list[Change]:
        from triops.store.repos import monitoring

        with ctx.db.read() as session:
            monitoring.get_pipeline(session, ctx.project, params.pipeline)
            try:
                champion: int | None = registry.get_by_alias(
                    session, ctx.project, params.model, params.alias)[1].version
            except NotFound:
                champion = None
        return [Change(_alias_target(params.model, params.alias), "version", champion,
                       f"a version trained by pipeline '{params.pipeline}', if it beats the "
                       f"champion on {params.metric}")]

    def run(self, ctx: ActionContext, params: _RetrainParams) -> Outcome:
        # Imported on use: retraining pulls numpy and the pipeline machinery.
        from triops.ml.monitoring.spec import RetrainPolicy
        from triops.ml.retraining import retrain

        if ctx.artifacts is None:
            raise Conflict("pipeline.run needs the server's artifact store")
        policy = RetrainPolicy(pipeline=params.pipeline, metric=params.metric,
                               min_improvement=params.min_improvement, task=params.task)
        outcome = retrain(ctx.db, ctx.artifacts, ctx.project, model=params.model,
                          alias=params.alias, policy=policy, trigger="runbook",
                          actor=ctx.actor, pipeline_modules=ctx.pipeline_modules)
        if outcome.status != "succeeded":
            raise Conflict(f"retraining run {outcome.run_id} failed: {outcome.reason}")
        after = outcome.candidate_version if outcome.promoted else outcome.champion_version
        changes = [Change(_alias_target(params.model, params.alias), "version",
                          outcome.champion_version, after)]
        return Outcome(changes, detail={"run_id": outcome.run_id, "promoted": outcome.promoted,
                                        "reason": outcome.reason})
