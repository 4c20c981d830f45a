"""The stock ``openai`` client drives ``/v1/files`` and ``/v1/fine_tuning/jobs`` on a real
``triops up`` whose gateway route points at the local upstream, which fakes OpenAI's
fine-tuning API: a job that succeeds (tracked run, metrics, registered model with its
lineage, then served through a gateway route), one that fails, one cancelled."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.conftest import ServerProcess, free_port, new_server
from tests.e2e.gateway_servers import ask
from tests.waiting import wait_until
from triops.llm.gateway.local_upstream import Served, create_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def trainer() -> Iterator[str]:
    served = Served(create_app("trainer"), free_port()).start()
    yield served.url
    served.stop()


@pytest.fixture(scope="module")
def ft_server(backend, tmp_path_factory, pg_databases, trainer) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp(f"ft-{backend}")
    config = home / "triops.toml"
    config.write_text(f"""
[[gateway.upstreams]]
name = "trainer"
base_url = "{trainer}/v1"
api_key = "sk-trainer"

[[gateway.routes]]
alias = "support"
deployments = [{{ upstream = "trainer", model = "gpt-4o-mini" }}]

[[gateway.routes]]
alias = "broken-base"
deployments = [{{ upstream = "trainer", model = "fail-training" }}]
""")
    proc = new_server(backend, home, pg_databases,
                      extra_env={"TRIOPS_CONFIG": str(config)}).start()
    yield proc
    proc.stop()


def client_for(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.admin_key,
                         max_retries=0, timeout=20)


TRAINING = b"".join(json.dumps({"messages": [
    {"role": "user", "content": q}, {"role": "assistant", "content": a}]}).encode() + b"\n"
    for q, a in (("capital of France?", "Paris"), ("2+2?", "4")))


def test_a_job_runs_registers_its_model_and_serves_it(ft_server):
    client = client_for(ft_server)
    training = client.files.create(file=("train.jsonl", TRAINING), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="support", training_file=training.id,
                                         suffix="support-v2",
                                         hyperparameters={"n_epochs": 2})
    assert job.status == "validating_files" and job.model == "support"
    assert client.fine_tuning.jobs.list().data[0].id == job.id

    done = wait_until(lambda: (j := client.fine_tuning.jobs.retrieve(job.id)).status
                      == "succeeded" and j, timeout=10, message="the job to succeed")
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini:support-v2:")
    assert done.trained_tokens > 0 and done.finished_at is not None
    events = client.fine_tuning.jobs.list_events(job.id, limit=50).data
    assert events[0].message.startswith("The job has successfully completed")
    assert [e.data["step"] for e in events if e.type == "metrics"] == [2, 1]

    extra = done.model_extra["triops"]
    assert (extra["registered_model"], extra["registered_version"]) == ("support-v2", 1)
    with ft_server.http() as http:
        run = http.get("/api/2.0/mlflow/runs/get", params={"run_id": extra["run_id"]}).json()
        info, data = run["run"]["info"], run["run"]["data"]
        assert info["status"] == "FINISHED"
        assert {p["key"]: p["value"] for p in data["params"]}["hp.n_epochs"] == "2"
        assert {m["key"] for m in data["metrics"]} == {"train_loss"}
        lineage = http.get("/api/v1/lineage/models/support-v2/versions/1").json()
        assert lineage["run"]["run_id"] == extra["run_id"]
        assert [d["name"] for d in lineage["datasets"]] == ["files/train.jsonl"]

        # offered as a gateway deployment: a route to the fine-tuned model
        route = http.put("/api/v1/gateway/routes/support-ft", json={"deployments": [
            {"upstream": "trainer", "model": done.fine_tuned_model}]})
        assert route.status_code == 200, route.text
    answer = wait_until(lambda: ask(client, "support-ft"), timeout=10,
                        message="the new route to serve")
    assert answer == "trainer says: hello"



def test_failure_and_cancellation_arrive_as_openai_reports_them(ft_server):
    client = client_for(ft_server)
    training = client.files.create(file=("train.jsonl", TRAINING), purpose="fine-tune")
    failing = client.fine_tuning.jobs.create(model="broken-base", training_file=training.id)
    failed = wait_until(lambda: (j := client.fine_tuning.jobs.retrieve(failing.id)).status
                        == "failed" and j, timeout=10, message="the job to fail")
    assert failed.error.code == "invalid_training_file"
    assert failed.model_extra["triops"]["registered_model"] is None

    running = client.fine_tuning.jobs.create(model="support", training_file=training.id)
    cancelled = client.fine_tuning.jobs.cancel(running.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.cancel(running.id)
    with ft_server.http() as http:
        run_id = cancelled.model_extra["triops"]["run_id"]
        run = http.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id}).json()
    assert run["run"]["info"]["status"] == "KILLED"

    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-0000")
    notes = client.files.create(file=("notes.txt", b"words"), purpose="user_data")
    with pytest.raises(openai.BadRequestError, match="purpose 'fine-tune'"):
        client.fine_tuning.jobs.create(model="support", training_file=notes.id)
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.create(model="no-such-alias", training_file=training.id)
