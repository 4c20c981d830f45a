"""Fine-tuning on the server's own pipeline executor, driven by the stock ``openai``
client: a job whose model is ``pipeline:<name>`` runs triops' ``answer_classifier``
recipe (a real fit), streams its steps and metrics into the job, and registers the
model with its lineage; a slow pipeline is cancelled between its steps."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import ServerProcess, new_server
from tests.waiting import wait_until
from triops.ml.fine_tuning.recipes import predict

pytestmark = pytest.mark.e2e

PAIRS = {"where is my parcel?": "Track it at /orders.",
         "how do I reset my password?": "Use the 'forgot password' link.",
         "can I get a refund?": "Refunds take 5 days.",
         "my parcel has not arrived": "Track it at /orders."}
TRAINING = b"".join(json.dumps({"messages": [
    {"role": "system", "content": "Answer briefly."}, {"role": "user", "content": q},
    {"role": "assistant", "content": a}]}).encode() + b"\n" for q, a in PAIRS.items())

SLOW = '''
import time
from triops.ml.pipelines import Pipeline

slow = Pipeline("slow", params=["training", "hyperparameters"])

@slow.step(inputs=["training"], outputs=["held"], cache=False)
def hold(training):
    time.sleep(3)
    return training

@slow.step(inputs=["held", "hyperparameters"], outputs=["model", "metrics"], cache=False)
def train(held, hyperparameters):
    return {"model": {"never": True}, "metrics": []}
'''


@pytest.fixture(scope="module")
def server(backend, tmp_path_factory, pg_databases) -> Iterator[ServerProcess]:
    proc = new_server(backend, tmp_path_factory.mktemp(f"ftp-{backend}"), pg_databases).start()
    yield proc
    proc.stop()


def test_a_pipeline_trains_a_model_and_registers_it(server):
    with server.http() as http:
        made = http.post("/api/v1/pipelines", json={
            "name": "answer-picker", "ref": "triops.ml.fine_tuning.recipes:answer_classifier"})
        assert made.status_code == 201, made.text
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.admin_key,
                           max_retries=0, timeout=20)
    training = client.files.create(file=("support.jsonl", TRAINING), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="pipeline:answer-picker",
                                         training_file=training.id, suffix="picker",
                                         hyperparameters={"n_epochs": 30}, seed=7)
    assert job.status == "running" and job.model_extra["triops"]["upstream"] == "pipeline"

    done = wait_until(lambda: (j := client.fine_tuning.jobs.retrieve(job.id)).status
                      in ("succeeded", "failed") and j, timeout=30, message="the job to end")
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model.startswith("pipeline:answer-picker:picker:")
    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    messages = [e.message for e in events if e.type == "message"]
    assert any(m.startswith("step read_examples succeeded") for m in messages)
    assert any(m.startswith("step train succeeded") for m in messages)
    losses = {e.data["step"]: e.data["train_loss"] for e in events if e.type == "metrics"}
    assert sorted(losses) == list(range(1, 31)) and losses[30] < losses[1] / 2

    extra = done.model_extra["triops"]
    assert (extra["registered_model"], extra["registered_version"]) == ("picker", 1)
    with server.http() as http:
        lineage = http.get("/api/v1/lineage/models/picker/versions/1").json()
        assert [d["name"] for d in lineage["datasets"]] == ["files/support.jsonl"]
        assert lineage["run"]["run_id"] == extra["run_id"]
        history = http.get("/api/2.0/mlflow/metrics/get-history", params={
            "run_id": extra["run_id"], "metric_key": "train_accuracy"}).json()["metrics"]
        assert len(history) == 30 and history[-1]["value"] == 1.0
        version = http.get("/api/2.0/mlflow/model-versions/get",
                           params={"name": "picker", "version": "1"}).json()["model_version"]
        assert version["source"] == f"runs:/{extra['run_id']}/model"
        run = http.get("/api/2.0/mlflow/runs/get", params={"run_id": extra["run_id"]}).json()
        root = run["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
        model = http.get(f"/api/2.0/mlflow-artifacts/artifacts/{root}/model/model.json").json()
    # The trained model picks the right answer for every training question.
    assert {q: predict(model, q) for q in PAIRS} == PAIRS
    assert client.fine_tuning.jobs.list().data[0].id == job.id


def test_a_pipeline_job_is_cancelled_between_steps(server):
    with server.http() as http:
        made = http.post("/api/v1/pipelines", json={"name": "slow", "source": SLOW})
        assert made.status_code == 201, made.text
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.admin_key,
                           max_retries=0, timeout=20)
    training = client.files.create(file=("slow.jsonl", TRAINING), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="pipeline:slow", training_file=training.id)
    cancelled = client.fine_tuning.jobs.cancel(job.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.cancel(job.id)
    with server.http() as http:
        run = wait_until(lambda: (r := http.get("/api/v1/pipelines/slow/runs").json()[0])[
            "status"] != "running" and r, timeout=20, message="the pipeline run to stop")
    assert run["status"] == "cancelled" and "before train" in run["error"]
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.create(model="pipeline:slow", training_file=training.id,
                                       metadata={"triops.executor": "nowhere"})
