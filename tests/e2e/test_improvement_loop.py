"""The improvement loop end to end on a real ``triops up``: traces with bad answers → an
annotation queue → two reviewers correct them → a dataset version → a redacted export →
a fine-tuning job on the fake provider (stock ``openai`` client) → a registered model
whose lineage starts at that dataset version → eval runs on the pinned version → the
gate refuses a worse candidate (route unchanged) and passes the fine-tuned one, which
joins the route as a canary with an online evaluator that scores the canary's calls."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import ServerProcess, free_port, new_server
from tests.e2e.gateway_servers import ask
from tests.llm.chat_traces import post_chat
from tests.waiting import wait_until
from triops.llm.evals.config import parse_config
from triops.llm.evals.runner import Runner, ServerClient
from triops.llm.gateway.local_upstream import Served, create_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def loop_server(backend, tmp_path_factory, pg_databases) -> Iterator[ServerProcess]:
    trainer = Served(create_app("trainer"), free_port()).start()
    home = tmp_path_factory.mktemp(f"loop-{backend}")
    config = home / "triops.toml"
    config.write_text(f"""
[[gateway.upstreams]]
name = "trainer"
base_url = "{trainer.url}/v1"

[[gateway.routes]]
alias = "support"
deployments = [{{ upstream = "trainer", model = "gpt-4o-mini" }}]
""")
    proc = new_server(backend, home, pg_databases,
                      extra_env={"TRIOPS_CONFIG": str(config)}).start()
    yield proc
    proc.stop()
    trainer.stop()


def test_feedback_to_fine_tuned_model(loop_server, tmp_path):
    with loop_server.http() as admin:
        reviewers = {}
        for name in ("alice", "bob"):
            made = admin.post("/api/v1/keys", json={"role": "editor", "project": "default",
                                                   "name": name})
            reviewers[f"key:{name}"] = made.json()["secret"]
        admin.put("/api/v1/score-configs/verdict", json={
            "data_type": "categorical", "categories": ["wrong", "partly", "right"]})
        bad = {"capital of France? mail me at ada@example.org": "Lyon",
               "2+2?": "5", "largest planet?": "Mars", "boiling point of water in C?": "90"}
        for question, answer in bad.items():
            trace_id = post_chat(admin, question, answer)
            admin.post(f"/api/v1/traces/{trace_id}/scores", json={"name": "judge", "value": 0.1})
        good = post_chat(admin, "capital of Italy?", "Rome")
        admin.post(f"/api/v1/traces/{good}/scores", json={"name": "judge", "value": 0.95})

        admin.post("/api/v1/annotation-queues", json={
            "name": "low-judge", "score_name": "verdict", "filter": {"score": ["judge<0.5"]}})
        assert admin.post("/api/v1/annotation-queues/low-judge/fill").json()["added"] == 4
        admin.post("/api/v1/annotation-queues/low-judge/assign",
                   json={"reviewers": list(reviewers)})

    right = {"capital of France? mail me at ada@example.org": "Paris", "2+2?": "4",
             "largest planet?": "Jupiter", "boiling point of water in C?": "100"}
    for secret in reviewers.values():
        with loop_server.http(secret) as reviewer:
            while (item := reviewer.post("/api/v1/annotation-queues/low-judge/next").json()):
                question = item["messages"][0]["content"]
                reviewer.post(f"/api/v1/annotation-queues/low-judge/items/{item['id']}",
                              json={"value": "wrong", "correction": right[question]})

    with loop_server.http() as admin:
        progress = admin.get("/api/v1/annotation-queues/low-judge").json()["progress"]
        assert progress["*"]["done"] == 4
        assert progress["key:alice"]["done"] == progress["key:bob"]["done"] == 2
        version = admin.post("/api/v1/annotation-queues/low-judge/to-dataset",
                             json={"dataset": "support-fixes"}).json()
        assert version == {"dataset": "support-fixes", "version": 1, "cases": 4}
        export = admin.post("/api/v1/evals/datasets/support-fixes/export",
                            json={"system": "Answer in one word."}).json()
        assert export["examples"] == 4 and export["redactions"] == 1

    client = openai.OpenAI(base_url=f"{loop_server.url}/v1", api_key=loop_server.admin_key,
                           max_retries=0, timeout=20)
    content = client.files.content(export["file"]["id"]).content.decode()
    assert "ada@example.org" not in content
    assert {json.loads(line)["messages"][-1]["content"] for line in content.splitlines()} == set(
        right.values())
    job = client.fine_tuning.jobs.create(model="support", training_file=export["file"]["id"],
                                         suffix="support-fixed")
    done = wait_until(lambda: (j := client.fine_tuning.jobs.retrieve(job.id)).status
                      in ("succeeded", "failed") and j, timeout=15, message="the job to end")
    assert done.status == "succeeded", done.error

    with loop_server.http() as admin:
        lineage = admin.get("/api/v1/lineage/models/support-fixed/versions/1").json()
        assert [(d["name"], d["source"]) for d in lineage["datasets"]] == [
            ("eval/support-fixes", "support-fixes@1")]
        assert lineage["run"]["run_id"] == done.model_extra["triops"]["run_id"]

    # eval runs on the pinned dataset version, through the gateway, by the eval runner
    def eval_run(model: str) -> str:
        config = parse_config({"name": f"gate {model}", "model": model,
                               "dataset": "support-fixes@1",
                               "scorers": [{"type": "regex", "pattern": "says"}]}, tmp_path)
        return Runner(config, ServerClient(loop_server.url, loop_server.admin_key)).run().run_id

    baseline = eval_run("support")
    candidate = {"upstream": "trainer", "model": done.fine_tuned_model}
    with loop_server.http() as admin:
        worse = admin.post("/api/v1/gateway/routes/support/rollout", json={
            "baseline_run": baseline, "candidate_run": eval_run("trainer/fail-500"),
            "candidate": {"upstream": "trainer", "model": "fail-500"}}).json()
        assert worse["passed"] is False and worse["route"] is None
        (route,) = [r for r in admin.get("/api/v1/gateway/routes").json()
                    if r["alias"] == "support"]
        assert [d["model"] for d in route["deployments"]] == ["gpt-4o-mini"]

        rolled = admin.post("/api/v1/gateway/routes/support/rollout", json={
            "baseline_run": baseline,
            "candidate_run": eval_run(f"trainer/{done.fine_tuned_model}"),
            "candidate": candidate, "canary_percent": 20,
            "watch": {"scorers": [{"type": "regex", "pattern": "says"}], "threshold": 0.5,
                      "sample_rate": 1.0, "window": 2}}).json()
        assert rolled["passed"] is True, rolled["reasons"]
        assert [(d["model"], d["weight"]) for d in rolled["route"]["deployments"]] == [
            ("gpt-4o-mini", 80.0), (done.fine_tuned_model, 20.0)]
        watchers = {o["name"]: o for o in admin.get("/api/v1/evals/online").json()}
        assert watchers[rolled["watcher"]]["config"]["model"] == done.fine_tuned_model
    served = wait_until(lambda: ask(client, f"trainer/{done.fine_tuned_model}"), timeout=10,
                        message="the fine-tuned model to answer through the gateway")
    assert served == "trainer says: hello"

    # The watcher scores the candidate's traffic as it arrives (the server's online loop).
    canary_call = client.chat.completions.with_raw_response.create(
        model=f"trainer/{done.fine_tuned_model}", messages=[{"role": "user", "content": "hi"}])
    trace_id = canary_call.headers["x-triops-trace-id"]
    with loop_server.http() as admin:
        def watched() -> list[dict]:
            scores = admin.get(f"/api/v1/traces/{trace_id}").json().get("scores") or []
            return [s for s in scores if s["name"] == f"{rolled['watcher']}/regex"]

        (score,) = wait_until(watched, timeout=30, interval=1,
                              message="the watcher to score the canary's call")
        assert score["value"] == 1.0 and score["actor"] == f"online-eval:{rolled['watcher']}"
        state = {o["name"]: o for o in admin.get("/api/v1/evals/online").json()}[
            rolled["watcher"]]["state"]
        assert state["regex"]["window"] and set(state["regex"]["window"]) == {1.0}
