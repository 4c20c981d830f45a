"""What every CLI verb shares: settings from flags, opening the store, printing errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from triops.core.settings import Settings
from triops.store import Database, upgrade_schema

# Piped output (scripts, CI logs) gets wide lines so ids and URLs are never wrapped.
console = Console(width=None if sys.stdout.isatty() else 240)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 240)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="SQLAlchemy URL (default: sqlite under ./.triops/)",
                 show_default=False),
]
ArtifactsOpt = Annotated[
    str | None,
    typer.Option("--artifacts", help="Local folder or fsspec URL for artifacts",
                 show_default=False),
]
HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Folder for the embedded store and artifacts (default ./.triops)",
                 show_default=False),
]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project (workspace)")]


def settings_from(**flags: object) -> Settings:
    return Settings.load(**flags)


def open_database(settings: Settings, migrate: bool = True) -> Database:
    db = Database(settings.store_url)
    if migrate:
        upgrade_schema(db.engine)
    return db
