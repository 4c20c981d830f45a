"""Pipeline code registered as a file: admin upload, bound to its SHA-256, run from there."""

from __future__ import annotations

import hashlib

import pytest

from tests.waiting import wait_until
from triops.ml.pipelines import _code

SOURCE = '''
from triops.ml.pipelines import Pipeline

uploaded = Pipeline("uploaded", params=["n"])


@uploaded.step(inputs=["n"], outputs=["total"])
def add_up(n):
    return sum(range(n))
'''


@pytest.fixture(autouse=True)
def _fresh_process():
    """Each test loads files as a newly started server would."""
    _code._loaded.clear()
    yield
    _code._loaded.clear()


def _finished(client, run_id: str) -> dict:
    return wait_until(lambda: (r := client.get(f"/api/v1/pipeline-runs/{run_id}").json())[
        "status"] != "running" and r, timeout=30, message=f"pipeline run {run_id} to finish")


def test_an_uploaded_file_runs_only_with_the_bytes_registered(client, runtime):
    made = client.post("/api/v1/pipelines", json={"name": "up", "source": SOURCE,
                                                  "description": "sums"})
    assert made.status_code == 201, made.text
    digest = hashlib.sha256(SOURCE.encode()).hexdigest()
    assert made.json()["code_sha256"] == digest and made.json()["steps"] == ["add_up"]
    assert made.json()["ref"] == f"code:{digest}:uploaded"
    assert client.get("/api/v1/pipelines").json()[0]["code_sha256"] == digest

    _code._loaded.clear()  # a server restarted since: the file is read from the store
    started = client.post("/api/v1/pipelines/up/runs", json={"params": {"n": 5}})
    assert started.status_code == 202, started.text
    run = _finished(client, started.json()["id"])
    assert run["status"] == "succeeded" and run["outputs"]["total"] == 10

    # Bytes changed in the artifact store after the grant are refused, never run.
    runtime.artifacts.write_bytes(f"pipelines/default/{digest}.py",
                                  SOURCE.encode() + b"\nimport os\nos.system('false')\n")
    _code._loaded.clear()
    refused = client.post("/api/v1/pipelines/up/runs", json={"params": {"n": 5}})
    assert refused.status_code == 400
    assert refused.json()["error_code"] == "PIPELINE_CODE_CHANGED"

    changed = SOURCE.replace("sum(range(n))", "n")
    taken = client.post("/api/v1/pipelines", json={"name": "up", "source": changed})
    assert taken.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    again = client.post("/api/v1/pipelines", json={"name": "up", "source": changed,
                                                   "replace": True})
    assert again.status_code == 201 and again.json()["code_sha256"] != digest
    rerun = client.post("/api/v1/pipelines/up/runs", json={"params": {"n": 5}})
    assert _finished(client, rerun.json()["id"])["outputs"]["total"] == 5


@pytest.mark.parametrize("body, needle", [
    ({"source": "def broken(:\n"}, "not valid Python"),
    ({"source": "import no_such_package_here\n"}, "Install that package"),
    ({"source": SOURCE + "\nsecond = uploaded\n"}, "name the one to register"),
    ({"source": SOURCE, "pipeline": "nothing"}, "no triops Pipeline named 'nothing'"),
    ({"source": "raise ValueError('at import')\n"}, "raised ValueError when loaded"),
])
def test_bad_files_are_refused_with_the_reason(client, body, needle):
    got = client.post("/api/v1/pipelines", json={"name": "bad", **body})
    assert got.status_code == 400, got.text
    assert needle in got.json()["message"]
    assert client.get("/api/v1/pipelines").json() == []


def test_a_registration_names_exactly_one_origin(client):
    for body in ({}, {"ref": "a:b", "source": SOURCE}, {"ref": "a:b", "pipeline": "p"}):
        got = client.post("/api/v1/pipelines", json={"name": "x", **body})
        assert got.status_code in (400, 422), body
