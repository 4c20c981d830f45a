"""Fine-tuning jobs and rollouts: the jobs with their status, events, metrics, training
data and resulting model; the eval-gated rollouts with their gate result, the canary's
share of its route now, and what the watching online evaluator sees.

A job page brings the job up to date with its provider, as the API's reads do. Rollouts
are read from the audit log (``gateway.route.rollout`` and
``gateway.route.rollout_refused``), which records each gate's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.core.errors import NotFound, TriopsError
from triops.llm import eval_store
from triops.llm.evals import rollout as rollout_gate
from triops.ml import fine_tuning
from triops.ml import lineage as ml_lineage
from triops.server import audit_log
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.fine_tuning import synced
from triops.server.runtime import Runtime, runtime_of
from triops.ui.ml_charts import Series, overlay_chart
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm", include_in_schema=False)


@dataclass(frozen=True)
class Rollout:
    id: int
    time_ms: int
    actor: str
    alias: str
    passed: bool
    detail: dict[str, Any]
    #: The candidate's share of its route's weight now, in percent (None: no such route).
    share_now: float | None
    #: The watcher's ``config`` and ``state`` (per scorer), when it still exists.
    watch: dict[str, Any] | None

    @property
    def candidate(self) -> dict[str, str]:
        return self.detail.get("candidate") or {}


def _share(rt: Runtime, alias: str, candidate: dict[str, str]) -> float | None:
    route = rt.gateway.snapshot.table.routes.get(alias)
    if route is None:
        return None
    weights = [(d.upstream, d.model, float(d.weight)) for d in route.deployments]
    total = sum(w for _, _, w in weights)
    mine = sum(w for u, m, w in weights
               if (u, m) == (candidate.get("upstream"), candidate.get("model")))
    return round(100 * mine / total, 2) if total else 0.0


def _rollouts(rt: Runtime, project: str, entries: list[Any]) -> list[Rollout]:
    found = []
    with rt.db.read() as session:
        for e in entries:
            watcher = e.detail.get("watcher")
            watch = None
            if watcher:
                try:
                    row = eval_store.get_online(session, project, watcher)
                    watch = {"config": row.config, "state": row.state, "enabled": row.enabled}
                except NotFound:
                    watch = None
            found.append(Rollout(
                id=e.id, time_ms=e.time_ms, actor=e.actor, alias=e.target,
                passed=bool(e.detail.get("passed", e.action == rollout_gate.ROLLED_OUT)),
                detail=e.detail, watch=watch,
                share_now=_share(rt, e.target, e.detail.get("candidate") or {})
                if e.action == rollout_gate.ROLLED_OUT else None))
    return found


@router.get("/fine-tuning", response_class=HTMLResponse)
def jobs_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    jobs, more = fine_tuning.listing(runtime_of(request).db, caller.project, 200, None)
    return render(request, "llm_fine_tuning_jobs.html", jobs=jobs, more=more)


@router.get("/fine-tuning/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    rt = runtime_of(request)
    job, problem = fine_tuning.get(rt.db, caller.project, job_id), ""
    try:
        job = synced(rt, caller.project, job_id)
    except TriopsError as exc:  # the provider is away: show what is stored, and say so
        problem = exc.message
    events, _ = fine_tuning.events(rt.db, caller.project, job_id, 500, None)
    by_metric: dict[str, list[tuple[float, float]]] = {}
    for event in sorted(events, key=lambda e: e.id):
        if event.kind == "metrics" and isinstance(event.data.get("step"), int):
            for key, value in event.data.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(
                        value, bool):
                    by_metric.setdefault(key, []).append((event.data["step"], float(value)))
    charts = [(key, overlay_chart([Series(key, sorted(points))], title=f"{key} by step",
                                  height=220))
              for key, points in sorted(by_metric.items())]
    with rt.db.read() as session:
        run, datasets = ml_lineage.run_side(session, caller.project, job.run_id)
        entries = audit_log.of_actions(session, caller.project, rollout_gate.ACTIONS)
    mine = [e for e in entries if job.fine_tuned_model
            and (e.detail.get("candidate") or {}).get("model") == job.fine_tuned_model]
    return render(request, "llm_fine_tuning_job.html", job=job,
                  view=fine_tuning.job_dict(job), events=events, charts=charts, run=run,
                  datasets=datasets, rollouts=_rollouts(rt, caller.project, mine),
                  problem=problem)


@router.get("/rollouts", response_class=HTMLResponse)
def rollouts_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    rt = runtime_of(request)
    with rt.db.read() as session:
        entries = audit_log.of_actions(session, caller.project, rollout_gate.ACTIONS)
    return render(request, "llm_rollouts.html",
                  rollouts=_rollouts(rt, caller.project, entries))


@router.get("/rollouts/{entry_id}", response_class=HTMLResponse)
def rollout_page(entry_id: Annotated[int, Path(ge=1, le=2**62)], request: Request,
                 caller: Caller = AsViewer) -> HTMLResponse:
    rt = runtime_of(request)
    with rt.db.read() as session:
        entry = audit_log.get_entry(session, caller.project, entry_id)
    if entry is None or entry.action not in rollout_gate.ACTIONS:
        raise NotFound(f"no rollout {entry_id} in project {caller.project!r}")
    (rollout,) = _rollouts(rt, caller.project, [entry])
    jobs, _ = fine_tuning.listing(rt.db, caller.project, 200, None)
    job = next((j for j in jobs if j.fine_tuned_model
                and j.fine_tuned_model == rollout.candidate.get("model")), None)
    return render(request, "llm_rollout.html", rollout=rollout, job=job)
