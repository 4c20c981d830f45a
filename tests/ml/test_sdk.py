"""triops' tracking SDK against a real server: batching, flush at exit, spooling while
the server is down, exactly-once re-sending."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import triops
from tests.conftest import new_server
from tests.waiting import wait_until
from triops.client.spool import Spool, folder_for
from triops.store import Database
from triops.store.repos import runs
from triops.store.repos.projects import DEFAULT_PROJECT


def _history(store_url: str, run_id: str, key: str) -> list:
    db = Database(store_url)
    try:
        with db.read() as session:
            return runs.metric_history(session, DEFAULT_PROJECT, run_id, key)
    finally:
        db.dispose()


def test_run_logs_batches_and_finishes(server, tmp_path):
    with triops.start_run(experiment="churn", name="baseline", url=server.url,
                          api_key=server.admin_key, spool_dir=tmp_path, batch_size=1000,
                          tags={"team": "risk"}) as run:
        run.log_params({"alpha": 0.1, "depth": 6})
        run.set_tag("stage", "dev")
        for step in range(2500):
            run.log_metric("rmse", 1.0 / (step + 1), step=step)
        run.log_metrics({"auc": 0.9, "loss": math.nan}, step=7)
    assert run.status == "FINISHED" and run.errors == []
    got = server.http().get(f"/api/v1/runs/{run.run_id}").json()
    assert got["status"] == "FINISHED" and got["end_time"] is not None
    assert got["name"] == "baseline"
    assert got["params"] == {"alpha": "0.1", "depth": "6"}
    assert got["tags"]["team"] == "risk" and got["tags"]["stage"] == "dev"
    assert got["metrics"]["auc"] == 0.9 and got["metrics"]["loss"] == "NaN"
    history = _history(server.store_url, run.run_id, "rmse")
    assert [p.step for p in history] == list(range(2500))
    assert history[-1].value == pytest.approx(1 / 2500)
    assert list(Spool(folder_for(tmp_path, server.url, None)).pending()) == []


def test_failed_block_marks_run_failed_and_bad_values_raise_at_once(server, tmp_path):
    with pytest.raises(RuntimeError), triops.start_run(
            experiment="churn", url=server.url, api_key=server.admin_key,
            spool_dir=tmp_path) as run:
        run.log_param("alpha", 1)
        with pytest.raises(ValueError, match="params cannot change"):
            run.log_param("alpha", 2)
        with pytest.raises(ValueError, match="invalid metric name"):
            run.log_metric("../escape", 1.0)
        run.log_metric("ok", 1.0)
        raise RuntimeError("training crashed")
    got = server.http().get(f"/api/v1/runs/{run.run_id}").json()
    assert got["status"] == "FAILED" and got["params"] == {"alpha": "1"}
    assert len(_history(server.store_url, run.run_id, "ok")) == 1


def test_log_dataset_links_the_version_to_the_run(server, tmp_path):
    frame = pd.DataFrame({"age": [20, 30, 40], "plan": ["a", "b", "b"]})
    csv = tmp_path / "train.csv"
    frame.to_csv(csv, index=False)
    with triops.start_run(experiment="datasets", url=server.url, api_key=server.admin_key,
                          spool_dir=tmp_path / "spool") as run:
        from_frame = triops.log_dataset(frame, name="customers")
        from_file = run.log_dataset(csv, name="customers-csv")
    assert from_frame["version"] == 1 and from_frame["row_count"] == 3
    assert from_file["source_type"] == "local" and from_file["source"] == str(csv.resolve())
    assert from_file["profile"]["plan"]["top"][0] == ["b", 2]
    http = server.http()
    assert http.get("/api/v1/datasets/customers/versions/1").json()["digest"] == \
        from_frame["digest"]


@pytest.mark.e2e
def test_nothing_lost_nothing_duplicated_across_a_server_outage(backend, tmp_path, pg_databases):
    srv = new_server(backend, tmp_path / "server", pg_databases).start()
    spool = tmp_path / "spool"
    try:
        run = triops.start_run(experiment="outage", url=srv.url, api_key=srv.admin_key,
                               spool_dir=spool, batch_size=500, flush_interval_s=0.05,
                               max_backoff_s=0.5)
        run.log_param("phase", "all")
        for step in range(1000):
            run.log_metric("loss", float(step), step=step)
        assert run.flush(timeout_s=30)
        srv.kill()
        for step in range(1000, 3000):  # logged while nothing listens
            run.log_metric("loss", float(step), step=step)
        run._batcher.flush()
        waiting = Spool(folder_for(spool, srv.url, None)).pending()
        assert waiting, "batches made while the server was down must be on disk"
        srv.start()
        for step in range(3000, 4000):
            run.log_metric("loss", float(step), step=step)
        run.end()
        assert run.status == "FINISHED" and run.errors == []
        wait_until(lambda: Spool(folder_for(spool, srv.url, None)).pending() == [], timeout=30,
                   interval=0.2, message="the spooled batches to be sent")
        history = _history(srv.store_url, run.run_id, "loss")
        assert sorted(p.step for p in history) == list(range(4000))  # each exactly once
        got = srv.http().get(f"/api/v1/runs/{run.run_id}").json()
        assert got["status"] == "FINISHED" and got["metrics"]["loss"] == 3999.0
    finally:
        srv.stop()


@pytest.mark.e2e
def test_run_started_while_server_down_is_created_later(backend, tmp_path, pg_databases):
    srv = new_server(backend, tmp_path / "server", pg_databases)
    spool = tmp_path / "spool"
    # Nothing listens yet: creation, batches and the end all go to the spool, in order.
    with triops.start_run(experiment="offline", url=srv.url, api_key=srv.admin_key,
                          spool_dir=spool, max_backoff_s=0.5) as run:
        run.log_metrics({"acc": 0.5}, step=1)
        run.end(timeout_s=0.1)
    assert len(Spool(folder_for(spool, srv.url, None)).pending()) == 3
    srv.start()
    try:
        # A later process drains the spool when it starts a run of its own.
        with triops.start_run(experiment="offline", url=srv.url, api_key=srv.admin_key,
                              spool_dir=spool) as later:
            later.log_metric("acc", 0.6)
        got = srv.http().get(f"/api/v1/runs/{run.run_id}").json()
        assert got["status"] == "FINISHED" and got["metrics"]["acc"] == 0.5
        assert Spool(folder_for(spool, srv.url, None)).pending() == []
    finally:
        srv.stop()


def test_refused_batches_are_kept_and_reported(server, tmp_path):
    run = triops.start_run(experiment="refused", url=server.url, api_key=server.admin_key,
                           spool_dir=tmp_path)
    run.log_metric("before", 1.0)
    assert run.flush()
    # Someone deletes the run while the script still logs to it.
    assert server.http().post("/api/2.0/mlflow/runs/delete",
                              json={"run_id": run.run_id}).status_code == 200
    run.log_metric("after", 2.0)
    run.end()
    assert any("must be in the 'active' state" in e for e in run.errors)
    kept = list((folder_for(tmp_path, server.url, None) / "rejected").glob("*.req"))
    assert kept, "a refused batch must stay on disk, not vanish"
    assert any(b'"after"' in f.read_bytes() for f in kept)
