"""What every CLI verb shares: settings from flags, opening the store, printing errors.

Verbs that work on the store directly (admin and offline work) name the store they
opened on stderr and never create an empty SQLite store by accident: a store that is
not there is an error that says how to reach one, except for the verbs that exist to
fill one (``db upgrade``, ``ops import``, ``pipeline run``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from triops.core.errors import NotFound

# Every verb's module is imported to build the command line, so the settings and the
# store load in the functions that use them: `triops --help` and the verbs that only
# talk to a server never pay for SQLAlchemy, Alembic or pydantic-settings.
if TYPE_CHECKING:
    from triops.core.settings import Settings
    from triops.store import Database

# Piped output (scripts, CI logs) gets wide lines so ids and URLs are never wrapped.
console = Console(width=None if sys.stdout.isatty() else 240)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 240)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="SQLAlchemy URL (default: sqlite under ./.triops/)",
                 show_default=False),
]
# For user verbs, which talk to the server unless told to open a store.
OfflineStoreOpt = Annotated[
    str | None,
    typer.Option("--store", show_default=False,
                 help="Work offline on this store (SQLAlchemy URL) instead of the server"),
]
OfflineHomeOpt = Annotated[
    Path | None,
    typer.Option("--home", show_default=False,
                 help="Work offline on the store in this folder instead of the server"),
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
# On the server a key names its project; the flag picks one for a key of all projects.
ServerProjectOpt = Annotated[str | None, typer.Option(
    "--project", "-p", show_default=False,
    help="Project (default: the key's own; 'default' with --store/--home)")]


def settings_from(**flags: object) -> Settings:
    from triops.core.settings import Settings

    return Settings.load(**flags)


def shown_url(url: str) -> str:
    """The store URL without its password, as the CLI prints it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist (None for other databases)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    name = parsed.database
    if not parsed.drivername.startswith("sqlite") or not name or name == ":memory:":
        return None
    path = Path(name)
    return None if path.exists() else path


def open_database(settings: Settings, migrate: bool = True, create: bool = False) -> Database:
    """Open the store the settings name, saying which on stderr.

    Without ``create`` a SQLite file that does not exist is an error (opening it would
    leave an empty store behind, and a command run from the wrong folder would answer
    from it as if nothing had happened).
    """
    from triops.store import Database, upgrade_schema

    url = settings.store_url
    missing = missing_sqlite_file(url)
    if missing is not None and not create:
        raise NotFound(
            f"no triops store at {missing} (nothing was created): run the command where "
            "the store is, or pass --store URL / --home FOLDER; `triops db upgrade` creates "
            "a new one")
    err_console.print(f"[dim]{'created' if missing else 'store'}: {shown_url(url)}[/]",
                      highlight=False)
    db = Database(url)
    if migrate:
        upgrade_schema(db.engine)
    return db


def offline(store: str | None, home: Path | None) -> bool:
    """A user verb works on a store when one is named, else on the server."""
    return store is not None or home is not None
