"""Metric points stored as one chunk per (run, key) and batch, read back as points.

The expected histories are computed here from the logged points alone, with MLflow's
rule (by step, then timestamp; equal pairs in logging order), so the chunked layout is
checked against what one-record-per-point storage returned.
"""

from __future__ import annotations

import math
import random
import uuid

from triops.store import records
from triops.store.repos import runs
from triops.store.repos.experiments import ensure_default
from triops.store.repos.projects import DEFAULT_PROJECT
from triops.store.repos.runs import METRIC_KIND, MetricPoint

API = "/api/2.0/mlflow"


def _expected(points: list[tuple[str, float, int, int]], key: str) -> list[dict]:
    """``[key, value, timestamp, step]`` in logging order → get-history's metrics."""
    mine = [p for p in points if p[0] == key]
    mine.sort(key=lambda p: (p[3], p[2]))  # stable: ties stay in logging order
    return [{"key": k, "value": "NaN" if math.isnan(v) else v, "timestamp": t, "step": s}
            for k, v, t, s in mine]


def _history(client, run_id: str, key: str) -> list[dict]:
    resp = client.get(f"{API}/metrics/get-history", params={"run_id": run_id, "metric_key": key})
    assert resp.status_code == 200, resp.text
    return resp.json()["metrics"]


def test_a_10000_point_batch_is_one_record_per_key_and_reads_back_identically(client, runtime):
    run_id = uuid.uuid4().hex
    assert client.post("/api/v1/runs", json={"run_id": run_id, "experiment": "chunks"}
                       ).status_code == 200
    rng = random.Random(7)
    points = []
    for i in range(10_000):
        # Steps out of order with repeats, timestamps with ties, some NaN values.
        value = math.nan if i % 997 == 0 else rng.random()
        points.append(("loss" if i % 3 else "acc", value, 1_000 + rng.randrange(2_000),
                       rng.randrange(500)))
    body = {"batch_id": "chunk-test-1",
            "metrics": [[k, None if math.isnan(v) else v, t, s] for k, v, t, s in points]}
    resp = client.post(f"/api/v1/runs/{run_id}/batch", json=body)
    assert resp.status_code == 200 and resp.json()["points"] == 10_000

    with runtime.db.read() as session:
        stored = list(records.scan(session, DEFAULT_PROJECT, METRIC_KIND))
    assert sorted(r.stream for r in stored) == [f"{run_id}/acc", f"{run_id}/loss"]
    for rec in stored:
        key = rec.stream.split("/", 1)[1]
        logged = [p for p in points if p[0] == key]
        assert len(rec.data["v"]) == len(logged)
        assert rec.ts_ms == min(p[2] for p in logged)

    for key in ("acc", "loss"):
        assert _history(client, run_id, key) == _expected(points, key)

    # The latest value per key: highest step, then time, then the later point.
    latest = {m["key"]: m for m in client.get(f"{API}/runs/get", params={"run_id": run_id})
              .json()["run"]["data"]["metrics"]}
    for key in ("acc", "loss"):
        want = _expected(points, key)[-1]
        assert (latest[key]["step"], latest[key]["timestamp"]) == (want["step"],
                                                                   want["timestamp"])
        assert latest[key]["value"] == want["value"]


def test_a_batch_sent_twice_is_written_once_as_one_chunk(client, runtime):
    run_id = uuid.uuid4().hex
    client.post("/api/v1/runs", json={"run_id": run_id, "experiment": "chunks"})
    body = {"batch_id": "chunk-test-2", "metrics": [["m", float(i), i, i] for i in range(100)]}
    assert client.post(f"/api/v1/runs/{run_id}/batch", json=body).json()["applied"] is True
    assert client.post(f"/api/v1/runs/{run_id}/batch", json=body).json()["applied"] is False
    with runtime.db.read() as session:
        assert len(list(records.scan(session, DEFAULT_PROJECT, METRIC_KIND))) == 1
    assert [m["step"] for m in _history(client, run_id, "m")] == list(range(100))


def test_one_by_one_log_metric_and_log_batch_read_back_in_mlflow_order(client):
    exp = client.post(f"{API}/experiments/create", json={"name": "e"}).json()["experiment_id"]
    run_id = client.post(f"{API}/runs/create", json={"experiment_id": exp}).json()["run"][
        "info"]["run_id"]
    logged = []
    for i, (t, s) in enumerate([(50, 2), (10, 2), (30, 0), (30, 0)]):
        client.post(f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m",
                                                    "value": i, "timestamp": t, "step": s})
        logged.append(("m", float(i), t, s))
    batch = [("m", float(10 + i), 20 + i % 3, i % 4) for i in range(30)]
    client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [
        {"key": k, "value": v, "timestamp": t, "step": s} for k, v, t, s in batch]})
    logged += batch
    assert _history(client, run_id, "m") == _expected(logged, "m")


def test_legacy_point_records_chunks_limits_and_non_finite_values(db):
    with db.write() as s:
        ensure_default(s, "p")
        run = runs.create(s, "p", "0", run_name="r", user_id="", start_time=1, tags={})
        # Stores written before chunks hold one record per point: still read.
        records.append(s, "p", METRIC_KIND, [
            records.RecordRow(f"{run.run_id}/m", 500, {"v": 5.0, "s": 1}),
            records.RecordRow(f"{run.run_id}/m", 5, {"v": "NaN", "s": 3}),
        ])
        runs.log_metrics(s, run, [MetricPoint("m", math.inf, 100, 1),
                                  MetricPoint("m", -math.inf, 7, 0),
                                  MetricPoint("m", 2.0, 400, 3)])
        # Models that vary within one key's chunk; the tie on (step, time) goes to the
        # point logged last.
        runs.log_metrics(s, run, [MetricPoint("m", 8.0, 900, 9, model_id="m-1"),
                                  MetricPoint("m", 9.0, 900, 9),
                                  MetricPoint("m", 6.0, 950, 8, dataset_name="iris",
                                              dataset_digest="abc"),
                                  MetricPoint("m", 7.0, 900, 9, model_id="m-1")])
        run_id = run.run_id
    with db.read() as s:
        assert len(list(records.scan(s, "p", METRIC_KIND))) == 2 + 1 + 1
        history = runs.metric_history(s, "p", run_id, "m")
        got = [(p.step, p.timestamp, p.value, p.model_id) for p in history]
        assert got[:2] == [(0, 7, -math.inf, None), (1, 100, math.inf, None)]
        assert got[2] == (1, 500, 5.0, None)
        assert got[3][:2] == (3, 5) and math.isnan(got[3][2])
        assert got[4:] == [(3, 400, 2.0, None), (8, 950, 6.0, None), (9, 900, 8.0, "m-1"),
                           (9, 900, 9.0, None), (9, 900, 7.0, "m-1")]
        assert [(p.dataset_name, p.dataset_digest) for p in history[5:7]] == [
            ("iris", "abc"), (None, None)]
        # ``limit`` keeps the earliest points by time, then orders them as usual.
        first = runs.metric_history(s, "p", run_id, "m", limit=3)
        assert [(p.step, p.timestamp) for p in first] == [(0, 7), (1, 100), (3, 5)]
        assert runs.metric_history(s, "p", run_id, "absent") == []
        latest = {m.key: m for m in runs.details(s, [run_id])[run_id].metrics}
        assert (latest["m"].value, latest["m"].step) == (7.0, 9)


def test_a_relog_with_a_model_id_adds_no_point(client):
    """MLflow 3's log_model logs the latest metrics again with the model's id: the history
    keeps one point per (step, timestamp, value), as MLflow's SQL store does."""
    exp = client.post(f"{API}/experiments/create", json={"name": "relog"}).json()[
        "experiment_id"]
    run_id = client.post(f"{API}/runs/create", json={"experiment_id": exp}).json()["run"][
        "info"]["run_id"]
    points = [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 100 + i, "step": i}
              for i in range(2000)]
    for start in range(0, 2000, 1000):
        client.post(f"{API}/runs/log-batch", json={"run_id": run_id,
                                                   "metrics": points[start:start + 1000]})
    relog = {**points[-1], "model_id": "m-abc"}
    assert client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": [relog]}
                       ).status_code == 200
    history = _history(client, run_id, "loss")
    assert len(history) == 2000
    assert history[-1]["step"] == 1999 and history[-1].get("model_id") == "m-abc"
    nan_twice = [{"key": "n", "value": "NaN", "timestamp": 5, "step": 0}] * 2
    client.post(f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": nan_twice})
    assert len(_history(client, run_id, "n")) == 1


def test_columns_are_stored_as_the_same_points_would_be(db):
    """A batch given as columns (an MLflow log-batch body read column by column) leaves
    the same chunks and latest values as the same batch given as points."""
    points = [MetricPoint("a", 0.5, 10, 2), MetricPoint("b", math.nan, 11, 0),
              MetricPoint("a", math.inf, 9, 3), MetricPoint("b", 1.0, 5, 0, model_id="m-1"),
              MetricPoint("a", 0.25, 12, 3)]
    stored = []
    with db.write() as s:
        ensure_default(s, "p")
        for metrics in (points, runs.MetricColumns.of(points)):
            run = runs.create(s, "p", "0", run_name="r", user_id="", start_time=1, tags={})
            runs.log_metrics(s, run, metrics)
            stored.append(run.run_id)
    assert runs.MetricColumns.of(points).keys == ("a", "b", "a", "b", "a")
    with db.read() as s:
        chunks: dict[str, dict] = {}
        for rec in records.scan(s, "p", METRIC_KIND):
            run_id, key = rec.stream.split("/", 1)
            chunks.setdefault(run_id, {})[key] = (rec.ts_ms, rec.data)
        assert chunks[stored[0]] == chunks[stored[1]]
        assert chunks[stored[1]]["a"] == (9, {"s": [2, 3, 3], "t": [10, 9, 12],
                                              "v": [0.5, "Infinity", 0.25]})
        assert chunks[stored[1]]["b"] == (5, {"s": [0, 0], "t": [11, 5], "v": ["NaN", 1.0],
                                              "m": [None, "m-1"], "dn": [None, None],
                                              "dd": [None, None]})
        details = runs.details(s, stored)
        latest = [sorted((m.key, m.step, m.timestamp, "NaN" if math.isnan(m.value) else m.value)
                         for m in details[r].metrics) for r in stored]
        assert latest[0] == latest[1] == [("a", 3, 12, 0.25), ("b", 0, 11, "NaN")]
