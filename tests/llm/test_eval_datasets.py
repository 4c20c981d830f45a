"""Versioned eval datasets: every change makes a version, old versions keep their cases,
cases remember the trace they came from. Real app, both store backends."""

from __future__ import annotations

from chat_traces import post_chat

from triops.llm.evals.runner import ServerClient


def cases(client, name, version=None):
    params = {"version": version} if version else {}
    got = client.get(f"/api/v1/evals/datasets/{name}/cases", params=params)
    assert got.status_code == 200, got.text
    return got.json()


def test_versions_edit_delete_and_provenance(client):
    made = client.post("/api/v1/evals/datasets", json={
        "name": "golden", "cases": [{"inputs": {"q": "2+2?"}, "expected": "4"}]})
    assert made.status_code == 201 and made.json()["version"] == 1
    bad = post_chat(client, "capital of France?", "Lyon")
    from_traces = client.post("/api/v1/evals/datasets/golden/from-traces",
                              json={"trace_ids": [bad]})
    assert from_traces.status_code == 201, from_traces.text
    v2 = cases(client, "golden")
    assert [c["position"] for c in v2] == [0, 1]
    assert v2[1]["trace_id"] == bad and v2[1]["source"] == f"trace:{bad}"
    assert v2[1]["expected"] == "Lyon" and v2[1]["added_version"] == 2

    edited = client.put("/api/v1/evals/datasets/golden/cases/1", json={
        "inputs": v2[1]["inputs"], "expected": "Paris", "message": "corrected by review"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["trace_id"] == bad and edited.json()["added_version"] == 3
    gone = client.delete("/api/v1/evals/datasets/golden/cases/0")
    assert gone.json() == {"dataset": "golden", "version": 4}

    assert [(c["position"], c["expected"]) for c in cases(client, "golden")] == [(1, "Paris")]
    assert [(c["position"], c["expected"]) for c in cases(client, "golden", 2)] == [
        (0, "4"), (1, "Lyon")]
    assert [(c["position"], c["expected"]) for c in cases(client, "golden", 3)] == [
        (0, "4"), (1, "Paris")]
    detail = client.get("/api/v1/evals/datasets/golden").json()
    assert (detail["version"], detail["case_count"]) == (4, 1)
    assert [(v["version"], v["case_count"], v["message"]) for v in detail["versions"]] == [
        (4, 1, "deleted case 0"), (3, 2, "corrected by review"),
        (2, 2, "added 1 case(s) from traces"), (1, 1, "created")]

    # an eval config pins a version as name@N; the runner reads that version's cases
    runner_client = ServerClient("http://testserver", None)
    runner_client.http = client  # the app itself, as the runner's HTTP client
    assert [c.expected for c in runner_client.stored_cases("golden@2")] == ["4", "Lyon"]
    assert [c.expected for c in runner_client.stored_cases("golden")] == ["Paris"]

    # new cases never reuse a deleted case's position
    client.post("/api/v1/evals/datasets/golden/cases", json={"cases": [{"inputs": {"q": "x"}}]})
    assert [c["position"] for c in cases(client, "golden")] == [1, 2]

    assert client.get("/api/v1/evals/datasets/golden/cases",
                      params={"version": 99}).status_code == 404
    assert client.delete("/api/v1/evals/datasets/golden/cases/0").status_code == 404
    assert client.put("/api/v1/evals/datasets/golden/cases/1",
                      json={"inputs": [1]}).status_code == 400
    assert client.put("/api/v1/evals/datasets/nope/cases/1",
                      json={"inputs": {}}).status_code == 404
