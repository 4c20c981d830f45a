"""The SDK installed alone — its folder ``sdk/`` and its dependencies, nothing of the
server — records a run, traces calls and renders a registered prompt against a real
server."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: The store plays no part in what the SDK does.
BACKENDS_UNDER_TEST = ("sqlite",)
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = Path(__file__).parent / "examples"
SERVER_ONLY = ("fastapi", "sqlalchemy", "pandas", "scipy", "numpy", "aiohttp", "redis",
               "pydantic", "uvicorn")


def _clean_env(**extra: str) -> dict[str, str]:
    # Nothing of the test process may leak in: not its source folder, not its packages.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return {**env, "PYTHONNOUSERSITE": "1", **extra}


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the SDK and its declared dependencies only."""
    where = tmp_path_factory.mktemp("sdk-venv")
    venv.create(where, with_pip=False)
    python = where / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    str(ROOT / "sdk")], check=True, env=_clean_env(), timeout=300)
    return python


def _run(python: Path, script: str, cwd: Path, **env: str) -> str:
    done = subprocess.run([str(python), str(EXAMPLES / script)], capture_output=True, text=True,
                          cwd=cwd, env=_clean_env(**env), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_sdk_venv_holds_nothing_of_the_server(sdk_python):
    probe = ("import importlib.util, triops; "
             f"print([m for m in {SERVER_ONLY!r} + ('triops.core', 'triops.api') "
             "if importlib.util.find_spec(m)]); print(triops.__file__)")
    done = subprocess.run([str(sdk_python), "-c", probe], capture_output=True, text=True,
                          env=_clean_env(), timeout=60, check=True)
    present, location = done.stdout.splitlines()
    assert present == "[]"
    assert Path(location).is_relative_to(sdk_python.parents[1])


def test_sdk_alone_tracks_a_run(sdk_python, server, tmp_path):
    run_id = _run(sdk_python, "track.py", tmp_path, TRIOPS_URL=server.url,
                  TRIOPS_API_KEY=server.admin_key, SPOOL_DIR=str(tmp_path / "spool"))
    got = server.http().get(f"/api/v1/runs/{run_id}").json()
    assert got["status"] == "FINISHED" and got["params"] == {"alpha": "0.5"}
    assert got["metrics"]["loss"] == pytest.approx(1 / 3)


def test_sdk_alone_traces_and_renders_a_prompt(sdk_python, server, tmp_path):
    http = server.http()
    created = http.post("/api/v1/prompts/sdk-only/versions", json={
        "messages": [{"role": "user", "content": "{{ question }} given {{ docs | join(', ') }}"}],
        "labels": ["production"]})
    assert created.status_code == 201, created.text
    printed = _run(sdk_python, "trace.py", tmp_path, TRIOPS_URL=server.url,
                   TRIOPS_API_KEY=server.admin_key, TRIOPS_SERVICE="sdk-only-app",
                   HOME=str(tmp_path))
    assert printed == "user: what is triops given a document about what is triops"
    page = http.get("/api/v1/traces", params={"service": "sdk-only-app"}).json()
    assert page["total"] == 1
    spans = http.get(f"/api/v1/traces/{page['traces'][0]['trace_id']}").json()["spans"]
    assert [(s["name"], s["kind"]) for s in spans] == [("answer", "AGENT"),
                                                      ("retrieve", "RETRIEVER")]
