"""Importing the SDK loads nothing of the server and none of its heavy dependencies.

Checked in the full development environment, where all of them are installed, so an
import that slips in anywhere in the SDK's import graph shows up here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import triops

SDK_MODULES = ("triops", "triops.client", "triops.client.errors", "triops.client.template",
               "triops.client.profile", "triops.client.prompts", "triops.client.tracing",
               "triops.client.tracking")
FORBIDDEN = {"fastapi", "starlette", "sqlalchemy", "alembic", "pandas", "scipy", "numpy",
             "aiohttp", "redis", "pydantic", "uvicorn"}
SERVER = ("triops.core", "triops.store", "triops.ml", "triops.llm", "triops.ops", "triops.api",
          "triops.ui", "triops.cli", "triops.server")


def _imported(statement: str) -> set[str]:
    src = str(Path(triops.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", statement],
                          capture_output=True, text=True, timeout=120, check=True,
                          env={**os.environ, "PYTHONPATH": src})
    # Lines read "import time: self [us] | cumulative | <indent>module".
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def test_sdk_imports_no_server_module_or_dependency():
    names = _imported(f"import {', '.join(SDK_MODULES)}; import triops; triops.start_run")
    assert set(SDK_MODULES) <= names  # the parse saw the SDK itself
    assert {n.split(".")[0] for n in names} & FORBIDDEN == set()
    assert [n for n in names if n in SERVER or n.startswith(tuple(f"{s}." for s in SERVER))] == []
