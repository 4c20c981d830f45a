"""``triops init``: make a folder a triops project (``triops.toml``, ``.triops/`` ignored by git)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triops.cli.common import console
from triops.core.errors import InvalidInput

CONFIG_FILE = "triops.toml"
IGNORED = ".triops/"

TEMPLATE = """\
# triops settings for this project, read by `triops up` and by the CLI run in this folder.
# A TRIOPS_* environment variable (TRIOPS_PORT, TRIOPS_STORE, ...) wins over this file;
# README.md lists every key.

# Folder of the embedded SQLite store and the artifacts (ignored by git).
home = ".triops"
# Where `triops up` listens, and where the CLI run here finds the server when neither
# --server, TRIOPS_URL nor a `triops login` profile names one.
host = "127.0.0.1"
port = 7600

# A shared store and artifact location instead of the embedded ones:
# store = "postgresql+psycopg://triops@db.example/triops"
# artifacts = "s3://my-bucket/triops"
# Modules whose pipelines the server may import (see docs/security.md):
# pipeline_modules = ["mypkg.pipelines"]
"""


def _ignored(lines: list[str]) -> bool:
    return any(line.strip().rstrip("/") in (".triops", "/.triops") for line in lines)


def init(
    folder: Annotated[Path, typer.Argument(help="Project folder (default: here)")] = Path("."),
    force: Annotated[bool, typer.Option("--force", help=f"Overwrite an existing {CONFIG_FILE}")
                     ] = False,
) -> None:
    """Write triops.toml and add .triops/ to the project's .gitignore."""
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a folder")
    config = folder / CONFIG_FILE
    if config.exists() and not force:
        console.print(f"kept {config} (it exists; --force overwrites it)", highlight=False)
    else:
        config.write_text(TEMPLATE)
        console.print(f"wrote {config}", highlight=False)
    ignore = folder / ".gitignore"
    text = ignore.read_text() if ignore.is_file() else ""
    if _ignored(text.splitlines()):
        console.print(f"{ignore} already ignores {IGNORED}", highlight=False)
    else:
        separator = "" if not text or text.endswith("\n") else "\n"
        ignore.write_text(f"{text}{separator}# triops: the embedded store and artifacts\n"
                          f"{IGNORED}\n")
        console.print(f"added {IGNORED} to {ignore}", highlight=False)
    console.print("next: `triops up` here starts the server and web UI on this project",
                  highlight=False)
