"""Eval-gated rollout over the real app and both store backends: the route moves to the
candidate as a canary only when its eval run on the pinned dataset holds up against the
baseline's, and an online evaluator then watches the candidate."""

from __future__ import annotations

import doctest

from triops.llm.evals import rollout


def test_docstring_examples_run():
    result = doctest.testmod(rollout)
    assert result.attempted > 0 and result.failed == 0


def eval_run(client, name, dataset, values, finish=True):
    run = client.post("/api/v1/evals/runs", json={
        "name": name, "model": "support", "dataset": dataset, "case_count": len(values),
        "config": {"scorer_names": ["contains"]}}).json()
    client.post(f"/api/v1/evals/runs/{run['id']}/results", json={"results": [
        {"case_index": i, "output": "x", "scores": {"contains": {"value": float(v)}}}
        for i, v in enumerate(values)]})
    if finish:
        client.post(f"/api/v1/evals/runs/{run['id']}/finish", json={})
    return run["id"]


def test_the_route_moves_only_when_the_gate_passes(client):
    assert client.put("/api/v1/gateway/upstreams/trainer", json={
        "base_url": "http://127.0.0.1:9/v1"}).status_code == 200
    assert client.put("/api/v1/gateway/routes/support", json={"deployments": [
        {"upstream": "trainer", "model": "gpt-4o-mini"}]}).status_code == 200
    baseline = eval_run(client, "base", "golden@1", [1, 0, 1, 0, 1, 0, 1, 0, 1, 0] * 2)
    worse = eval_run(client, "worse", "golden@1", [0] * 20)
    better = eval_run(client, "better", "golden@1", [1] * 20)
    candidate = {"upstream": "trainer", "model": "ft:gpt-4o-mini:support:abc"}

    failed = client.post("/api/v1/gateway/routes/support/rollout", json={
        "baseline_run": baseline, "candidate_run": worse, "candidate": candidate})
    assert failed.status_code == 200, failed.text
    verdict = failed.json()
    assert verdict["passed"] is False and verdict["route"] is None
    assert verdict["reasons"][0].startswith("contains: 0.000 vs 0.500")
    (route,) = [r for r in client.get("/api/v1/gateway/routes").json()
                if r["alias"] == "support"]
    assert [d["model"] for d in route["deployments"]] == ["gpt-4o-mini"]

    passed = client.post("/api/v1/gateway/routes/support/rollout", json={
        "baseline_run": baseline, "candidate_run": better, "candidate": candidate,
        "canary_percent": 10, "watch": {"scorers": ["contains"], "threshold": 0.5}}).json()
    assert passed["passed"] is True and passed["dataset"] == "golden@1"
    assert [(d["model"], d["weight"]) for d in passed["route"]["deployments"]] == [
        ("gpt-4o-mini", 90.0), (candidate["model"], 10.0)]
    (watcher,) = [o for o in client.get("/api/v1/evals/online").json()
                  if o["name"] == passed["watcher"]]
    assert watcher["enabled"] and watcher["config"]["model"] == candidate["model"]

    unpinned = eval_run(client, "unpinned", "golden", [1] * 20)
    running = eval_run(client, "running", "golden@1", [1] * 20, finish=False)
    refused = [
        client.post("/api/v1/gateway/routes/support/rollout", json={
            "baseline_run": baseline, "candidate_run": unpinned, "candidate": candidate}),
        client.post("/api/v1/gateway/routes/support/rollout", json={
            "baseline_run": baseline, "candidate_run": running, "candidate": candidate}),
        client.post("/api/v1/gateway/routes/nope/rollout", json={
            "baseline_run": baseline, "candidate_run": better, "candidate": candidate}),
    ]
    assert [r.status_code for r in refused] == [400, 409, 404]
