"""Peers run from PyPI in venvs of their own, beside triops, on the same machine.

A peer (mlflow server, Drain3, LiteLLM, Phoenix, Evidently…) often pins versions that
clash with triops' own dependencies, so each gets ``bench/.venvs/<name>`` (ignored by
git), created on first use and reused after.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"


def ensure(name: str, requirements: list[str]) -> Path:
    """Return the python of the peer's venv, creating it and installing on first use."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    wanted = "\n".join(requirements)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"[bench] installing {name} into {venv} …", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    stamp.write_text(wanted)
    return python
