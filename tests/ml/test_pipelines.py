"""Pipelines: graph checks, content-hash caching, run and step records, API, Ray."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ml import retrain_pipelines as fixtures
from tests.waiting import wait_until
from triops.core.errors import InvalidInput
from triops.core.settings import Settings
from triops.ml.pipelines import Pipeline, load, make_executor, registered_modules, run_pipeline
from triops.store.repos import audit
from triops.store.repos import monitoring as repo


def test_graph_is_ordered_and_checked():
    p = Pipeline("p", params=["a"])

    @p.step(inputs=["b"], outputs=["c"])
    def second(b):
        return b

    @p.step(inputs=["a"], outputs=["b"])
    def first(a):
        return a

    assert [s.name for s in p.order()] == ["first", "second"]
    missing = Pipeline("m")
    missing.step(inputs=["ghost"], outputs=["x"])(lambda ghost: ghost)
    with pytest.raises(InvalidInput, match="ghost"):
        missing.order()
    cycle = Pipeline("c")
    cycle.step(inputs=["y"], outputs=["x"], name="one")(lambda y: y)
    cycle.step(inputs=["x"], outputs=["y"], name="two")(lambda x: x)
    with pytest.raises(InvalidInput, match="cycle"):
        cycle.order()
    with pytest.raises(InvalidInput, match="MODULE:PIPELINE"):
        load("no-colon", {"tests"})
    with pytest.raises(InvalidInput, match="not a triops Pipeline"):
        load("tests.ml.retrain_pipelines:CALLS", {"tests.ml.retrain_pipelines"})


@pytest.fixture
def settings(store_url, tmp_path):
    """The server's settings, with this suite's pipeline module registered."""
    return Settings(store=store_url, artifacts=str(tmp_path / "artifacts"), home=tmp_path,
                    pipeline_modules=["tests.ml.retrain_pipelines"])


def test_only_registered_modules_are_imported(monkeypatch):
    import sys

    with pytest.raises(InvalidInput) as refused:
        load("tests.ml.unregistered_pipeline:p", {"tests.ml.retrain_pipelines"})
    assert refused.value.code == "PIPELINE_NOT_REGISTERED"
    assert "tests.ml.unregistered_pipeline" not in sys.modules  # refused before importing
    # A package registers its submodules; a name that merely starts alike does not.
    assert load("tests.ml.retrain_pipelines:numbers", {"tests.ml"}) is fixtures.numbers
    with pytest.raises(InvalidInput, match="not registered"):
        load("tests.ml.retrain_pipelines:numbers", {"tests.ml.retrain"})
    monkeypatch.setenv("TRIOPS_PIPELINE_MODULES", "a.b, c")
    assert set(Settings().pipeline_modules) == {"a.b", "c"}
    assert {"a.b", "c"} <= registered_modules(Settings().pipeline_modules)


def test_steps_are_cached_by_input_content_and_every_run_is_recorded(runtime):
    fixtures.CALLS.clear()
    first = run_pipeline(runtime.db, runtime.artifacts, "default", fixtures.numbers,
                         {"n": 5, "scale": 2.0})
    assert first.status == "succeeded" and first.values["total"] == 20.0
    np.testing.assert_array_equal(first.values["scaled"], np.arange(5) * 2.0)
    again = run_pipeline(runtime.db, runtime.artifacts, "default", fixtures.numbers,
                         {"n": 5, "scale": 2.0})
    assert [s.cached for s in again.steps] == [True, True]
    assert fixtures.CALLS == {"make": 1, "scale_it": 1}
    # A new scale re-runs only the step that reads it.
    changed = run_pipeline(runtime.db, runtime.artifacts, "default", fixtures.numbers,
                           {"n": 5, "scale": 3.0})
    assert [s.cached for s in changed.steps] == [True, False]
    assert changed.values["total"] == 30.0
    with runtime.db.read() as session:
        runs = repo.list_runs(session, "default", "numbers")
        assert [r.status for r in runs] == ["succeeded"] * 3
        steps = repo.steps_of(session, changed.run_id)
        assert [(s.step, s.cached) for s in steps] == [("make", True), ("scale_it", False)]
        assert runs[0].outputs["total"] == 30.0
        actions = [e.action for e in audit.recent(session, "default")]
    assert actions.count("pipeline.run.start") == 3 and actions.count("pipeline.run.finish") == 3


def test_a_failing_step_fails_the_run_with_its_error(runtime):
    result = run_pipeline(runtime.db, runtime.artifacts, "default", fixtures.broken, {})
    assert result.status == "failed" and "boom" in result.error
    with runtime.db.read() as session:
        run = repo.get_run(session, "default", result.run_id)
        assert run.status == "failed" and "explode" in run.error
        assert [s.status for s in repo.steps_of(session, run.id)] == ["failed"]
    with pytest.raises(InvalidInput, match="missing"):
        run_pipeline(runtime.db, runtime.artifacts, "default", fixtures.numbers, {"n": 1})


def test_pipelines_api_register_run_and_status(client):
    viewer_refused = client.post("/api/v1/pipelines", json={"name": "nums",
                                                            "ref": "nope nope"})
    assert viewer_refused.status_code == 400
    assert client.post("/api/v1/pipelines", json={
        "name": "x", "ref": "tests.ml.missing_module:p"}).status_code == 400
    # Any installed module would import (and run its code) if it could be named.
    for ref in ("os:system", "subprocess:run", "tests.ml.serving_models:classifier"):
        refused = client.post("/api/v1/pipelines", json={"name": "x", "ref": ref})
        assert refused.status_code == 400, ref
        assert refused.json()["error_code"] == "PIPELINE_NOT_REGISTERED"
    made = client.post("/api/v1/pipelines", json={"name": "nums",
                                                  "ref": "tests.ml.retrain_pipelines:numbers"})
    assert made.status_code == 201, made.text
    assert made.json()["steps"] == ["make", "scale_it"]
    assert [p["name"] for p in client.get("/api/v1/pipelines").json()] == ["nums"]
    bad = client.post("/api/v1/pipelines/nums/runs", json={"params": {"n": 3}})
    assert bad.status_code == 400 and "scale" in bad.json()["message"]
    started = client.post("/api/v1/pipelines/nums/runs", json={"params": {"n": 4, "scale": 1}})
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    run = wait_until(lambda: (r := client.get(f"/api/v1/pipeline-runs/{run_id}").json())[
        "status"] != "running" and r, timeout=30, message=f"pipeline run {run_id} to finish")
    assert run["status"] == "succeeded" and run["outputs"]["total"] == 6.0
    assert [s["step"] for s in run["steps"]] == ["make", "scale_it"]
    assert client.get("/api/v1/pipelines/nums/runs").json()[0]["id"] == run_id
    assert client.get("/api/v1/pipeline-runs/nope").status_code == 404
    page = client.get(f"/ui/ml/pipeline-runs/{run_id}")
    assert page.status_code == 200 and "scale_it" in page.text


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance of two CPUs for the module's Ray tests, shut down after."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'triops[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ray_executor_runs_independent_steps_side_by_side(ray_cluster, runtime, tmp_path):
    executor = make_executor("ray")
    assert executor.slots == 2
    result = run_pipeline(runtime.db, runtime.artifacts, "default", fixtures.side_by_side,
                          {"meeting": str(tmp_path)}, executor=executor)
    assert result.status == "succeeded", result.error
    # Each of the two independent steps saw the other one start before it finished.
    assert result.values == {"left_met_right": True, "right_met_left": True, "met": True}
    with runtime.db.read() as session:
        assert repo.get_run(session, "default", result.run_id).executor == "ray"
        steps = repo.steps_of(session, result.run_id)
    # The joining step ran after both of the steps it needs.
    assert [s.step for s in steps][-1] == "both"
    assert sorted(s.step for s in steps[:2]) == ["left", "right"]


def test_ray_executor_runs_a_chained_pipeline(ray_cluster, runtime):
    result = run_pipeline(runtime.db, runtime.artifacts, "default", fixtures.numbers,
                          {"n": 10, "scale": 0.5}, executor=make_executor("ray"),
                          use_cache=False)
    assert result.status == "succeeded" and result.values["total"] == 22.5


def test_cli_runs_a_pipeline_then_serves_it_from_cache(tmp_path, store_url):
    from typer.testing import CliRunner

    from triops.cli.main import app

    cli = CliRunner()
    args = ["pipeline", "run", "tests.ml.retrain_pipelines:numbers", "--param", "n=3",
            "--param", "scale=2", "--store", store_url, "--home", str(tmp_path)]
    first = cli.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "succeeded" in first.output and "ran" in first.output
    second = cli.invoke(app, args)
    assert second.output.count("cached") == 2
    run_id = second.output.strip().splitlines()[-1].split()[1].rstrip(":")
    shown = cli.invoke(app, ["pipeline", "status", run_id, "--store", store_url])
    assert "make" in shown.output and "scale_it" in shown.output
    bad = cli.invoke(app, ["pipeline", "run", "tests.ml.retrain_pipelines:numbers",
                           "--param", "n", "--store", store_url, "--home", str(tmp_path)])
    assert bad.exit_code != 0
