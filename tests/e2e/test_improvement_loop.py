"""The improvement loop end to end on a real ``triops up``: traces with bad answers → an
annotation queue → two reviewers correct them → a dataset version → a redacted export →
a fine-tuning job on the fake provider (stock ``openai`` client) → a registered model
whose lineage starts at that dataset version → a gateway route serving it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import ServerProcess, free_port, new_server
from tests.llm.chat_traces import post_chat
from tests.waiting import wait_until
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


def test_feedback_to_fine_tuned_model(loop_server):
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
        admin.put("/api/v1/gateway/routes/support-next", json={"deployments": [
            {"upstream": "trainer", "model": done.fine_tuned_model}]}).raise_for_status()
    served = wait_until(lambda: _ask(client, "support-next"), timeout=10,
                        message="the route to the fine-tuned model")
    assert served == "trainer says: hello"


def _ask(client: openai.OpenAI, model: str) -> str | None:
    try:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hello"}])
    except openai.NotFoundError:
        return None
    return reply.choices[0].message.content
