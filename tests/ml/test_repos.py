"""Tracking and registry repositories on SQLite and PostgreSQL."""

import math

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import triops.store.schema_all  # noqa: F401
from triops.core.errors import AlreadyExists, InvalidInput, NotFound
from triops.ml import parse_filter, parse_order_by
from triops.store import records
from triops.store.repos import experiments, logged_models, registry, runs, runs_search
from triops.store.repos.runs import DatasetUse, MetricPoint
from triops.store.schema import Base


def test_ml_tables_match_their_migration(db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    mine = [d for d in diff if "ml_" in repr(d)]
    assert mine == []


def _run(session, project="p1", exp="0", name=None, tags=None):
    experiments.ensure_default(session, project)
    return runs.create(session, project, exp, run_name=name, user_id="u", start_time=None,
                       tags=tags or {})


def test_run_lifecycle_params_metrics_and_isolation(db):
    with db.write() as s:
        run = _run(s, name="first")
        runs.log_params(s, run, {"alpha": "0.1"})
        runs.log_metrics(s, run, [MetricPoint("rmse", 0.9, 1000, 0),
                                  MetricPoint("rmse", 0.4, 2000, 2),
                                  MetricPoint("rmse", 0.7, 3000, 1),
                                  MetricPoint("loss", math.nan, 1000, 0)])
        runs.log_inputs(s, run, [DatasetUse("iris", "abc", "local", "{}"),
                                 DatasetUse("iris", "abc", "local", "{}")])
        run_id = run.run_id
    with db.write() as s, pytest.raises(InvalidInput, match="Changing param"):
        runs.log_params(s, runs.get(s, "p1", run_id), {"alpha": "0.2"})
    with db.read() as s:
        info = runs.details(s, [run_id])[run_id]
        assert info.params == {"alpha": "0.1"}
        assert info.tags["mlflow.runName"] == "first"
        latest = {m.key: m for m in info.metrics}
        assert (latest["rmse"].value, latest["rmse"].step) == (0.4, 2)  # highest step wins
        assert math.isnan(latest["loss"].value)
        assert [d.name for d in info.inputs] == ["iris"]  # the repeat was deduplicated
        history = runs.metric_history(s, "p1", run_id, "rmse")
        assert [(p.step, p.value) for p in history] == [(0, 0.9), (1, 0.7), (2, 0.4)]
        # One record per key and batch: rmse's three points share a chunk.
        assert len(list(records.scan(s, "p1", "metric"))) == 2
        with pytest.raises(NotFound):
            runs.get(s, "other-project", run_id)


def test_search_pushes_filters_and_order_into_sql(db):
    with db.write() as s:
        for i in range(6):
            run = _run(s, name=f"r{i}", tags={"team": "a" if i % 2 else "b"})
            runs.log_params(s, run, {"alpha": str(i / 10)})
            runs.log_metrics(s, run, [MetricPoint("rmse", i / 10, 1, 0)])
            if i == 5:
                runs.update(s, run, status="FINISHED", end_time=5, run_name=None)
    sqlite = db.is_sqlite

    def find(flt, order=None, **kw):
        with db.read() as s:
            rows, token = runs_search.search(
                s, "p1", ["0"], clauses=parse_filter(flt), order_by=parse_order_by(order),
                sqlite=sqlite, **kw)
            return [r.run_name for r in rows], token

    assert find("metrics.rmse < 0.35", ["metrics.rmse DESC"])[0] == ["r3", "r2", "r1", "r0"]
    assert find("params.alpha = '0.2' and tags.team = 'b'")[0] == ["r2"]
    assert find("attributes.status = 'FINISHED'")[0] == ["r5"]
    assert sorted(find("attributes.run_name IN ('r1', 'r4')")[0]) == ["r1", "r4"]
    assert find("attributes.run_name LIKE 'R%'")[0] == []  # LIKE is case-sensitive
    assert len(find("attributes.run_name ILIKE 'R%'")[0]) == 6
    page1, token = find("", ["metrics.rmse ASC"], max_results=4)
    page2, last = find("", ["metrics.rmse ASC"], max_results=4, page_token=token)
    assert page1 + page2 == [f"r{i}" for i in range(6)] and last is None


def test_experiments_and_logged_models(db):
    with db.write() as s:
        exp = experiments.create(s, "p1", "exp-a", tags={"k": "v"})
        with pytest.raises(AlreadyExists):
            experiments.create(s, "p1", "exp-a")
        other = experiments.create(s, "p2", "exp-a")  # same name, other project: fine
        assert other.experiment_id != exp.experiment_id
        lm = logged_models.create(s, "p1", exp.experiment_id, name="model", params={"a": "1"})
        logged_models.finalize(s, "p1", lm.model_id, "LOGGED_MODEL_READY")
    with db.read() as s:
        found, _ = experiments.search(s, "p1", clauses=parse_filter("tags.k = 'v'"),
                                      sqlite=db.is_sqlite)
        assert [e.name for e in found] == ["exp-a"]
        models, _ = logged_models.search(s, "p1", [exp.experiment_id], sqlite=db.is_sqlite)
        # The client's own filter for ordinary models: a missing tag satisfies '!='.
        found, _ = experiments.search(
            s, "p1", clauses=parse_filter("tags.`mlflow.prompt.is_prompt` != 'true'"),
            sqlite=db.is_sqlite)
        assert "exp-a" in [e.name for e in found]
        assert [(m.name, m.status) for m in models] == [("model", "LOGGED_MODEL_READY")]
        assert lm.artifact_uri.endswith(f"/models/{lm.model_id}/artifacts")


def test_deleting_an_experiment_deletes_and_restores_its_runs(db):
    with db.write() as s:
        exp = experiments.create(s, "p1", "exp-del")
        run = runs.create(s, "p1", exp.experiment_id, run_name="r", user_id="u",
                          start_time=None, tags={})
        experiments.set_stage(s, "p1", exp.experiment_id, experiments.DELETED)
    with db.read() as s:
        assert runs.get(s, "p1", run.run_id).lifecycle_stage == "deleted"
    with db.write() as s:
        experiments.set_stage(s, "p1", exp.experiment_id, experiments.ACTIVE)
    with db.read() as s:
        assert runs.get(s, "p1", run.run_id).lifecycle_stage == "active"


def test_registry_versions_aliases_and_lineage(db):
    with db.write() as s:
        run = _run(s)
        registry.create_model(s, "p1", "iris", tags={"owner": "x"})
        with pytest.raises(AlreadyExists):
            registry.create_model(s, "p1", "iris")
        v1 = registry.create_version(s, "p1", "iris", source="models:/m-1", run_id=run.run_id)
        registry.create_version(s, "p1", "iris", source="models:/m-2", run_id=None)
        registry.delete_version(s, "p1", "iris", 2)
        v3 = registry.create_version(s, "p1", "iris", source="models:/m-3", run_id=None)
        assert (v1.version, v3.version) == (1, 3)  # numbers are never reused
        registry.set_alias(s, "p1", "iris", "champion", 1)
        with pytest.raises(InvalidInput):
            registry.set_alias(s, "p1", "iris", "v1", 1)
    with db.write() as s:
        registry.rename_model(s, "p1", "iris", "iris2")
    with db.read() as s:
        _, by_alias = registry.get_by_alias(s, "p1", "iris2", "champion")
        assert by_alias.version == 1
        assert [v.version for _, v in registry.versions_of_run(s, "p1", run.run_id)] == [1]
        found, _ = registry.search_versions(s, "p1", clauses=parse_filter("name = 'iris2'"),
                                            sqlite=db.is_sqlite)
        assert [v.version for _, v in found] == [3, 1]
        models, _ = registry.search_models(s, "p1", clauses=parse_filter("name LIKE 'iris%'"),
                                           sqlite=db.is_sqlite)
        assert [m.name for m in models] == ["iris2"]
        with pytest.raises(NotFound):
            registry.get_model(s, "p2", "iris2")
    with db.write() as s:
        registry.delete_model(s, "p1", "iris2")
    with db.read() as s, pytest.raises(NotFound):
        registry.get_model(s, "p1", "iris2")


def test_concurrent_writers_agree_on_params_and_lose_no_points(db):
    from concurrent.futures import ThreadPoolExecutor

    from triops import ml

    with db.write() as s:
        run_id = _run(s).run_id

    def write(i: int) -> None:
        ml.log_batch(db, "p1", run_id, params=[("shared", "same")],
                     metrics=[MetricPoint("m", float(i), i, i)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(40)))
    with pytest.raises(InvalidInput):
        ml.log_batch(db, "p1", run_id, params=[("shared", "other")])
    with db.read() as s:
        assert runs.details(s, [run_id])[run_id].params == {"shared": "same"}
        assert len(runs.metric_history(s, "p1", run_id, "m")) == 40
        assert runs.details(s, [run_id])[run_id].metrics[0].step == 39
