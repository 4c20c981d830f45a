"""Monitors and their results; pipelines, pipeline runs and their steps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from triops.core.errors import AlreadyExists, NotFound
from triops.core.ids import new_id, now_ms
from triops.store.repos import changes
from triops.store.schema_monitoring import (
    Monitor,
    MonitorResult,
    Pipeline,
    PipelineRun,
    PipelineStep,
)

# -- monitors ----------------------------------------------------------------------------


def create_monitor(session: Session, project: str, name: str, endpoint: str,
                   spec: dict[str, Any], interval_s: int | None, enabled: bool = True,
                   actor: str = "") -> Monitor:
    if session.scalar(select(Monitor.id).where(Monitor.project == project,
                                               Monitor.name == name)) is not None:
        raise AlreadyExists(f"monitor {name!r} already exists in project {project!r}")
    now = now_ms()
    row = Monitor(id=new_id(), project=project, name=name, endpoint=endpoint, spec=spec,
                  interval_s=interval_s, enabled=enabled, created_ms=now, updated_ms=now)
    session.add(row)
    session.flush()
    _changed(session, project, name, "created", actor, {"endpoint": endpoint, "spec": spec})
    return row


def _changed(session: Session, project: str, name: str, what: str, actor: str,
             attributes: dict[str, Any] | None = None) -> None:
    changes.add(session, project, changes.NewChange(
        entity=f"monitor:{name}", kind=f"monitor.{what}", summary=f"monitor {name} {what}",
        actor=actor, attributes=attributes or {}))


def get_monitor(session: Session, project: str, name: str) -> Monitor:
    row = session.scalar(select(Monitor).where(Monitor.project == project, Monitor.name == name))
    if row is None:
        raise NotFound(f"monitor {name!r} does not exist in project {project!r}")
    return row


def list_monitors(session: Session, project: str | None = None) -> list[Monitor]:
    query = select(Monitor).order_by(Monitor.project, Monitor.name)
    if project is not None:
        query = query.where(Monitor.project == project)
    return list(session.scalars(query))


def update_monitor(session: Session, project: str, name: str, *,
                   spec: dict[str, Any] | None = None, interval_s: int | None = None,
                   clear_interval: bool = False, enabled: bool | None = None,
                   actor: str = "") -> Monitor:
    row = get_monitor(session, project, name)
    if spec is not None:
        row.spec = spec
    if clear_interval:
        row.interval_s = None
    elif interval_s is not None:
        row.interval_s = interval_s
    if enabled is not None:
        row.enabled = enabled
    row.updated_ms = now_ms()
    session.flush()
    _changed(session, project, name, "changed", actor,
             {"spec": row.spec, "interval_s": row.interval_s, "enabled": row.enabled})
    return row


def delete_monitor(session: Session, project: str, name: str, actor: str = "") -> None:
    row = get_monitor(session, project, name)
    _changed(session, project, name, "deleted", actor)
    session.execute(delete(MonitorResult).where(MonitorResult.monitor_id == row.id))
    session.delete(row)


def due_monitors(session: Session, at_ms: int) -> list[Monitor]:
    """Enabled, scheduled monitors whose interval has passed since their last run."""
    rows = session.scalars(select(Monitor).where(Monitor.enabled.is_(True),
                                                 Monitor.interval_s.is_not(None)))
    return [m for m in rows
            if m.last_run_ms is None or at_ms - m.last_run_ms >= (m.interval_s or 0) * 1000]


def claim_due(session: Session, monitor_id: int, seen_last_run_ms: int | None, at_ms: int
              ) -> bool:
    """Take one due run of a monitor for this process: moves ``last_run_ms`` to ``at_ms``
    only if no other replica moved it since ``seen_last_run_ms`` was read, so of the
    replicas that find a monitor due exactly one runs it."""
    last_run = Monitor.last_run_ms
    unchanged = last_run.is_(None) if seen_last_run_ms is None else last_run == seen_last_run_ms
    result = session.execute(update(Monitor).where(Monitor.id == monitor_id, unchanged)
                             .values(last_run_ms=at_ms))
    return result.rowcount == 1


def add_result(session: Session, monitor: Monitor, *, time_ms: int, status: str,
               n_reference: int, n_current: int, drift: dict[str, Any],
               quality: dict[str, Any], performance: dict[str, Any],
               breaches: dict[str, Any], error: str = "") -> MonitorResult:
    row = MonitorResult(monitor_id=monitor.id, time_ms=time_ms, status=status,
                        n_reference=n_reference, n_current=n_current, drift=drift,
                        quality=quality, performance=performance, breaches=breaches, error=error)
    session.add(row)
    monitor.last_run_ms = time_ms
    session.flush()
    return row


def results(session: Session, monitor: Monitor, *, start_ms: int | None = None,
            end_ms: int | None = None, limit: int = 500) -> list[MonitorResult]:
    """The newest ``limit`` results in time order."""
    query = select(MonitorResult).where(MonitorResult.monitor_id == monitor.id)
    if start_ms is not None:
        query = query.where(MonitorResult.time_ms >= start_ms)
    if end_ms is not None:
        query = query.where(MonitorResult.time_ms < end_ms)
    rows = list(session.scalars(query.order_by(MonitorResult.time_ms.desc(),
                                               MonitorResult.id.desc()).limit(limit)))
    return rows[::-1]


def last_result(session: Session, monitor: Monitor) -> MonitorResult | None:
    found = results(session, monitor, limit=1)
    return found[0] if found else None


def last_status(session: Session, monitor: Monitor) -> tuple[str | None, str]:
    """The newest run's status (None before the first run) and, when it failed, why."""
    last = last_result(session, monitor)
    if last is None:
        return None, ""
    return last.status, last.error if last.status == "error" else ""


# -- pipelines ---------------------------------------------------------------------------


def register_pipeline(session: Session, project: str, name: str, ref: str,
                      description: str = "") -> Pipeline:
    row = session.get(Pipeline, (project, name))
    if row is not None:
        raise AlreadyExists(f"pipeline {name!r} is already registered in project {project!r}")
    row = Pipeline(project=project, name=name, ref=ref, description=description,
                   created_ms=now_ms())
    session.add(row)
    session.flush()
    return row


def get_pipeline(session: Session, project: str, name: str) -> Pipeline:
    row = session.get(Pipeline, (project, name))
    if row is None:
        raise NotFound(f"pipeline {name!r} is not registered in project {project!r}")
    return row


def list_pipelines(session: Session, project: str) -> list[Pipeline]:
    return list(session.scalars(select(Pipeline).where(Pipeline.project == project)
                                .order_by(Pipeline.name)))


def start_run(session: Session, project: str, pipeline: str, ref: str, *, executor: str,
              trigger: str, params: dict[str, Any]) -> PipelineRun:
    row = PipelineRun(id=new_id(), project=project, pipeline=pipeline, ref=ref, status="running",
                      executor=executor, trigger=trigger, params=params, outputs={},
                      started_ms=now_ms(), error="")
    session.add(row)
    session.flush()
    return row


def finish_run(session: Session, run_id: str, status: str, outputs: dict[str, Any],
               error: str = "") -> PipelineRun:
    row = session.get(PipelineRun, run_id)
    if row is None:
        raise NotFound(f"pipeline run {run_id!r} does not exist")
    row.status, row.outputs, row.error, row.ended_ms = status, outputs, error, now_ms()
    return row


def get_run(session: Session, project: str, run_id: str) -> PipelineRun:
    row = session.get(PipelineRun, run_id)
    if row is None or row.project != project:
        raise NotFound(f"pipeline run {run_id!r} does not exist in project {project!r}")
    return row


def list_runs(session: Session, project: str, pipeline: str | None = None,
              limit: int = 100) -> list[PipelineRun]:
    query = select(PipelineRun).where(PipelineRun.project == project)
    if pipeline is not None:
        query = query.where(PipelineRun.pipeline == pipeline)
    return list(session.scalars(query.order_by(PipelineRun.started_ms.desc()).limit(limit)))


def record_step(session: Session, run_id: str, step: str, *, status: str, cache_key: str,
                cached: bool, started_ms: int, ended_ms: int | None, error: str = "") -> None:
    session.add(PipelineStep(run_id=run_id, step=step, status=status, cache_key=cache_key,
                             cached=cached, started_ms=started_ms, ended_ms=ended_ms, error=error))


def steps_of(session: Session, run_id: str) -> list[PipelineStep]:
    return list(session.scalars(select(PipelineStep).where(PipelineStep.run_id == run_id)
                                .order_by(PipelineStep.id)))
