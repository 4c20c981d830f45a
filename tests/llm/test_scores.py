"""Typed scores (numeric, boolean, categorical), score configs, and the trace list's score
filter, over the real app and both store backends."""

from __future__ import annotations

import doctest

from chat_traces import post_chat

from triops.llm import scores as scores_module


def test_docstring_examples_run():
    result = doctest.testmod(scores_module)
    assert result.attempted > 0 and result.failed == 0


def score(client, trace_id, name, value, **extra):
    return client.post(f"/api/v1/traces/{trace_id}/scores",
                       json={"name": name, "value": value, **extra})


def test_configs_shape_the_scores_they_name(client):
    verdict = client.put("/api/v1/score-configs/verdict", json={
        "data_type": "categorical", "categories": ["wrong", "partly", "right"],
        "description": "reviewer's verdict"})
    assert verdict.status_code == 200, verdict.text
    assert client.put("/api/v1/score-configs/stars", json={
        "data_type": "numeric", "min_value": 1, "max_value": 5}).status_code == 200
    assert client.put("/api/v1/score-configs/thumbs",
                      json={"data_type": "boolean"}).status_code == 200
    assert [c["name"] for c in client.get("/api/v1/score-configs").json()] == [
        "stars", "thumbs", "verdict"]

    trace_id = post_chat(client, "2+2?", "5")
    made = [score(client, trace_id, "verdict", "wrong"), score(client, trace_id, "stars", 2),
            score(client, trace_id, "thumbs", False), score(client, trace_id, "latency_ok", True),
            score(client, trace_id, "helpfulness", 0.25)]
    assert all(r.status_code == 201 for r in made), [r.text for r in made]
    got = {s["name"]: (s["data_type"], s["value"], s["string_value"])
           for s in client.get(f"/api/v1/traces/{trace_id}").json()["scores"]}
    assert got == {"verdict": ("categorical", 0.0, "wrong"), "stars": ("numeric", 2.0, None),
                   "thumbs": ("boolean", 0.0, "false"), "latency_ok": ("boolean", 1.0, "true"),
                   "helpfulness": ("numeric", 0.25, None)}

    refused = {
        "not a category": score(client, trace_id, "verdict", "maybe"),
        "out of range": score(client, trace_id, "stars", 9),
        "not a boolean": score(client, trace_id, "thumbs", "perhaps"),
        "label without config": score(client, trace_id, "mood", "sunny"),
    }
    assert {k: r.status_code for k, r in refused.items()} == dict.fromkeys(refused, 400)
    assert "wrong, partly, right" in refused["not a category"].json()["message"]
    assert "declare a categorical score config" in refused["label without config"].json()[
        "message"]

    bad_configs = [{"data_type": "categorical", "categories": []},
                   {"data_type": "categorical", "categories": ["a", "a"]},
                   {"data_type": "numeric", "min_value": 3, "max_value": 1},
                   {"data_type": "boolean", "categories": ["x"]}]
    assert [client.put("/api/v1/score-configs/x", json=b).status_code
            for b in bad_configs] == [400] * 4
    assert client.delete("/api/v1/score-configs/thumbs").status_code == 204
    assert client.get("/api/v1/score-configs/thumbs").status_code == 404


def test_trace_list_filters_on_scores(client):
    client.put("/api/v1/score-configs/verdict", json={
        "data_type": "categorical", "categories": ["wrong", "right"]})
    good, bad, unscored = (post_chat(client, q, a) for q, a in (
        ("capital of France?", "Paris"), ("2+2?", "5"), ("hi", "hello")))
    score(client, good, "helpfulness", 0.9)
    score(client, good, "verdict", "right")
    score(client, bad, "helpfulness", 0.1)
    score(client, bad, "verdict", "wrong")
    score(client, bad, "thumbs", False)

    def ids(*conditions):
        page = client.get("/api/v1/traces", params={"score": list(conditions)})
        assert page.status_code == 200, page.text
        return {t["trace_id"] for t in page.json()["traces"]}

    assert ids("helpfulness<0.5") == {bad}
    assert ids("helpfulness>=0.5") == {good}
    assert ids("verdict=wrong") == {bad}
    assert ids("verdict!=wrong") == {good}
    assert ids("thumbs=false") == {bad}
    assert ids("helpfulness") == {good, bad}
    assert ids("helpfulness>0", "verdict=right") == {good}
    assert unscored in ids()
    assert client.get("/api/v1/traces", params={"score": "verdict<wrong"}).status_code == 400
    assert client.get("/api/v1/traces", params={"score": "<1"}).status_code == 400
