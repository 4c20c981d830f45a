"""Annotation queues over the real app and both store backends: a filter picks the
traces, two reviewers share them, answers become scores, corrections a dataset version."""

from __future__ import annotations

from chat_traces import post_chat

from triops.core.principals import Role
from triops.store.repos import keys


def reviewer(runtime, client, name):
    with runtime.db.write() as session:
        secret = keys.create(session, project="default", role=Role.editor, name=name).secret
    return {"Authorization": f"Bearer {secret}"}


def test_queue_from_filter_to_dataset_version(client, runtime):
    alice, bob = reviewer(runtime, client, "alice"), reviewer(runtime, client, "bob")
    client.put("/api/v1/score-configs/verdict", json={
        "data_type": "categorical", "categories": ["wrong", "right"]})
    bad = {post_chat(client, q, a): q for q, a in (
        ("capital of France?", "Lyon"), ("2+2?", "5"), ("largest planet?", "Mars"))}
    fine = post_chat(client, "capital of Italy?", "Rome")
    for trace_id in bad:
        client.post(f"/api/v1/traces/{trace_id}/scores", json={"name": "judge", "value": 0.1})
    client.post(f"/api/v1/traces/{fine}/scores", json={"name": "judge", "value": 0.9})

    made = client.post("/api/v1/annotation-queues", json={
        "name": "low-judge", "score_name": "verdict", "filter": {"score": ["judge<0.5"]}})
    assert made.status_code == 201, made.text
    assert client.post("/api/v1/annotation-queues/low-judge/fill").json() == {"added": 3}
    assert client.post("/api/v1/annotation-queues/low-judge/fill").json() == {"added": 0}
    shares = client.post("/api/v1/annotation-queues/low-judge/assign",
                         json={"reviewers": ["key:alice", "key:bob"]}).json()
    assert shares == {"key:alice": 2, "key:bob": 1}

    corrections = {"capital of France?": "Paris", "2+2?": "4", "largest planet?": "Jupiter"}
    answered = []
    for who in (alice, bob, alice):
        item = client.post("/api/v1/annotation-queues/low-judge/next", headers=who).json()
        question = item["messages"][0]["content"]
        assert item["trace_id"] in bad and item["output"] in ("Lyon", "5", "Mars")
        if question == "largest planet?" and who is alice:
            # not hers to answer from bob's key
            other = client.post(f"/api/v1/annotation-queues/low-judge/items/{item['id']}",
                                json={"value": "wrong"}, headers=bob)
            assert other.status_code == 409
        got = client.post(f"/api/v1/annotation-queues/low-judge/items/{item['id']}", json={
            "value": "wrong", "correction": corrections[question], "comment": "fixed"},
            headers=who)
        assert got.status_code == 200, got.text
        answered.append(got.json())
    assert client.post("/api/v1/annotation-queues/low-judge/next", headers=bob).json() is None
    assert {a["reviewer"] for a in answered} == {"key:alice", "key:bob"}
    again = client.post(f"/api/v1/annotation-queues/low-judge/items/{answered[0]['id']}",
                        json={"value": "right"}, headers=alice)
    assert again.status_code == 409

    queue = client.get("/api/v1/annotation-queues/low-judge").json()
    assert queue["progress"]["*"] == {"pending": 0, "done": 3, "skipped": 0}
    assert queue["progress"]["key:alice"]["done"] == 2
    trace_scores = client.get(f"/api/v1/traces/{answered[0]['trace_id']}").json()["scores"]
    verdicts = [s for s in trace_scores if s["name"] == "verdict"]
    assert verdicts[0]["string_value"] == "wrong" and verdicts[0]["source"] == "human"

    to = client.post("/api/v1/annotation-queues/low-judge/to-dataset",
                     json={"dataset": "corrected"})
    assert to.status_code == 201, to.text
    assert to.json() == {"dataset": "corrected", "version": 1, "cases": 3}
    cases = client.get("/api/v1/evals/datasets/corrected/cases").json()
    assert {c["inputs"]["messages"][0]["content"]: c["expected"] for c in cases} == corrections
    assert {c["trace_id"] for c in cases} == set(bad)
    assert client.post("/api/v1/annotation-queues/low-judge/to-dataset",
                       json={"dataset": "corrected"}).status_code == 409


def test_skip_sampling_and_refusals(client):
    client.put("/api/v1/score-configs/ok", json={"data_type": "boolean"})
    traces = [post_chat(client, f"q{i}", f"a{i}", user="sampled") for i in range(40)]
    client.post("/api/v1/annotation-queues", json={
        "name": "sample", "score_name": "ok", "filter": {"user": "sampled", "sample_rate": 0.25}})
    added = client.post("/api/v1/annotation-queues/sample/fill").json()["added"]
    kept = [t for t in traces if int(t[:8], 16) < 0.25 * 2**32]
    assert added == len(kept)
    item = client.post("/api/v1/annotation-queues/sample/next").json()
    skipped = client.post(f"/api/v1/annotation-queues/sample/items/{item['id']}",
                          json={"skip": True})
    assert skipped.json()["status"] == "skipped"
    assert client.get(f"/api/v1/traces/{item['trace_id']}").json()["scores"] == []

    refused = [
        client.post("/api/v1/annotation-queues", json={"name": "x", "score_name": "nope"}),
        client.post("/api/v1/annotation-queues", json={
            "name": "x", "score_name": "ok", "filter": {"colour": "red"}}),
        client.post("/api/v1/annotation-queues", json={
            "name": "x", "score_name": "ok", "filter": {"sample_rate": 2}}),
        client.post("/api/v1/annotation-queues", json={
            "name": "x", "score_name": "ok", "filter": {"score": ["judge<<1"]}}),
    ]
    assert [r.status_code for r in refused] == [404, 400, 400, 400]
    nxt = client.post("/api/v1/annotation-queues/sample/next").json()
    if nxt is not None:
        bad_value = client.post(f"/api/v1/annotation-queues/sample/items/{nxt['id']}",
                                json={"value": "maybe"})
        assert bad_value.status_code == 400
