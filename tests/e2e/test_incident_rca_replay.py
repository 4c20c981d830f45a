"""Probable causes of incidents in a running server.

* A PetShop issue replayed as OTLP: traces whose client/server spans cross
  ``service.name`` teach the topology the call graph; the normal and the issue metrics
  arrive as OTLP/HTTP protobuf gauges. The SLO violation of the target (what PetShop
  labels as the symptom) is posted as a signal, as an SLO alert would post it: the
  streaming detectors run on every replayed point too, but an incident at the labelled
  time is what the test needs, whatever they flag on 5-minute data. The first-ranked
  cause is the component where the issue was injected.
* A model alias moved shortly before a drift signal on the endpoint that serves it
  ranks first, with evidence that names the move, its lead time and the hop.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest

from tests.ml import serving_models as sm
from triops.demo.otlp_replay import call_graph_traces, metrics_request
from triops.ops.rca import read_graph, read_metrics

pytestmark = pytest.mark.e2e

PETSHOP = Path("/work/shared/datasets/petshop/low_traffic")
ISSUE = PETSHOP / "test" / "issue_0"
NORMAL_ROWS = 100  # ~8 h of 5-minute rows before the issue
PB = {"Content-Type": "application/x-protobuf"}
MLFLOW = "/api/2.0/mlflow"


def test_replayed_petshop_issue_ranks_the_injected_component_first(server):
    graph = read_graph(PETSHOP / "graph.csv")
    target = json.loads((ISSUE / "target.json").read_text())
    issue = read_metrics(ISSUE / "metrics.csv")
    normal = read_metrics(PETSHOP / "noissue" / "metrics.csv").tail(NORMAL_ROWS).copy()
    # The normal recording is from another day: it is replayed as the hours just before
    # the issue, on the same 5-minute grid.
    step = 300.0
    normal.index = issue.index[0] - step * (NORMAL_ROWS - normal.reset_index().index)
    wanted = [(target["target"]["metric"], target["target"]["agg"]), ("requests", "Sum")]
    columns = [c for c in issue.columns if (c[1], c[2]) in wanted and c in normal.columns]
    replay = pd.concat([normal[columns], issue[columns]])

    with server.http() as http:
        traces = call_graph_traces(list(graph.edges), 1_681_000_000_000_000_000).SerializeToString()
        r = http.post("/v1/traces", content=traces, headers=PB)
        assert r.status_code == 200, r.text
        for start in range(0, len(replay), 15):
            body = metrics_request(replay.iloc[start:start + 15]).SerializeToString()
            r = http.post("/v1/metrics", content=body, headers=PB)
            assert r.status_code == 200, r.text

        node, metric, stat = (target["target"][k] for k in ("node", "metric", "agg"))
        symptom = f'series:{metric}{{service_name="{node}",statistic="{stat}"}}'
        r = http.post("/api/v1/signals", json={
            "source": "ops", "kind": "slo_violation", "subject": symptom, "severity": "error",
            "time_ms": int(target["target"]["timestamp"] * 1000),
            "summary": f"{node} {metric} {stat} above its SLO"})
        assert r.status_code == 201, r.text
        incident_id = r.json()["incident_id"]
        causes = http.get(f"/api/v1/incidents/{incident_id}/causes").json()
        detail = http.get(f"/api/v1/incidents/{incident_id}").json()

    root = target["root_cause"]["node"]
    assert causes, "no probable cause"
    assert (causes[0]["entity"], causes[0]["kind"]) == (f"service:{root}", "metric_anomaly")
    assert f"{metric} {stat} of {root}" in causes[0]["evidence"]
    assert detail["causes"] == causes
    print(f"PetShop {ISSUE.name}: causes " + "; ".join(
        f"{c['entity']} {c['score']:.3f}" for c in causes[:3]))


def _upload_model(http) -> str:
    rel = f"0/models/m-{uuid.uuid4().hex}/artifacts"
    for name, data in sm.skops_files(sm.classifier()).items():
        r = http.put(f"/api/2.0/mlflow-artifacts/artifacts/{rel}/{name}", content=data)
        assert r.status_code == 200, r.text
    return f"mlflow-artifacts:/{rel}"


def test_alias_moved_before_a_drift_signal_ranks_first(server):
    with server.http() as http:
        source = _upload_model(http)
        assert http.post(f"{MLFLOW}/registered-models/create", json={"name": "churn"}).is_success
        for _ in range(4):
            r = http.post(f"{MLFLOW}/model-versions/create",
                          json={"name": "churn", "source": source})
            assert r.status_code == 200, r.text
        alias = {"name": "churn", "alias": "champion"}
        assert http.post(f"{MLFLOW}/registered-models/alias",
                         json={**alias, "version": "3"}).is_success
        r = http.post("/api/v1/endpoints", json={"name": "churn", "model": "churn@champion"})
        assert r.status_code == 201, r.text
        assert http.post(f"{MLFLOW}/registered-models/alias",
                         json={**alias, "version": "4"}).is_success
        moved = http.get("/api/v1/changes", params={"entity": "model:churn@champion"}).json()[0]
        r = http.post("/api/v1/signals", json={
            "source": "ml", "kind": "drift", "subject": "endpoint:churn",
            "time_ms": moved["time_ms"] + 10 * 60_000, "summary": "drift on churn: age"})
        assert r.status_code == 201, r.text
        incident_id = r.json()["incident_id"]
        causes = http.get(f"/api/v1/incidents/{incident_id}/causes").json()

    first = causes[0]
    assert (first["entity"], first["kind"], first["change_id"]) == (
        "model:churn@champion", "model.alias.moved", str(moved["id"]))
    assert first["evidence"] == (
        "alias champion of model churn moved to version 4 from 3 10 min before the first "
        "signal, on model:churn@champion, 1 hop from the affected endpoint:churn; 0 of 1 "
        "earlier model.alias.moved changes on a model_alias were followed by an incident "
        "near it")
    kinds = [c["kind"] for c in causes]
    assert {"endpoint.deployed", "model.version.registered"} <= set(kinds)

    from typer.testing import CliRunner

    from triops.cli import main

    shown = CliRunner().invoke(main.app, ["incidents", "causes", incident_id,
                                          "--store", server.store_url], env={"COLUMNS": "400"})
    assert shown.exit_code == 0, shown.output
    lines = [line for line in shown.stdout.splitlines() if "model." in line]
    assert "model:churn@champion" in lines[0] and "model.alias.moved" in lines[0]
