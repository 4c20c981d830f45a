"""``triops db …`` and ``triops keys …``: admin verbs that work on the store directly."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from triops.cli.common import StoreOpt, console, open_database, settings_from
from triops.core.principals import ALL_PROJECTS
from triops.server import audit_log as audit
from triops.server import invalidation
from triops.server import key_store as keys

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@db_app.command("upgrade")
def db_upgrade(store: StoreOpt = None) -> None:
    """Apply every pending migration."""
    settings = settings_from(store=store)
    open_database(settings, create=True).dispose()
    console.print(f"schema is current: {settings.store_url}")


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option("--project", "-p", help="Project, or '*' for all")],
    role: Annotated[str, typer.Option("--role", "-r", help="viewer, editor or admin")],
    name: Annotated[str, typer.Option(help="A name to recognise the key by")] = "",
    store: StoreOpt = None,
) -> None:
    """Create an API key and print its secret once."""
    parsed = keys.parse_role(role)
    db = open_database(settings_from(store=store))
    with db.write() as session:
        created = keys.create(session, project=project, role=parsed, name=name)
        audit.record(session, project=project, actor="cli", action="key.create",
                     target=created.id, detail={"role": parsed.name})
    scope = "all projects" if project == ALL_PROJECTS else f"project {project}"
    console.print(f"created {parsed.name} key {created.id} for {scope}")
    console.print(created.secret, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    store: StoreOpt = None,
) -> None:
    """List keys (never their secrets)."""
    db = open_database(settings_from(store=store))
    with db.read() as session:
        rows = keys.list_keys(session, project)
    table = Table("id", "name", "project", "role", "prefix", "created", "revoked")
    for r in rows:
        table.add_row(r.id, r.name, r.project, r.role, r.prefix + "…", _when(r.created_ms),
                      _when(r.revoked_ms))
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, store: StoreOpt = None) -> None:
    """Revoke a key by id."""
    settings = settings_from(store=store)
    db = open_database(settings)
    with db.write() as session:
        row = keys.revoke(session, key_id)
        audit.record(session, project=row.project, actor="cli", action="key.revoke", target=key_id)
    invalidation.publish(settings.redis_url, invalidation.API_KEY, key_id)
    console.print(f"revoked {key_id}")
