"""The runbook engine: match incidents to runbooks, plan runs (limits, cooldown,
approval, dry-run), execute approved runs step by step, verify that the incident cleared,
and escalate (and undo) when it did not. Every decision lands on the run and in the
audit log.

The engine is driven by ``tick``: a background worker calls it every second in the
server while its replica holds the ``runbooks`` lease (``triops.store.leases``); tests
call it with an injected clock. Runs and queued incidents are also leased row by row
through compare-and-set updates, so two engines never act on the same run; an engine
that takes the runbooks lease over frees the rows a dead holder had leased
(``take_over``), and carries on from the last step that run recorded.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from triops.core.errors import Conflict, TriopsError
from triops.core.ids import new_id, now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.ops import incidents
from triops.ops.causes import ProbableCause, rank_incident
from triops.ops.runbooks import actions
from triops.ops.runbooks.actions import ActionContext
from triops.ops.runbooks.matching import matches
from triops.ops.runbooks.spec import RunbookSpec
from triops.ops.runbooks.templates import render_params, truthy
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.repos import audit
from triops.store.repos import incidents as incident_repo
from triops.store.repos import runbooks as repo
from triops.store.schema import Incident
from triops.store.schema_runbooks import RunbookRun

log = logging.getLogger("triops.runbooks")

HOUR_MS = 3600 * 1000
CausesOf = Callable[[Session, Incident], list[ProbableCause]]


def ranked_causes(session: Session, incident: Incident) -> list[ProbableCause]:
    """The incident's probable causes, best first (``triops.ops.causes``)."""
    return rank_incident(session, incident.project, incident.id)


def incident_view(row: Incident) -> dict[str, Any]:
    """The incident as templates and actions see it: plain values only."""
    return {"id": row.id, "project": row.project, "title": row.title, "source": row.source,
            "kind": row.kind, "subject": row.subject, "status": row.status,
            "severity": Severity(row.severity).name, "labels": dict(row.labels or {}),
            "signal_count": row.signal_count, "first_ms": row.first_ms, "last_ms": row.last_ms}


def _causes_from(raw: list[dict[str, Any]]) -> list[ProbableCause]:
    return [ProbableCause(**c) for c in raw]


@dataclass
class Engine:
    db: Database
    artifacts: ArtifactStore | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    notifier: Callable[[str, dict[str, Any]], None] | None = None
    pipeline_modules: tuple[str, ...] = ()
    causes_of: CausesOf = ranked_causes
    clock: Callable[[], int] = now_ms
    #: Passed to every action (``ActionContext.changed``).
    changed: Callable[..., None] | None = None
    owner: str = field(default_factory=new_id)
    lease_ms: int = 10 * 60 * 1000

    def take_over(self) -> int:
        """Free the runs and queued incidents other engines had leased: called when this
        engine's worker has just taken the runbooks lease, so those engines are gone."""
        with self.db.write() as session:
            freed = repo.release_others(session, self.owner)
        if freed:
            log.warning("took over %d runbook runs and queued incidents from an engine "
                        "that lost its lease", freed)
        return freed

    # -- planning -------------------------------------------------------------------------

    def tick(self) -> int:
        """Match queued incidents, then act on due runs; returns how much was done."""
        done = 0
        now = self.clock()
        with self.db.read() as session:
            items = [(q.id, q.project, q.incident_id) for q in repo.queued(session, now)]
        for item_id, project, incident_id in items:
            with self.db.write() as session:
                if not repo.take_queued(session, item_id, self.owner, now, now + self.lease_ms):
                    continue
            self.dispatch(project, incident_id)
            with self.db.write() as session:
                repo.done_queued(session, item_id)
            done += 1
        with self.db.read() as session:
            due = repo.due_runs(session, self.clock())
        for run_id in due:
            done += self.advance(run_id)
        return done

    def dispatch(self, project: str, incident_id: str) -> list[str]:
        """Plan a run of every runbook of the project whose trigger fits the incident."""
        created = []
        with self.db.write() as session:
            incident = incident_repo.get(session, project, incident_id)
            view = incident_view(incident)
            causes = self.causes_of(session, incident)
            for book in repo.list_current(session, project):
                spec = RunbookSpec.model_validate(book.spec)
                if not matches(spec.trigger, view, causes):
                    continue
                if repo.has_run(session, project, book.name, incident_id):
                    continue  # an escalation of an incident this runbook already took
                created.append(self._plan(session, book.name, book.version, spec, view,
                                          causes))
        return created

    def _plan(self, session: Session, name: str, version: int, spec: RunbookSpec,
              incident: dict[str, Any], causes: list[ProbableCause]) -> str:
        project, now = incident["project"], self.clock()
        status, reason, plan = "refused", "", []
        scope = {"incident": incident, "causes": [dataclasses.asdict(c) for c in causes]}
        try:
            reason = self._refusal(session, project, name, spec, now)
            if not reason:
                unmet = [c for c in spec.conditions if not truthy(c, scope)]
                if unmet:
                    reason = f"condition not met: {unmet[0]}"
            if not reason:
                plan = self._dry_run(spec, scope, incident, causes)
                required = spec.approval_required()
                status = "pending_approval" if required else "approved"
                reason = "waiting for approval" if required else "auto-approved"
        except TriopsError as exc:
            status, reason = "refused", exc.message
        run = repo.add_run(session, project=project, runbook=name, runbook_version=version,
                           incident_id=incident["id"], status=status, reason=reason,
                           causes={"ranked": scope["causes"]}, plan={"steps": plan},
                           created_ms=now,
                           decided_by="runbook" if status == "approved" else None,
                           decided_ms=now if status == "approved" else None)
        audit.record(session, project=project, actor=f"runbook:{name}",
                     action=f"runbook.run.{status}", target=f"incident:{incident['id']}",
                     detail={"run_id": run.id, "version": version, "reason": reason,
                             "plan": plan})
        return run.id

    def _refusal(self, session: Session, project: str, name: str, spec: RunbookSpec,
                 now: int) -> str:
        limits = spec.limits
        recent = repo.count_since(session, project, name, now - HOUR_MS,
                                  (*repo.ACTIVE, *repo.ACTED))
        if recent >= limits.max_runs_per_hour:
            return f"blast radius: {recent} runs in the last hour (max_runs_per_hour " \
                   f"{limits.max_runs_per_hour})"
        active = repo.count_active(session, project, name)
        if active >= limits.max_concurrent:
            return f"blast radius: {active} runs acting now (max_concurrent " \
                   f"{limits.max_concurrent})"
        last = repo.last_acted_ms(session, project, name)
        if spec.cooldown_s and last is not None and now - last < spec.cooldown_s * 1000:
            wait = (last + spec.cooldown_s * 1000 - now) // 1000
            return f"cooldown: acted {(now - last) // 1000}s ago; {wait}s of " \
                   f"{spec.cooldown_s}s left"
        return ""

    def _context(self, project: str, name: str, incident: dict[str, Any],
                 causes: list[ProbableCause]) -> ActionContext:
        return ActionContext(db=self.db, project=project, actor=f"runbook:{name}",
                             incident=incident, causes=causes, artifacts=self.artifacts,
                             secrets=self.secrets, notifier=self.notifier,
                             pipeline_modules=self.pipeline_modules, clock=self.clock,
                             changed=self.changed)

    def _dry_run(self, spec: RunbookSpec, scope: dict[str, Any], incident: dict[str, Any],
                 causes: list[ProbableCause]) -> list[dict[str, Any]]:
        ctx = self._context(incident["project"], "dry-run", incident, causes)
        plan = []
        for index, step in enumerate(spec.steps):
            action = actions.get(step.action)
            params = render_params(step.params, scope)
            try:
                changes = action.dry_run(ctx, action.params(params))
            except TriopsError as exc:
                raise type(exc)(f"step {index + 1} ({step.action}): {exc.message}") from None
            plan.append({"index": index, "name": step.name or step.action,
                         "action": step.action, "params": params,
                         "changes": [c.as_json() for c in changes]})
        return plan

    def dry_run(self, project: str, name: str, incident_id: str) -> list[dict[str, Any]]:
        """What the runbook would change for this incident, changing nothing."""
        with self.db.read() as session:
            book = repo.get(session, project, name)
            incident = incident_repo.get(session, project, incident_id)
            view, causes = incident_view(incident), self.causes_of(session, incident)
        spec = RunbookSpec.model_validate(book.spec)
        scope = {"incident": view, "causes": [dataclasses.asdict(c) for c in causes]}
        return self._dry_run(spec, scope, view, causes)

    # -- decisions ------------------------------------------------------------------------

    def decide(self, project: str, run_id: str, actor: str, approve: bool,
               note: str = "") -> RunbookRun:
        """Approve or reject a run that waits for approval; who decided is recorded."""
        with self.db.write() as session:
            run = repo.get_run(session, project, run_id)
            if run.status != "pending_approval":
                raise Conflict(f"run {run_id} is {run.status}; only a run pending approval "
                               "can be approved or rejected")
            run.status = "approved" if approve else "rejected"
            run.decided_by, run.decided_ms = actor, self.clock()
            run.reason = note or ("approved" if approve else "rejected")
            if not approve:
                run.finished_ms = run.decided_ms
            audit.record(session, project=project, actor=actor,
                         action=f"runbook.run.{run.status}", target=f"runbook:{run.runbook}",
                         detail={"run_id": run_id, "incident_id": run.incident_id,
                                 "note": note})
            return run

    # -- acting ---------------------------------------------------------------------------

    def advance(self, run_id: str) -> int:
        """Take the lease of a due run and move it on; 0 when another worker holds it."""
        now = self.clock()
        with self.db.write() as session:
            if not repo.take_run(session, run_id, self.owner, now, now + self.lease_ms):
                return 0
            run = session.get(RunbookRun, run_id)
            status = run.status
        try:
            if status in ("approved", "running"):
                self._execute(run_id)
            elif status == "verifying":
                self._verify(run_id)
        finally:
            with self.db.write() as session:
                session.get(RunbookRun, run_id).lease_until_ms = 0
        return 1

    def _load(self, session: Session, run_id: str
              ) -> tuple[RunbookRun, RunbookSpec, ActionContext]:
        run = session.get(RunbookRun, run_id)
        book = repo.get(session, run.project, run.runbook, run.runbook_version)
        incident = incident_repo.get(session, run.project, run.incident_id)
        causes = _causes_from(run.causes.get("ranked", []))
        ctx = self._context(run.project, run.runbook, incident_view(incident), causes)
        return run, RunbookSpec.model_validate(book.spec), ctx

    def _save_step(self, run_id: str, record: dict[str, Any]) -> None:
        with self.db.write() as session:
            run = session.get(RunbookRun, run_id)
            done = [s for s in run.steps.get("done", []) if s["index"] != record["index"]]
            run.steps = {"done": [*done, record]}
            audit.record(session, project=run.project, actor=f"runbook:{run.runbook}",
                         action=f"runbook.step.{record['status']}",
                         target=f"incident:{run.incident_id}",
                         detail={"run_id": run_id, **record})

    def _finish(self, run_id: str, status: str, reason: str, **values: Any) -> None:
        with self.db.write() as session:
            run = session.get(RunbookRun, run_id)
            run.status, run.reason = status, reason
            for key, value in values.items():
                setattr(run, key, value)
            if status not in repo.ACTIVE:
                run.finished_ms = self.clock()
            audit.record(session, project=run.project, actor=f"runbook:{run.runbook}",
                         action=f"runbook.run.{status}", target=f"incident:{run.incident_id}",
                         detail={"run_id": run_id, "reason": reason})

    def _execute(self, run_id: str) -> None:
        with self.db.write() as session:
            run, spec, ctx = self._load(session, run_id)
            run.status, run.acted_ms = "running", run.acted_ms or self.clock()
            planned = list(run.plan.get("steps", []))
            finished = {s["index"] for s in run.steps.get("done", []) if s["status"] == "ok"}
        for step in planned:
            if step["index"] in finished:
                continue  # a replica that lost its lease got this far already
            action = actions.get(step["action"])
            started = self.clock()
            record = {"index": step["index"], "name": step["name"], "action": step["action"],
                      "params": step["params"], "started_ms": started}
            try:
                outcome = action.run(ctx, action.params(step["params"]))
            except Exception as exc:  # noqa: BLE001 - any failure of a step is recorded
                message = exc.message if isinstance(exc, TriopsError) else repr(exc)
                self._save_step(run_id, {**record, "status": "failed", "error": message,
                                         "finished_ms": self.clock()})
                self._escalate(run_id, f"step {step['index'] + 1} ({step['action']}) failed: "
                                       f"{message}")
                undo = spec.verification is not None and spec.verification.on_fail == "undo"
                if undo:
                    self._undo(run_id, ctx)
                self._finish(run_id, "failed", f"step {step['index'] + 1} failed: {message}")
                return
            self._save_step(run_id, {**record, "status": "ok",
                                     "changes": [c.as_json() for c in outcome.changes],
                                     "undo": outcome.undo, "detail": outcome.detail,
                                     "finished_ms": self.clock()})
        now = self.clock()
        if spec.verification is None:
            self._finish(run_id, "succeeded", "every step succeeded", acted_ms=now)
        else:
            due = now + spec.verification.clear_within_s * 1000
            self._finish(run_id, "verifying",
                         f"waiting {spec.verification.clear_within_s}s for the incident to "
                         "clear", acted_ms=now, verify_due_ms=due)

    def _verify(self, run_id: str) -> None:
        with self.db.read() as session:
            run, spec, ctx = self._load(session, run_id)
            incident = incident_repo.get(session, run.project, run.incident_id)
            settle_ms = spec.verification.settle_s * 1000 if spec.verification else 0
            cleared = (incident.status == "resolved"
                       or incident.last_ms <= (run.acted_ms or 0) + settle_ms)
            window = spec.verification.clear_within_s if spec.verification else 0
        if cleared:
            self._finish(run_id, "succeeded", f"the incident cleared within {window}s")
            return
        reason = f"the incident did not clear within {window}s"
        self._escalate(run_id, reason)
        if spec.verification is not None and spec.verification.on_fail == "undo":
            self._undo(run_id, ctx)
            self._finish(run_id, "undone", f"{reason}; escalated and undone")
        else:
            self._finish(run_id, "escalated", f"{reason}; escalated")

    def _escalate(self, run_id: str, reason: str) -> None:
        """Raise the incident's severity one step and add a signal saying why."""
        with self.db.write() as session:
            run = session.get(RunbookRun, run_id)
            incident = incident_repo.get(session, run.project, run.incident_id)
            severity = Severity(min(incident.severity + 1, Severity.critical))
            signal = Signal(source=Pillar(incident.source), kind=incident.kind,
                            subject=incident.subject, severity=severity,
                            time_ms=max(self.clock(), incident.last_ms),
                            labels=dict(incident.labels or {}),
                            summary=f"runbook {run.runbook}: {reason}")
            incidents.add_signal(session, run.project, incident.id, signal)
            audit.record(session, project=run.project, actor=f"runbook:{run.runbook}",
                         action="incident.escalate", target=f"incident:{incident.id}",
                         detail={"run_id": run_id, "severity": severity.name,
                                 "reason": reason})

    def _undo(self, run_id: str, ctx: ActionContext) -> None:
        with self.db.read() as session:
            done = list(session.get(RunbookRun, run_id).steps.get("done", []))
        for record in sorted(done, key=lambda s: s["index"], reverse=True):
            action = actions.get(record["action"])
            if record["status"] != "ok" or not action.can_undo:
                continue
            try:
                changes = action.undo(ctx, action.params(record["params"]), record["undo"])
                undone = {**record, "status": "undone",
                          "undo_changes": [c.as_json() for c in changes]}
            except TriopsError as exc:
                undone = {**record, "status": "undo_failed", "error": exc.message}
            self._save_step(run_id, undone)
