"""Runbooks against real store objects: each action (dry-run, run, undo), approval,
limits, cooldown, verification with undo, project boundaries and template safety."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from triops.core.errors import InvalidInput
from triops.core.signals import Pillar, Severity, Signal
from triops.ops import ingest
from triops.ops.correlation import Rules
from triops.ops.notifications import verify
from triops.ops.runbooks import Engine, ProbableCause, parse_runbook
from triops.ops.runbooks.templates import render_params
from triops.store.repos import audit, deployments, llm_gateway, llm_spend, registry
from triops.store.repos import incidents as incident_repo
from triops.store.repos import prompts as prompt_repo
from triops.store.repos import runbooks as repo

T0 = 1_700_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def engine_of(db, clock, **kw) -> Engine:
    return Engine(db, clock=clock, **kw)


def put(db, project: str, name: str, source: str) -> None:
    spec = parse_runbook(source)
    with db.write() as session:
        repo.put(session, project, name, source, spec.model_dump(mode="json", by_alias=True),
                 "key:test", T0)


def model_with_alias(db, project: str = "p", name: str = "churn") -> None:
    """Two versions; the alias moved 1 → 2 (the promotion) with its audit entry."""
    with db.write() as session:
        registry.create_model(session, project, name)
        for _ in range(2):
            registry.create_version(session, project, name, source="s3://x", run_id=None)
        registry.set_alias(session, project, name, "champion", 1)
        registry.set_alias(session, project, name, "champion", 2)
        audit.record(session, project=project, actor="key:ci", action="model.alias.move",
                     target=f"model:{name}@champion", detail={"from": 1, "to": 2})


def alias_version(db, project: str = "p", name: str = "churn") -> int:
    with db.read() as session:
        return registry.get_by_alias(session, project, name, "champion")[1].version


def drift(db, clock, project: str = "p", severity=Severity.error) -> str:
    with db.write() as session:
        folded = ingest(session, project, Signal(
            source=Pillar.ml, kind="drift", subject="model:churn@champion", severity=severity,
            time_ms=clock(), labels={"model": "churn"}))
    return folded.incident_id


def runs(db, project: str = "p"):
    with db.read() as session:
        return repo.list_runs(session, project)


ROLLBACK = """
trigger: {kind: drift, entity_prefix: "model:", min_severity: warning}
steps:
  - action: model.rollback_alias
    params: {model: "{{ incident.labels.model }}", alias: champion}
approval: {approval}
verification: {clear_within: 10m, on_fail: undo}
"""


def rollback_book(approval: str = "auto", extra: str = "") -> str:
    return ROLLBACK.replace("{approval}", approval) + extra


def test_auto_approved_rollback_verifies_when_the_incident_clears(db, clock):
    model_with_alias(db)
    put(db, "p", "rollback-churn", rollback_book())
    engine = engine_of(db, clock)
    incident_id = drift(db, clock)
    engine.tick()
    [run] = runs(db)
    assert run.status == "verifying" and run.decided_by == "runbook"
    assert run.plan["steps"][0]["changes"] == [
        {"target": "model:churn@champion", "what": "version", "before": 2, "after": 1}]
    assert alias_version(db) == 1
    clock.advance(9 * 60)
    engine.tick()
    assert runs(db)[0].status == "verifying"  # not due yet
    clock.advance(61)
    engine.tick()
    [run] = runs(db)
    assert run.status == "succeeded" and "cleared" in run.reason
    assert run.steps["done"][0]["status"] == "ok"
    with db.read() as session:
        actions = [e.action for e in audit.recent(session, "p")]
        assert incident_repo.get(session, "p", incident_id).status == "open"
    assert "runbook.step.ok" in actions and "runbook.run.succeeded" in actions


def test_verification_failure_escalates_and_undoes(db, clock):
    model_with_alias(db)
    put(db, "p", "rollback-churn", rollback_book())
    engine = engine_of(db, clock)
    incident_id = drift(db, clock, severity=Severity.warning)
    engine.tick()
    assert alias_version(db) == 1
    clock.advance(120)
    drift(db, clock, severity=Severity.warning)  # the signal keeps coming
    clock.advance(600)
    engine.tick()
    [run] = runs(db)
    assert run.status == "undone" and "did not clear" in run.reason
    assert run.steps["done"][0]["status"] == "undone"
    assert alias_version(db) == 2  # put back
    with db.read() as session:
        incident = incident_repo.get(session, "p", incident_id)
        assert incident.severity == Severity.error  # escalated one step
        summaries = [s.summary for s in incident_repo.signals_of(session, incident_id)]
    assert any("rollback-churn" in s and "did not clear" in s for s in summaries)


@pytest.mark.parametrize(("late_s", "status"), [(4, "succeeded"), (6, "undone")])
def test_verification_settle_ignores_signals_stamped_just_after_acting(db, clock, late_s,
                                                                       status):
    # A windowed signal about calls made before the change is stamped at its window's end,
    # a moment after the run acted: within `settle` it does not count against the run.
    model_with_alias(db)
    put(db, "p", "rollback-churn", rollback_book().replace(
        "{clear_within: 10m, on_fail: undo}", "{clear_within: 1m, settle: 5s, on_fail: undo}"))
    engine = engine_of(db, clock)
    drift(db, clock, severity=Severity.warning)
    engine.tick()
    clock.advance(late_s)
    drift(db, clock, severity=Severity.warning)
    clock.advance(60)
    engine.tick()
    assert runs(db)[0].status == status


def test_approval_required_waits_and_rejection_is_recorded(db, clock):
    model_with_alias(db)
    put(db, "p", "rollback-churn", rollback_book("required"))
    engine = engine_of(db, clock)
    drift(db, clock)
    engine.tick()
    [run] = runs(db)
    assert run.status == "pending_approval"
    engine.tick()
    assert alias_version(db) == 2  # nothing moves without approval
    engine.decide("p", run.id, "key:alice", approve=False, note="not now")
    [run] = runs(db)
    assert (run.status, run.decided_by, run.reason) == ("rejected", "key:alice", "not now")
    engine.tick()
    assert alias_version(db) == 2


def test_default_approval_is_required_for_production_changes():
    spec = parse_runbook(ROLLBACK.replace("approval: {approval}\n", ""))
    assert spec.approval_required()
    notify_only = parse_runbook("trigger: {}\nsteps: [{action: notify}]\n")
    assert not notify_only.approval_required()


#: Correlation would fold every drift signal on one model into one incident; these tests
#: need separate incidents to reach the runbook limits.
_APART = Rules(window_ms=0)


def _run_after_drift(db, clock, engine, subject: str, after_s: int):
    """The newest run once ``after_s`` seconds later a drift on ``subject`` was ticked."""
    clock.advance(after_s)
    with db.write() as session:  # another incident on the same model
        ingest(session, "p", Signal(source=Pillar.ml, kind="drift", subject=subject,
                                    severity=Severity.error, time_ms=clock(),
                                    labels={"model": "churn"}), rules=_APART)
    engine.tick()
    return runs(db)[0]


def test_blast_radius_and_cooldown_refuse_with_reasons(db, clock):
    model_with_alias(db)
    with db.write() as session:
        registry.create_version(session, "p", "churn", source="s3://x", run_id=None)
    put(db, "p", "rollback-churn", rollback_book())
    engine = engine_of(db, clock)
    drift(db, clock)
    engine.tick()
    newest = _run_after_drift(db, clock, engine, "model:churn@x", after_s=1)
    assert newest.status == "refused"
    assert newest.reason == "blast radius: 1 runs acting now (max_concurrent 1)"

    put(db, "p", "rollback-churn", rollback_book(
        extra="cooldown: 30m\nlimits: {max_runs_per_hour: 10, max_concurrent: 5}\n"))
    newest = _run_after_drift(db, clock, engine, "model:churn@y", after_s=59)
    assert newest.status == "refused" and newest.reason.startswith("cooldown: acted 60s ago")
    assert newest.runbook_version == 2

    put(db, "p", "rollback-churn", rollback_book(
        extra="limits: {max_runs_per_hour: 1, max_concurrent: 5}\n"))
    newest = _run_after_drift(db, clock, engine, "model:churn@z", after_s=1)
    assert newest.status == "refused" and "max_runs_per_hour 1" in newest.reason
    assert alias_version(db) == 1  # only the first run acted


def test_runbooks_never_act_on_another_projects_model(db, clock):
    model_with_alias(db, project="b")  # only project b has the model
    put(db, "a", "rollback-churn", rollback_book())
    engine = engine_of(db, clock)
    drift(db, clock, project="b")
    engine.tick()
    assert runs(db, "a") == [] and runs(db, "b") == []  # a's runbook ignores b's incident
    drift(db, clock, project="a")
    engine.tick()
    [run] = runs(db, "a")
    assert run.status == "refused", run.reason
    assert run.reason.startswith("step 1 (model.rollback_alias): "), run.reason
    assert alias_version(db, "b") == 2


def test_prompt_label_rollback_and_undo(db, clock):
    with db.write() as session:
        prompt = prompt_repo.create_prompt(session, "p", "support", "text", "", "t")
        for text in ("v1", "v2"):
            prompt_repo.add_version(session, prompt, prompt_repo.NewVersion(
                {"text": text}, [], None, {}, ""), "t")
        prompt_repo.set_label(session, "p", "support", "production", 1, "t")
        prompt_repo.set_label(session, "p", "support", "production", 2, "t")
    put(db, "p", "prompt-back", """
trigger: {kind: eval_score_drop}
steps: [{action: prompt.rollback_label, params: {prompt: support}}]
approval: auto
""")
    engine = engine_of(db, clock)
    announced = []  # what servers holding the prompt in memory are told
    engine.changed = lambda *topic: announced.append(topic)
    with db.write() as session:
        ingest(session, "p", Signal(source=Pillar.llm, kind="eval_score_drop",
                                    subject="prompt:support@production", time_ms=clock()))
    engine.tick()
    [run] = runs(db)
    assert run.plan["steps"][0]["changes"][0]["before"] == 2
    assert run.plan["steps"][0]["changes"][0]["after"] == 1
    assert run.status == "succeeded"
    with db.read() as session:
        assert prompt_repo.get_label(session, "p", "support", "production").version == 1
    assert announced == [("prompt", "p", "support")]
    from triops.ops.runbooks import actions
    action = actions.get("prompt.rollback_label")
    ctx = engine._context("p", "prompt-back", {}, [])
    action.undo(ctx, action.params({"prompt": "support"}), run.steps["done"][0]["undo"])
    with db.read() as session:
        assert prompt_repo.get_label(session, "p", "support", "production").version == 2
    assert announced == [("prompt", "p", "support")] * 2


def _route(db, alias: str, deployments: list[dict], fallbacks: list[str] = ()) -> None:
    with db.write() as session:
        llm_gateway.put_route(session, alias, {"deployments": deployments,
                                               "fallbacks": list(fallbacks)})


def _route_spec(db, alias: str) -> dict:
    with db.read() as session:
        return next(r.spec for r in llm_gateway.list_routes(session) if r.alias == alias)


def test_drain_upstream_dry_run_run_undo_and_shared_route_refusal(db, clock):
    _route(db, "chat", [{"upstream": "bad", "model": "m", "weight": 1},
                        {"upstream": "good", "model": "m", "weight": 1}])
    engine = engine_of(db, clock)
    announced = []
    engine.changed = lambda *topic: announced.append(topic)
    from triops.ops.runbooks import actions
    action = actions.get("gateway.drain_upstream")
    ctx = engine._context("p", "drain", {"id": "i"}, [ProbableCause("upstream:bad", "x", 1)])
    params = action.params(render_params(
        {"route": "chat", "upstream": "{{ causes[0].entity[9:] }}"},
        {"causes": [{"entity": "upstream:bad"}]}))
    [change] = action.dry_run(ctx, params)
    assert [d["upstream"] for d in change.after] == ["good"]
    assert len(_route_spec(db, "chat")["deployments"]) == 2  # dry-run changed nothing
    outcome = action.run(ctx, params)
    assert [d["upstream"] for d in _route_spec(db, "chat")["deployments"]] == ["good"]
    action.undo(ctx, params, outcome.undo)
    assert len(_route_spec(db, "chat")["deployments"]) == 2
    assert announced == [("gateway",)] * 2  # the run and its undo; the dry run changed nothing
    with db.write() as session:
        llm_spend.append(session, [llm_spend.SpendRow("k", "other", "chat", "m", 1, 1, 0.0,
                                                      clock())])
    with pytest.raises(Exception, match="also serves project"):
        action.dry_run(ctx, params)


def test_drain_one_model_takes_a_canary_out(db, clock):
    _route(db, "support", [{"upstream": "u", "model": "base", "weight": 90},
                           {"upstream": "u", "model": "ft:base:x", "weight": 10}])
    from triops.ops.runbooks import actions
    action = actions.get("gateway.drain_upstream")
    ctx = engine_of(db, clock)._context("p", "back", {}, [])
    params = action.params({"route": "support", "upstream": "u", "model": "ft:base:x"})
    outcome = action.run(ctx, params)
    assert _route_spec(db, "support")["deployments"] == [
        {"upstream": "u", "model": "base", "weight": 90}]
    with pytest.raises(Exception, match="nothing to model 'ft:base:x'"):
        action.run(ctx, params)
    action.undo(ctx, params, outcome.undo)
    assert len(_route_spec(db, "support")["deployments"]) == 2


def test_route_to_fallback(db, clock):
    _route(db, "chat", [{"upstream": "bad", "model": "m", "weight": 1}], ["chat-backup"])
    _route(db, "chat-backup", [{"upstream": "good", "model": "m2", "weight": 1}])
    from triops.ops.runbooks import actions
    action = actions.get("gateway.route_to_fallback")
    ctx = engine_of(db, clock)._context("p", "fb", {}, [])
    params = action.params({"route": "chat"})
    outcome = action.run(ctx, params)
    assert _route_spec(db, "chat")["deployments"] == [
        {"upstream": "good", "model": "m2", "weight": 1}]
    action.undo(ctx, params, outcome.undo)
    assert _route_spec(db, "chat")["deployments"][0]["upstream"] == "bad"


def test_deployment_shift_and_rollback(db, clock):
    model_with_alias(db)
    with db.write() as session:
        deployments.create(session, "p", deployments.EndpointSpec(
            name="churn", model_name="churn", model_ref="@champion",
            policy={"canary": {"ref": "@challenger", "percent": 10}}), "t")
    from triops.ops.runbooks import actions
    ctx = engine_of(db, clock)._context("p", "traffic", {}, [])
    shift = actions.get("deployment.shift_traffic")
    params = shift.params({"endpoint": "churn", "canary_percent": 50})
    [change] = shift.dry_run(ctx, params)
    assert change.after == {"canary": {"ref": "@challenger", "percent": 50.0}}
    shifted = shift.run(ctx, params)
    rollback = actions.get("deployment.rollback")
    rolled = rollback.run(ctx, rollback.params({"endpoint": "churn"}))
    with db.read() as session:
        assert deployments.get(session, "p", "churn").policy == {}
    rollback.undo(ctx, rollback.params({"endpoint": "churn"}), rolled.undo)
    shift.undo(ctx, params, shifted.undo)
    with db.read() as session:
        assert deployments.get(session, "p", "churn").policy["canary"]["percent"] == 10


def test_rollback_alias_walks_back_and_undo(db, clock):
    model_with_alias(db)
    from triops.ops.runbooks import actions
    action = actions.get("model.rollback_alias")
    ctx = engine_of(db, clock)._context("p", "rb", {}, [])
    params = action.params({"model": "churn"})
    outcome = action.run(ctx, params)
    assert alias_version(db) == 1 and outcome.undo == {"version": 2}
    with pytest.raises(Exception, match="no recorded earlier version"):
        action.dry_run(ctx, params)  # 1 had no earlier version: refuse rather than guess
    action.undo(ctx, params, outcome.undo)
    assert alias_version(db) == 2


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((body, self.headers.get("X-Triops-Timestamp"),
                                self.headers.get("X-Triops-Signature")))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_webhook_is_signed_and_notify_is_recorded(db, clock):
    _Hook.received.clear()
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    notified = []
    try:
        put(db, "p", "tell", f"""
trigger: {{kind: drift}}
steps:
  - action: webhook.call
    params: {{url: "http://127.0.0.1:{server.server_port}/hook", secret: ops,
              body: {{incident: "{{{{ incident.id }}}}", model: "{{{{ incident.labels.model }}}}"}}}}
  - action: notify
    params: {{channel: oncall, message: "drift on {{{{ incident.subject }}}}"}}
approval: auto
""")
        engine = engine_of(db, clock, secrets={"ops": "s3cret"},
                           notifier=lambda channel, request: notified.append((channel, request)))
        incident_id = drift(db, clock)
        engine.tick()
    finally:
        server.shutdown()
    [(body, timestamp, signature)] = _Hook.received
    assert json.loads(body) == {"incident": incident_id, "model": "churn"}
    assert verify("s3cret", timestamp, body, signature)
    assert not verify("wrong", timestamp, body, signature)
    assert notified == [("oncall", {"channel": "oncall", "incident_id": incident_id,
                                    "message": "drift on model:churn@champion",
                                    "project": "p"})]
    assert runs(db)[0].status == "succeeded"


@pytest.mark.parametrize("template", [
    "{{ incident.__class__ }}", "{{ incident.labels.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}", "{{ causes.__len__() }}", "{{ nope }}",
])
def test_templates_refuse_attribute_tricks_and_unknown_names(template):
    with pytest.raises(InvalidInput, match="cannot be rendered"):
        render_params({"x": template}, {"incident": {"labels": {}}, "causes": []})


def test_templates_read_causes():
    scope = {"incident": {}, "causes": [{"entity": "model:churn", "kind": "promoted"}]}
    assert render_params({"m": "{{ causes[0].entity }}"}, scope) == {"m": "model:churn"}


def test_cause_trigger_matches_only_ranked_cause(db, clock):
    model_with_alias(db)
    put(db, "p", "on-promotion", rollback_book(
        extra="conditions: ['{{ causes[0].score > 0.5 }}']\n").replace("trigger: {kind: drift, entity_prefix: \"model:\", min_severity: warning}",
                  "trigger: {kind: drift, cause: {kind: model_version_promoted}}"))
    promoted = ProbableCause("model:churn", "model_version_promoted", 0.9, "10 min before")
    engine = engine_of(db, clock, causes_of=lambda s, i: [promoted])
    drift(db, clock)
    engine.tick()
    assert runs(db)[0].status == "verifying"
    other = engine_of(db, clock, causes_of=lambda s, i: [
        ProbableCause("service:db", "deploy", 0.9), promoted])
    with db.write() as session:
        ingest(session, "p", Signal(source=Pillar.ml, kind="drift", subject="model:churn@z",
                                    severity=Severity.error, time_ms=clock()))
    other.tick()
    assert len(runs(db)) == 1  # the promotion ranked second: within_top 1 does not fit


@pytest.mark.parametrize(("source", "message"), [
    ("trigger: [", "runbook is not valid YAML at line"),
    ("steps: []\ntrigger: {}", "runbook steps: List should have at least 1 item"),
    ("trigger: {}\nsteps: [{action: model.delete_everything}]",
     "runbook steps[0].action: unknown action 'model.delete_everything'; known: "),
    ("trigger: {}\nsteps: [{action: model.rollback_alias, params: {modle: x}}]",
     "runbook steps[0].params: action 'model.rollback_alias' has no parameter 'modle'"),
    ("trigger: {}\nsteps: [{action: notify}]\ncooldown: soon",
     "runbook cooldown: duration 'soon' must look like"),
    ("trigger: {min_severity: huge}\nsteps: [{action: notify}]", "runbook trigger.min_severity"),
])
def test_bad_runbooks_get_precise_messages(source, message):
    with pytest.raises(InvalidInput) as error:
        parse_runbook(source)
    assert error.value.message.startswith(message), error.value.message


@pytest.mark.parametrize("quality, champion_after", [("better", 3), ("worse", 2)])
def test_pipeline_run_retrains_and_moves_the_alias_only_for_a_better_model(
        db, clock, tmp_path, quality, champion_after):
    from tests.ml import retrain_pipelines

    from triops.ops.runbooks import actions
    from triops.store.artifacts import ArtifactStore
    from triops.store.repos import monitoring

    model_with_alias(db)  # champion: version 2
    retrain_pipelines.STORE.update(db=db, candidate_quality=quality)
    with db.write() as session:
        monitoring.register_pipeline(session, "p", "retrain-churn",
                                     "tests.ml.retrain_pipelines:retrain")
    engine = engine_of(db, clock, artifacts=ArtifactStore(str(tmp_path)),
                       pipeline_modules=("tests.ml.retrain_pipelines",))
    action = actions.get("pipeline.run")
    ctx = engine._context("p", "retrain", {}, [])
    params = action.params({"pipeline": "retrain-churn", "model": "churn"})
    planned = action.dry_run(ctx, params)
    assert [(c.target, c.before) for c in planned] == [("model:churn@champion", 2)]
    outcome = action.run(ctx, params)
    assert outcome.detail["promoted"] is (champion_after == 3)
    assert alias_version(db) == champion_after


def test_a_run_whose_engine_died_goes_on_from_its_last_recorded_step(db, clock):
    put(db, "p", "two", """
trigger: {kind: drift}
steps:
  - action: notify
    params: {channel: oncall, message: first}
  - action: notify
    params: {channel: oncall, message: second}
approval: auto
""")
    [run_id] = engine_of(db, clock).dispatch("p", drift(db, clock))
    # The engine that took the run recorded its first step, then died holding the run.
    with db.write() as session:
        assert repo.take_run(session, run_id, "dead-engine", clock(), clock() + 600_000)
        run = repo.get_run(session, "p", run_id)
        run.status, run.steps = "running", {"done": [{"index": 0, "status": "ok"}]}
    notified = []
    survivor = engine_of(db, clock, notifier=lambda _, request: notified.append(
        request["message"]))
    survivor.tick()
    assert notified == []  # the dead engine's lease on the run still stands
    # Taking the runbooks lease over frees it: the run resumes after its recorded step.
    assert survivor.take_over() == 1
    survivor.tick()
    assert notified == ["second"]
    assert runs(db)[0].status == "succeeded"
