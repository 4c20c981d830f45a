"""Prompts and evals against a real ``triops up`` and local fake upstreams.

The stock ``openai`` client calls a registered prompt by label; moving the label changes
what the upstream receives; the trace names the version. ``triops eval run`` gates CI
with its exit status, and broken inputs (template, dataset rows, scorer, an upstream
that dies mid-run) give clear errors while every finished case is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

import triops
from tests.conftest import ServerProcess, free_port, new_server
from tests.e2e.test_openai_client import client_for, received, upstreams, write_config
from tests.waiting import wait_until
from triops.cli import main
from triops.client import configure
from triops.core.errors import TriopsError
from triops.llm.gateway.local_upstream import Served, create_app

pytestmark = pytest.mark.e2e
__all__ = ["upstreams"]  # the fake upstream fixture, shared with the gateway's e2e tests

SUPPORT_V1 = [{"role": "system", "content": "You are the support desk of {{ company }}."},
              {"role": "user", "content": "{{ question }}"}]
SUPPORT_V2 = [{"role": "system", "content": "Answer in one line for {{ company }}."},
              {"role": "user", "content": "Customer asks: {{ question }}"}]


def failing_after(inner, good: int):
    """Wraps a fake upstream: after ``good`` chat calls it answers 503 to every call."""
    seen = {"chat": 0}

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("/chat/completions"):
            seen["chat"] += 1
            if seen["chat"] > good:
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": json.dumps(
                    {"error": {"message": "gamma is down", "type": "server_error"}}).encode()})
                return
        await inner(scope, receive, send)
    return app


@pytest.fixture(scope="module")
def flaky(backend) -> Iterator[str]:
    # One per backend: its count of answered calls must start at zero for each server.
    served = Served(failing_after(create_app("gamma"), good=3), free_port()).start()
    yield served.url
    served.stop()


def _config(home: Path, urls: dict[str, str], flaky_url: str) -> Path:
    path = write_config(home, urls)
    with path.open("a") as f:
        f.write(f"""
[[gateway.upstreams]]
name = "gamma"
base_url = "{flaky_url}/v1"

[[gateway.routes]]
alias = "flaky"
deployments = [{{ upstream = "gamma", model = "gpt-4o-mini" }}]
""")
    return path


@pytest.fixture(scope="module")
def srv(backend, tmp_path_factory, pg_databases, upstreams, flaky) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp(f"pe-{backend}")
    proc = new_server(backend, home, pg_databases, extra_env={
        "TRIOPS_CONFIG": str(_config(home, upstreams, flaky))}).start()
    with proc.http() as http:
        for body in ({"messages": SUPPORT_V1, "model": "chat", "message": "first",
                      "labels": ["production"]},
                     {"messages": SUPPORT_V2, "model": "chat", "message": "one line"},
                     {"messages": [{"role": "user", "content": "{{ rubric }}"}],
                      "model": "chat", "message": "echo judge", "labels": ["production"]}):
            name = "judge" if "rubric" in str(body) else "support"
            r = http.post(f"/api/v1/prompts/{name}/versions", json=body)
            assert r.status_code == 201, r.text
    yield proc
    proc.stop()


def _wait_trace(server: ServerProcess, trace_id: str) -> dict:
    with server.http() as http:  # spans are written in the background
        found = wait_until(lambda: (r := http.get(f"/api/v1/traces/{trace_id}")).is_success and r,
                           message=f"trace {trace_id}")
    return found.json()


def _ask(server: ServerProcess, question: str):
    return client_for(server).chat.completions.with_raw_response.create(
        model="", messages=[], extra_headers={"x-triops-cache": "no"},
        extra_body={"prompt": "support@production",
                    "variables": {"company": "ACME", "question": question}})


def test_openai_client_calls_a_prompt_by_label_and_the_label_move_changes_what_runs(
        srv, upstreams):
    raw = _ask(srv, "where is my parcel?")
    assert raw.parse().choices[0].message.content == "alpha says: where is my parcel?"
    sent = received(upstreams["alpha"])[-1]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["messages"][0]["content"] == "You are the support desk of ACME."
    trace = _wait_trace(srv, raw.headers["x-triops-trace-id"])
    attrs = trace["spans"][0]["attributes"]
    assert (attrs["triops.prompt.name"], attrs["triops.prompt.version"],
            attrs["triops.prompt.label"]) == ("support", 1, "production")

    with srv.http() as http:
        assert http.put("/api/v1/prompts/support/labels/production",
                        json={"version": 2}).status_code == 200
    raw = _ask(srv, "refund?")
    sent = received(upstreams["alpha"])[-1]
    assert sent["messages"] == [{"role": "system", "content": "Answer in one line for ACME."},
                                {"role": "user", "content": "Customer asks: refund?"}]
    assert _wait_trace(srv, raw.headers["x-triops-trace-id"])["spans"][0]["attributes"][
        "triops.prompt.version"] == 2

    # undo from the CLI puts production back on version 1 in one step
    out = _cli_here(srv, "prompts", "label", "undo", "support", "production")
    assert out.returncode == 0, out.stderr
    assert "v2 → v1 (undo)" in out.stdout
    _ask(srv, "again?")
    assert received(upstreams["alpha"])[-1]["messages"][0]["content"].startswith("You are")

    # a missing variable is a 400 naming it, and nothing reaches the upstream
    before = len(received(upstreams["alpha"]))
    import openai
    with pytest.raises(openai.BadRequestError, match="question"):
        client_for(srv).chat.completions.create(
            model="", messages=[], extra_body={"prompt": "support@production",
                                               "variables": {"company": "ACME"}})
    assert len(received(upstreams["alpha"])) == before

    # traces become eval cases: the prompt's variables in, the answer expected
    with srv.http() as http:
        made = http.post("/api/v1/evals/datasets/from-prod/from-traces",
                         json={"trace_ids": [raw.headers["x-triops-trace-id"]]})
        assert made.status_code == 201, made.text
        case = http.get("/api/v1/evals/datasets/from-prod/cases").json()[0]
    assert case["inputs"] == {"company": "ACME", "question": "refund?"}
    assert case["expected"] == "alpha says: Customer asks: refund?"
    assert case["metadata"]["triops.prompt.version"] == 2


def _cli(server: ServerProcess, *args: str, cwd: Path | None = None):
    """The real ``triops`` command in a child process: exit status and output as CI sees them."""
    env = {**os.environ, "TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key}
    return subprocess.run([sys.executable, "-m", "triops", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120, check=False)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _cli_here(server: ServerProcess, *args: str) -> Ran:
    """The same command in this process (a child's start-up costs seconds on a busy
    machine); errors are printed and turned into exit 1 as the console entry point does."""
    runner = CliRunner()
    result = runner.invoke(main.app, list(args), env={
        "TRIOPS_URL": server.url, "TRIOPS_API_KEY": server.admin_key, "COLUMNS": "240"})
    stderr = result.stderr
    code = result.exit_code
    if isinstance(result.exception, TriopsError):
        stderr += f"error: {result.exception.message}\n"
        code = 1
    elif result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(code, result.stdout, stderr)


def _eval_file(tmp_path: Path, **config) -> Path:
    path = tmp_path / "eval.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


CASES = [{"inputs": {"company": "ACME", "question": q}, "expected": e} for q, e in [
    ("hello", "hello"), ("refund", "refund"), ("parcel", "parcel"), ("x", "nope")]]


def test_eval_gate_fails_and_passes_by_exit_status(srv, tmp_path):
    with srv.http() as http:
        assert http.post("/api/v1/evals/datasets", json={
            "name": "golden", "cases": CASES}).status_code == 201
    config = _eval_file(tmp_path, name="gate", prompt="support@1", dataset="golden",
                        scorers=["contains", {"type": "latency", "max_ms": 10000},
                                 {"type": "judge", "prompt": "judge@production",
                                  "rubric": "0.75"},
                                 {"type": "embedding", "model": "chat"}], concurrency=2)
    failing = _cli(srv, "eval", "run", str(config), "--fail-under", "contains=0.9")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "gate failed: contains = 0.7500 < 0.9" in failing.stderr
    passing = _cli_here(srv, "eval", "run", str(config), "--fail-under", "contains=0.7",
                        "--fail-under", "latency=1")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "gates passed" in passing.stdout
    with srv.http() as http:
        run = http.get("/api/v1/evals/runs").json()[0]
        detail = http.get(f"/api/v1/evals/runs/{run['id']}").json()
    assert (run["prompt_name"], run["prompt_version"]) == ("support", 1)
    metrics = run["summary"]["metrics"]
    assert metrics["judge"] == 0.75  # the judge's prompt and call went through the gateway
    assert 0.3 < metrics["embedding"] < 0.95  # cosine of "alpha says: x" and "x" embeddings
    assert run["dataset"] == "golden" and run["case_count"] == 4
    assert len(detail["results"]) == 4
    first = detail["results"][0]
    assert first["output"].startswith("alpha says") and first["prompt_tokens"] > 0
    assert first["cost"] > 0 and first["latency_ms"] > 0
    trace = _wait_trace(srv, first["trace_id"])
    assert trace["spans"][0]["attributes"]["triops.prompt.version"] == 1


def test_broken_inputs_give_clear_errors_and_keep_finished_cases(srv, tmp_path):
    bad_template = tmp_path / "bad.yaml"
    bad_template.write_text("messages:\n  - role: user\n    content: \"ok\\n{% if x %}\"\n")
    pushed = _cli_here(srv, "prompts", "push", "broken", str(bad_template))
    assert pushed.returncode == 1 and "line 2" in pushed.stderr, pushed.stderr

    (tmp_path / "cases.jsonl").write_text(
        json.dumps(CASES[0]) + "\n{not json\n" + json.dumps({"inputs": [1]}) + "\n"
        + json.dumps(CASES[1]) + "\n")
    (tmp_path / "scorers_here.py").write_text(
        "def explode(output, expected, inputs):\n    raise RuntimeError('scorer is broken')\n")
    config = _eval_file(tmp_path, name="broken", prompt="support@production",
                        dataset="cases.jsonl", scorers=[
                            "contains", {"type": "python", "function": "scorers_here:explode",
                                         "path": str(tmp_path)}])
    out = _cli_here(srv, "eval", "run", str(config))
    assert out.returncode == 0, out.stderr
    assert "skipped: line 2: not valid JSON" in out.stderr
    assert "skipped: line 3:" in out.stderr
    with srv.http() as http:
        run = http.get("/api/v1/evals/runs").json()[0]
        results = http.get(f"/api/v1/evals/runs/{run['id']}").json()["results"]
    assert len(results) == 2 and run["summary"]["score_errors"]["explode"] == 2
    assert results[0]["scores"]["explode"]["error"] == "RuntimeError: scorer is broken"
    assert results[0]["scores"]["contains"]["value"] == 1.0

    # the upstream behind "flaky" answers 3 calls, then fails: 3 kept, the rest are errors
    many = [{"inputs": {"company": "ACME", "question": f"q{i}"}, "expected": f"q{i}"}
            for i in range(7)]
    config = _eval_file(tmp_path, name="flaky", prompt="support@production", model="flaky",
                        dataset=many, scorers=["contains"], concurrency=1)
    out = _cli_here(srv, "eval", "run", str(config), "--fail-under", "contains=0.9")
    assert out.returncode == 1 and "gate failed: contains = 0.4286 < 0.9" in out.stderr
    with srv.http() as http:
        run = http.get("/api/v1/evals/runs").json()[0]
        results = http.get(f"/api/v1/evals/runs/{run['id']}").json()["results"]
    assert run["status"] == "finished" and run["summary"]["errors"] == 4
    assert [r["output"] for r in results[:3]] == [f"gamma says: q{i}"
                                                  for i in range(3)]
    assert all(r["error"].startswith("HTTP 5") for r in results[3:]), results[3]["error"]


def test_online_evaluation_turns_a_falling_score_into_an_incident(srv):
    # Answers must start with "alpha says: OK"; the window's first two calls do, so they set
    # the baseline; then answers stop matching and the server's loop raises a signal.
    with srv.http() as http:
        r = http.put("/api/v1/evals/online/answers-ok", json={
            "scorers": [{"type": "regex", "pattern": "^alpha says: OK"}], "sample_rate": 1.0,
            "window": 2, "max_drop": 0.5, "threshold": None, "prompt": "support"})
        assert r.status_code == 200, r.text
    for question in ("OK one", "OK two"):
        _ask(srv, question)
    with srv.http() as http:
        def regex_state() -> dict | None:
            state = http.get("/api/v1/evals/online").json()[0]["state"]
            return state if state.get("regex", {}).get("baseline") is not None else None

        # The loop visits every 5 s, 2 s behind the clock.
        state = wait_until(regex_state, timeout=40, interval=0.5, message="a score baseline")
        assert state["regex"]["baseline"] == 1.0, state
        for question in ("broken one", "broken two"):
            _ask(srv, question)
        found = wait_until(lambda: [i for i in http.get("/api/v1/incidents").json()
                                    if i["kind"] == "eval_score_drop"],
                           timeout=40, interval=0.5, message="an eval_score_drop incident")
    assert found[0]["subject"] == "prompt:support", found


def test_sdk_prompt_cache_survives_a_server_outage(srv, tmp_path):
    # Last in the module: it kills the module's server to make the outage.
    proc = srv
    try:
        with proc.http() as http:
            http.post("/api/v1/prompts/greet/versions", json={
                "kind": "text", "text": "Hello {{ who }}", "model": "chat",
                "labels": ["production"]}).raise_for_status()
        configure(proc.url, proc.admin_key)
        triops.prompts.clear_memory()
        prompt = triops.prompts.get("greet", label="production", ttl_s=0,
                                    cache_dir=tmp_path / "cache")
        assert (prompt.version, prompt.render(who="Ada"), prompt.stale) == (1, "Hello Ada", False)
        with pytest.raises(triops.core.errors.NotFound):
            triops.prompts.get("nope", cache_dir=tmp_path / "cache")
    finally:
        proc.kill()
    stale = triops.prompts.get("greet", label="production", cache_dir=tmp_path / "cache")
    assert stale.stale and stale.messages(who="Bo") == [{"role": "user", "content": "Hello Bo"}]
    triops.prompts.clear_memory()  # a new process: only the cache file is left
    from_disk = triops.prompts.get("greet", label="production", cache_dir=tmp_path / "cache")
    assert from_disk.stale and from_disk.version == 1
    with pytest.raises(triops.core.errors.UpstreamError, match="no cached copy"):
        triops.prompts.get("other", cache_dir=tmp_path / "cache")
