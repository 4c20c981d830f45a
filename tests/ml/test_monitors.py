"""Monitors over the serving prediction log: API, runs, signals, schedule, retraining."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.ml import retrain_pipelines
from tests.waiting import wait_until
from triops.core.ids import now_ms
from triops.ml.monitoring.monitors import safe_run
from triops.ml.monitoring.scheduler import MonitoringService
from triops.ml.monitoring.spec import RetrainPolicy
from triops.ml.retraining import retrain
from triops.ml.serving import PREDICTION_KIND, append_labels
from triops.ml.serving.predictions import prediction_row
from triops.store import records
from triops.store.repos import audit, registry
from triops.store.repos import monitoring as repo

ENDPOINT = "churn"
REF_START, REF_END = 1_000, 2_000_000


def _log(db, start_ms, n, *, shift=0.0, plan_p=(0.6, 0.3, 0.1), wrong=0.0, seed=0):
    """n logged single-row predictions from start_ms on, each labelled."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    plans = rng.choice(["free", "pro", "team"], n, p=plan_p)
    preds = (x > shift).astype(int)
    truth = np.where(rng.random(n) < wrong, 1 - preds, preds)
    rows = [prediction_row(endpoint=ENDPOINT, time_ms=start_ms + i, request_id=f"r{start_ms}-{i}",
                           model="churn", version=1, served_by="primary", latency_ms=1.0,
                           columns=["x", "plan"], rows=[[float(x[i]), str(plans[i])]],
                           outputs=[int(preds[i])]) for i in range(n)]
    with db.write() as session:
        records.append(session, "default", PREDICTION_KIND, rows)
        append_labels(session, "default", ENDPOINT, start_ms + n,
                      [(f"r{start_ms}-{i}", int(truth[i])) for i in range(n)])


def _spec(**extra):
    spec = {"window": {"kind": "count", "size": 1500},
            "reference": {"kind": "window", "start_ms": REF_START, "end_ms": REF_END},
            "performance": {"metric": "accuracy", "threshold": 0.8}}
    spec.update(extra)
    return spec


def test_monitor_run_finds_drift_and_performance_and_opens_incidents(client, runtime):
    _log(runtime.db, REF_START, 1500, seed=1)
    _log(runtime.db, 3_000_000, 1500, shift=1.5, plan_p=(0.1, 0.2, 0.7), wrong=0.4, seed=2)
    created = client.post("/api/v1/monitors", json={"name": "churn-drift", "endpoint": ENDPOINT,
                                                      "spec": _spec(model="churn")})
    assert created.status_code == 201, created.text
    assert "monitoring" in runtime.built()  # the scheduler starts with the app
    ran = client.post("/api/v1/monitors/churn-drift/run")
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["status"] == "breach"
    assert sorted(body["breaches"]) == ["drift", "performance"]
    assert sorted(body["breaches"]["drift"]["columns"]) == ["plan", "x"]
    assert body["drift"]["x"]["test"] == "wasserstein" and body["drift"]["x"]["drifted"]
    assert body["performance"]["metrics"]["accuracy"] == pytest.approx(0.6, abs=0.05)
    assert body["n_reference"] == 1500 and body["n_current"] == 1500
    # Drift and performance of one model in one run are one incident with two members.
    [incident] = client.get("/api/v1/incidents").json()
    members = client.get(f"/api/v1/incidents/{incident['id']}").json()["members"]
    found = {(m["kind"], m["subject"]) for m in members}
    assert found == {("drift", "model:churn@champion"), ("performance", "model:churn@champion")}
    # A second run folds into the same incidents and adds a point to the history.
    again = client.post("/api/v1/monitors/churn-drift/run").json()
    assert sorted(again["incidents"]) == sorted(body["incidents"])
    history = client.get("/api/v1/monitors/churn-drift/results").json()
    assert [h["status"] for h in history] == ["breach", "breach"]
    page = client.get("/ui/ml/monitors/churn-drift")
    assert page.status_code == 200 and page.text.count("<svg") >= 3
    assert "drift score of x" in page.text and "accuracy" in page.text
    assert client.get("/ui/ml/monitors").status_code == 200


def test_quiet_endpoint_stays_ok_and_data_quality_breach_has_its_own_subject(client, runtime):
    _log(runtime.db, REF_START, 1500, seed=3)
    _log(runtime.db, 3_000_000, 1500, seed=4)
    client.post("/api/v1/monitors", json={"name": "quiet", "endpoint": ENDPOINT, "spec": _spec()})
    quiet = client.post("/api/v1/monitors/quiet/run").json()
    assert quiet["status"] == "ok" and quiet["breaches"] == {}
    assert not any(v["drifted"] for v in quiet["drift"].values())
    bad = [prediction_row(endpoint=ENDPOINT, time_ms=4_000_000 + i, request_id=f"q{i}",
                          model="churn", version=1, served_by="primary", latency_ms=1.0,
                          columns=["x", "plan"], rows=[[None if i % 2 else 1e9, "gold"]],
                          outputs=[0]) for i in range(200)]
    with runtime.db.write() as session:
        records.append(session, "default", PREDICTION_KIND, bad)
    client.post("/api/v1/monitors", json={"name": "dq", "endpoint": ENDPOINT,
                                           "spec": _spec(window={"kind": "count", "size": 200},
                                                         drift=None, performance=None)})
    dq = client.post("/api/v1/monitors/dq/run").json()
    assert list(dq["breaches"]) == ["data_quality"]
    assert dq["quality"]["x"]["missing"] == 0.5 and dq["quality"]["x"]["out_of_range"] == 0.5
    assert dq["quality"]["plan"]["unseen"] == 1.0
    subjects = {i["subject"] for i in client.get("/api/v1/incidents").json()
                if i["kind"] == "data_quality"}
    assert subjects == {"endpoint:churn"}


@pytest.mark.parametrize("spec, message", [
    ({"drift": {"method": "nope"}}, "unknown drift test"),
    ({"window": {"kind": "count", "size": 0}}, "window"),
    ({"reference": {"kind": "training"}}, "needs the monitor's model"),
    ({"reference": {"kind": "window", "start_ms": 5, "end_ms": 1}}, "start_ms < end_ms"),
    ({"performance": {"metric": "bleu"}}, "performance.metric"),
    ({"window": {"rows": 3}}, "unknown or missing field"),
    ({"retrain": {"pipeline": "p", "on": ["weather"]}}, "unknown breach kinds"),
])
def test_bad_monitor_definitions_are_refused_and_store_nothing(client, spec, message):
    answer = client.post("/api/v1/monitors", json={"name": "m", "endpoint": ENDPOINT,
                                                    "spec": {**_spec(), **spec}})
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["message"]
    assert client.get("/api/v1/monitors").json() == []


def test_monitor_errors_are_precise(client, runtime):
    assert client.post("/api/v1/monitors/none/run").status_code == 404
    assert client.get("/api/v1/monitors/none/results").status_code == 404
    body = {"name": "m", "endpoint": ENDPOINT, "spec": _spec()}
    assert client.post("/api/v1/monitors", json=body).status_code == 201
    again = client.post("/api/v1/monitors", json=body)
    assert again.status_code == 400 and again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert client.post("/api/v1/monitors", json={**body, "name": "bad name!"}).status_code == 400
    empty = client.post("/api/v1/monitors/m/run").json()
    assert empty["status"] == "no_data"
    assert client.delete("/api/v1/monitors/m").status_code == 204
    assert client.get("/api/v1/monitors/m").status_code == 404


def test_replicas_on_one_store_run_each_due_monitor_once(runtime):
    _log(runtime.db, REF_START, 1500, seed=5)
    _log(runtime.db, 3_000_000, 1500, shift=2.0, seed=6)
    with runtime.db.write() as session:
        for name in ("a", "b", "c"):
            repo.create_monitor(session, "default", name, ENDPOINT, _spec(), interval_s=3600)
    replicas = [MonitoringService(runtime.db, runtime.artifacts, tick_s=3600) for _ in range(4)]
    start = threading.Barrier(len(replicas))

    def tick(service: MonitoringService) -> int:
        start.wait()
        return service.run_due()

    try:
        with ThreadPoolExecutor(len(replicas)) as pool:
            ran = list(pool.map(tick, replicas))
    finally:
        for service in replicas:
            service.close()
    assert sum(ran) == 3
    with runtime.db.read() as session:
        for name in ("a", "b", "c"):
            assert len(repo.results(session, repo.get_monitor(session, "default", name))) == 1


def test_scheduler_runs_due_monitors_only(runtime):
    _log(runtime.db, REF_START, 1500, seed=5)
    _log(runtime.db, 3_000_000, 1500, shift=2.0, seed=6)
    with runtime.db.write() as session:
        repo.create_monitor(session, "default", "scheduled", ENDPOINT, _spec(), interval_s=3600)
        repo.create_monitor(session, "default", "manual", ENDPOINT, _spec(), interval_s=None)
    service = MonitoringService(runtime.db, runtime.artifacts, tick_s=3600)
    try:
        assert service.run_due() == 1
        assert service.run_due() == 0  # not due again within the hour
    finally:
        service.close()
    with runtime.db.read() as session:
        assert len(repo.results(session, repo.get_monitor(session, "default", "scheduled"))) == 1
        assert repo.results(session, repo.get_monitor(session, "default", "manual")) == []


@pytest.mark.parametrize("quality, promoted", [("better", True), ("worse", False)])
def test_retraining_promotes_only_a_better_candidate(runtime, quality, promoted):
    retrain_pipelines.STORE.update(db=runtime.db, candidate_quality=quality)
    with runtime.db.write() as session:
        registry.create_model(session, "default", "churn")
        registry.create_version(session, "default", "churn", source="models:/v1", run_id=None)
        registry.set_alias(session, "default", "churn", "champion", 1)
        repo.register_pipeline(session, "default", "retrain-churn",
                               "tests.ml.retrain_pipelines:retrain")
    policy = RetrainPolicy(pipeline="retrain-churn", metric="accuracy", min_improvement=0.05)
    outcome = retrain(runtime.db, runtime.artifacts, "default", model="churn",
                      alias="champion", policy=policy, trigger="test",
                      pipeline_modules={"tests.ml.retrain_pipelines"})
    assert outcome.status == "succeeded" and outcome.candidate_version == 2
    assert outcome.champion_score == 0.5
    assert outcome.promoted is promoted
    with runtime.db.read() as session:
        holder = registry.get_by_alias(session, "default", "churn", "champion")[1].version
        actions = [e.action for e in audit.recent(session, "default")]
    assert holder == (2 if promoted else 1)
    assert "retraining.start" in actions and "retraining.evaluate" in actions
    assert ("model.alias.move" in actions) is promoted


def test_cli_creates_and_runs_a_monitor(runtime, store_url, tmp_path):
    from typer.testing import CliRunner

    from triops.cli.main import app

    _log(runtime.db, REF_START, 1500, seed=7)
    _log(runtime.db, 3_000_000, 1500, shift=1.5, seed=8)
    cli = CliRunner()
    spec = {"window": {"kind": "count", "size": 1500},
            "reference": {"kind": "window", "start_ms": REF_START, "end_ms": REF_END}}
    made = cli.invoke(app, ["monitor", "create", "cli-mon", "--endpoint", ENDPOINT,
                            "--spec", __import__("json").dumps(spec), "--store", store_url])
    assert made.exit_code == 0, made.output
    ran = cli.invoke(app, ["monitor", "run", "cli-mon", "--store", store_url,
                           "--home", str(tmp_path)])
    assert ran.exit_code == 0, ran.output
    assert "breach" in ran.output and "DRIFT" in ran.output
    shown = cli.invoke(app, ["monitor", "results", "cli-mon", "--store", store_url])
    assert "breach" in shown.output and "drift" in shown.output
    bad = cli.invoke(app, ["monitor", "create", "x", "--endpoint", "e", "--spec", "[1]",
                           "--store", store_url])
    assert bad.exit_code != 0


def test_time_window_and_update_and_background_loop(client, runtime):

    from triops.core.ids import now_ms

    now = now_ms()
    _log(runtime.db, REF_START, 1500, seed=9)
    _log(runtime.db, now - 60_000, 1200, shift=2.0, seed=10)  # the last minute
    _log(runtime.db, now - 7_200_000, 1200, seed=11)  # two hours ago: outside the window
    spec = _spec(window={"kind": "time", "size": 600})
    client.post("/api/v1/monitors", json={"name": "recent", "endpoint": ENDPOINT, "spec": spec})
    ran = client.post("/api/v1/monitors/recent/run").json()
    assert ran["n_current"] == 1200 and "drift" in ran["breaches"]
    patched = client.patch("/api/v1/monitors/recent", json={"interval_s": 1, "enabled": True})
    assert patched.status_code == 200 and patched.json()["interval_s"] == 1
    assert client.patch("/api/v1/monitors/recent", json={
        "spec": {"window": {"kind": "time", "size": -1}}}).status_code == 400
    assert client.patch("/api/v1/monitors/nope", json={"enabled": False}).status_code == 404
    # The server's own scheduler thread picks the monitor up without being asked.
    service = MonitoringService(runtime.db, runtime.artifacts, tick_s=0.2).start()
    try:
        wait_until(lambda: len(client.get("/api/v1/monitors/recent/results").json()) >= 2,
                   timeout=20, interval=0.2, message="the scheduler to run the monitor twice")
    finally:
        service.close()
    off = client.patch("/api/v1/monitors/recent", json={"clear_interval": True})
    assert off.json()["interval_s"] is None


def test_a_monitor_failing_on_every_run_shows_it_and_keeps_one_incident(client, runtime):
    _log(runtime.db, 3_000_000, 200, seed=12)
    with runtime.db.write() as session:  # a champion without a training dataset in lineage
        registry.create_model(session, "default", "churn")
        registry.create_version(session, "default", "churn", source="models:/v1", run_id=None)
        registry.set_alias(session, "default", "churn", "champion", 1)
        repo.create_monitor(session, "default", "blind", ENDPOINT,
                            _spec(model="churn", reference={"kind": "training"}),
                            interval_s=7200)
    before = client.get("/api/v1/monitors/blind").json()
    assert (before["last_status"], before["last_error"]) == (None, "")
    ran = client.post("/api/v1/monitors/blind/run").json()
    assert ran["status"] == "error" and "no training dataset" in ran["error"]
    # Scheduled runs two hours apart (beyond the default fold window) still fold.
    for at in (now_ms() + 7_200_000, now_ms() + 14_400_000):
        safe_run(runtime.db, runtime.artifacts, "default", "blind", at_ms=at)
    shown = client.get("/api/v1/monitors/blind").json()
    assert shown["last_status"] == "error" and "no training dataset" in shown["last_error"]
    listed = {m["name"]: m for m in client.get("/api/v1/monitors").json()}
    assert listed["blind"]["last_error"] == shown["last_error"]
    failed = [i for i in client.get("/api/v1/incidents").json() if i["kind"] == "monitor_failed"]
    assert [(i["subject"], i["status"], i["signal_count"]) for i in failed] == [
        ("monitor:blind", "open", 3)]
    assert ran["incidents"] == [failed[0]["id"]]


def test_a_monitor_whose_query_raises_records_the_error_and_raises_a_signal(client, runtime,
                                                                           store_url):
    from typer.testing import CliRunner

    from triops.cli.main import app
    from triops.store.records import RecordRow

    with runtime.db.write() as session:  # a logged prediction no reader can decode
        records.append(session, "default", PREDICTION_KIND, [RecordRow(
            stream=ENDPOINT, ts_ms=5_000_000, data={"request_id": "bad", "version": "one"})])
        repo.create_monitor(session, "default", "broken", ENDPOINT, _spec(), interval_s=60)
    service = MonitoringService(runtime.db, runtime.artifacts, tick_s=3600)
    try:
        assert service.run_due() == 1
        assert service.run_due() == 0  # recorded as a run: not retried on every tick
    finally:
        service.close()
    shown = client.get("/api/v1/monitors/broken").json()
    assert shown["last_status"] == "error"
    assert shown["last_error"].startswith("ValueError: invalid literal for int()")
    failed = [i for i in client.get("/api/v1/incidents").json() if i["kind"] == "monitor_failed"]
    assert [(i["subject"], i["signal_count"]) for i in failed] == [("monitor:broken", 1)]
    listed = CliRunner().invoke(app, ["monitor", "list", "--store", store_url])
    assert listed.exit_code == 0, listed.output
    assert "error ValueError: invalid literal" in listed.output
