"""Runbook actions on LLMOps objects: prompt labels and gateway routes."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from triops.core.errors import Conflict, NotFound, PermissionDenied
from triops.ops.runbooks.actions import Action, ActionContext, Change, Outcome
from triops.store.repos import audit, llm_gateway, llm_spend
from triops.store.repos import prompts as prompt_repo
from triops.store.schema_llm_gateway import GatewayRoute

#: A gateway route is server-wide; a project's runbook may change it only when no
#: other project called it within this window.
ROUTE_SHARED_WINDOW_MS = 7 * 24 * 3600 * 1000


class _LabelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(..., min_length=1)
    label: str = "production"


def _label_target(p: _LabelParams) -> str:
    return f"prompt:{p.prompt}@{p.label}"


class RollbackLabel(Action):
    """Move a prompt label back to the version it held before its last move."""

    name = "prompt.rollback_label"
    can_undo = True
    Params = _LabelParams

    def dry_run(self, ctx: ActionContext, params: _LabelParams) -> list[Change]:
        with ctx.db.read() as session:
            current = prompt_repo.get_label(session, ctx.project, params.prompt,
                                            params.label).version
            history = prompt_repo.label_history(session, ctx.project, params.prompt,
                                                params.label)
        last = next((m for m in history if m.kind != "undo" and not m.undone), None)
        if last is None:
            raise Conflict(f"label '{params.label}' of prompt '{params.prompt}' has no move "
                           "left to roll back")
        return [Change(_label_target(params), "version", current, last.from_version)]

    def run(self, ctx: ActionContext, params: _LabelParams) -> Outcome:
        from triops.llm.prompts import undo_label

        with ctx.db.write() as session:
            move = undo_label(session, ctx.project, params.prompt, params.label, ctx.actor)
            change = Change(_label_target(params), "version", move.from_version, move.to_version)
        ctx.announce("prompt", ctx.project, params.prompt)
        return Outcome([change], undo={"version": change.before})

    def undo(self, ctx: ActionContext, params: _LabelParams, undo: dict[str, Any]
             ) -> list[Change]:
        from triops.llm.prompts import move_label

        with ctx.db.write() as session:
            move = move_label(session, ctx.project, params.prompt, params.label,
                              int(undo["version"]), ctx.actor)
        ctx.announce("prompt", ctx.project, params.prompt)
        return [Change(_label_target(params), "version", move.from_version, move.to_version)]


def _stored_route(ctx: ActionContext, alias: str) -> dict[str, Any]:
    """The stored spec of a route this project alone uses (refused otherwise)."""
    with ctx.db.read() as session:
        row = session.get(GatewayRoute, alias)
        if row is None:
            raise NotFound(f"gateway route {alias!r} is not stored; a runbook can change only "
                           "routes stored through /api/v1/gateway")
        others = llm_spend.projects_of_route(
            session, alias, ctx.clock() - ROUTE_SHARED_WINDOW_MS) - {ctx.project}
        if others:
            raise PermissionDenied(
                f"gateway route {alias!r} also serves project(s) {', '.join(sorted(others))}; "
                f"a runbook of project {ctx.project!r} may not change it")
        return copy.deepcopy(row.spec)


def _put_route(ctx: ActionContext, alias: str, spec: dict[str, Any], action: str) -> None:
    with ctx.db.write() as session:
        before = session.get(GatewayRoute, alias)
        llm_gateway.put_route(session, alias, spec)
        audit.record(session, project=ctx.project, actor=ctx.actor, action=action,
                     target=f"route:{alias}",
                     detail={"from": before.spec if before else None, "to": spec})
    ctx.announce("gateway")


class _RouteAction(Action):
    can_undo = True

    def after(self, ctx: ActionContext, before: dict[str, Any], params: Any) -> dict[str, Any]:
        raise NotImplementedError

    def dry_run(self, ctx: ActionContext, params: Any) -> list[Change]:
        before = _stored_route(ctx, params.route)
        return [Change(f"route:{params.route}", "deployments", before.get("deployments"),
                       self.after(ctx, before, params).get("deployments"))]

    def run(self, ctx: ActionContext, params: Any) -> Outcome:
        before = _stored_route(ctx, params.route)
        after = self.after(ctx, before, params)
        _put_route(ctx, params.route, after, f"gateway.{self.name}")
        return Outcome([Change(f"route:{params.route}", "deployments",
                               before.get("deployments"), after.get("deployments"))],
                       undo={"spec": before})

    def undo(self, ctx: ActionContext, params: Any, undo: dict[str, Any]) -> list[Change]:
        current = _stored_route(ctx, params.route)
        _put_route(ctx, params.route, undo["spec"], "gateway.route.undo")
        return [Change(f"route:{params.route}", "deployments", current.get("deployments"),
                       undo["spec"].get("deployments"))]


class _DrainParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: str = Field(..., min_length=1)
    upstream: str = Field(..., min_length=1)
    weight: float = Field(0.0, ge=0, description="0 drains; more re-weights")
    model: str | None = Field(None, description="only this model's deployment on the upstream, "
                                                "e.g. a canary a rollout added")


class DrainUpstream(_RouteAction):
    """Take an upstream out of a route (weight 0) or give it a new weight; with ``model``,
    only that model's deployment (the way back from a rollout's canary)."""

    name = "gateway.drain_upstream"
    Params = _DrainParams

    def after(self, ctx: ActionContext, before: dict[str, Any], p: _DrainParams
              ) -> dict[str, Any]:
        deployments = before.get("deployments") or []

        def hit(d: dict[str, Any]) -> bool:
            return d.get("upstream") == p.upstream and p.model in (None, d.get("model"))

        if not any(hit(d) for d in deployments):
            what = f"model {p.model!r} on upstream" if p.model else "upstream"
            raise Conflict(f"route {p.route!r} sends nothing to {what} {p.upstream!r}")
        if p.weight > 0:
            kept = [{**d, "weight": p.weight} if hit(d) else d for d in deployments]
        else:
            kept = [d for d in deployments if not hit(d)]
        if not kept:
            raise Conflict(f"draining {p.upstream!r} would leave route {p.route!r} with no "
                           "upstream; use gateway.route_to_fallback")
        return {**before, "deployments": kept}


class _FallbackParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: str = Field(..., min_length=1)
    fallback: str | None = Field(None, description="default: the route's first fallback")


class RouteToFallback(_RouteAction):
    """Serve a route from its fallback's deployments until undone."""

    name = "gateway.route_to_fallback"
    Params = _FallbackParams

    def after(self, ctx: ActionContext, before: dict[str, Any], p: _FallbackParams
              ) -> dict[str, Any]:
        fallbacks = before.get("fallbacks") or []
        target = p.fallback or (fallbacks[0] if fallbacks else None)
        if target is None:
            raise Conflict(f"route {p.route!r} has no fallback; give fallback")
        fallback = _stored_route(ctx, target)
        return {**before, "deployments": copy.deepcopy(fallback.get("deployments") or [])}
