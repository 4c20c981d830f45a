"""The command line loads only what the invoked verb needs.

Every ``triops`` process imports ``triops.cli.main`` to build the command line; the
pillars' heavy dependencies (pandas, scikit-learn, networkx, Alembic, the server stack)
load in the verbs that use them. Checked in a fresh interpreter, where an import that
slips back to module level anywhere in the CLI shows up in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import triops

HEAVY = ("pandas", "sklearn", "scipy", "networkx", "alembic", "numba", "pyarrow", "fastapi",
         "uvicorn", "triops.server.app", "triops.server.runtime", "triops.llm.evals",
         "triops.ml.monitoring", "triops.ml.explain", "triops.ops.causes")


def _loaded(statement: str) -> set[str]:
    src = str(Path(triops.__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", f"{statement}\nimport json, sys\nprint(json.dumps(list(sys.modules)))"],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": src})
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_building_the_command_line_loads_no_heavy_dependency():
    loaded = _loaded("import triops.cli.main")
    assert "triops.cli.main" in loaded  # the check saw the CLI itself
    assert sorted(name for name in HEAVY if name in loaded) == []

