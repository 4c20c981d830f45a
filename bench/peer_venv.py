"""Peers run from PyPI (or npm) in folders of their own, beside triops, on the same machine.

A peer (mlflow server, Drain3, LiteLLM, Phoenix, Evidently…) often pins versions that
clash with triops' own dependencies, so each gets ``bench/.venvs/<name>`` (ignored by
git), created on first use and reused after. A Node peer (Portkey's gateway) gets the
same folder with its ``node_modules`` in it, installed by ``npm``.
"""

from __future__ import annotations

import json
import shutil
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


def ensure_npm(name: str, packages: list[str], overrides: dict[str, str] | None = None
               ) -> Path:
    """Return the ``node_modules`` of the Node peer, installing with npm on first use;
    ``overrides`` pins dependencies of dependencies (npm's ``overrides`` field)."""
    folder = VENVS / name
    modules = folder / "node_modules"
    stamp = folder / ".packages"
    manifest = json.dumps({"private": True, "overrides": overrides or {}})
    wanted = "\n".join([*packages, manifest])
    if modules.exists() and stamp.exists() and stamp.read_text() == wanted:
        return modules
    print(f"[bench] installing {name} into {folder} …", file=sys.stderr, flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(modules, ignore_errors=True)
    (folder / "package-lock.json").unlink(missing_ok=True)
    (folder / "package.json").write_text(manifest + "\n")
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--save-exact",
                    "--prefix", str(folder), *packages], check=True)
    stamp.write_text(wanted)
    return modules
