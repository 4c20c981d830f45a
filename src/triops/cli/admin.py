"""``triops db …``, ``triops keys …`` and ``triops incidents …``: work on the store directly."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from triops.cli.common import ProjectOpt, StoreOpt, console, open_database, settings_from
from triops.core.ids import now_ms
from triops.core.principals import ALL_PROJECTS
from triops.core.signals import Severity
from triops.ops import incident_store as incident_repo
from triops.ops import incidents as engine
from triops.ops import resolve
from triops.ops.causes import rank_incident
from triops.server import DEFAULT_PROJECT, revocations
from triops.server import audit_log as audit
from triops.server import key_store as keys

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
incidents_app = typer.Typer(help="Incidents: list, acknowledge, resolve, merge, split, probable causes.",
                            no_args_is_help=True)


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@db_app.command("upgrade")
def db_upgrade(store: StoreOpt = None) -> None:
    """Apply every pending migration."""
    settings = settings_from(store=store)
    open_database(settings).dispose()
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
    revocations.publish(settings.redis_url, key_id)
    console.print(f"revoked {key_id}")


@incidents_app.command("list")
def incidents_list(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
) -> None:
    """List incidents, newest first."""
    db = open_database(settings_from(store=store))
    with db.read() as session:
        rows = incident_repo.list_incidents(session, project, status)
    table = Table("id", "status", "severity", "title", "subject", "signals", "last seen (UTC)")
    for r in rows:
        table.add_row(r.id, r.status, Severity(r.severity).name, r.title, r.subject,
                      str(r.signal_count), _when(r.last_ms))
    console.print(table)


@incidents_app.command("ack")
def incidents_ack(incident_id: str, project: ProjectOpt = DEFAULT_PROJECT,
                  store: StoreOpt = None) -> None:
    """Acknowledge an incident."""
    db = open_database(settings_from(store=store))
    with db.write() as session:
        incident_repo.acknowledge(session, project, incident_id, "cli")
        audit.record(session, project=project, actor="cli", action="incident.ack",
                     target=incident_id)
    console.print(f"acknowledged {incident_id}")


@incidents_app.command("resolve")
def incidents_resolve(incident_id: str, project: ProjectOpt = DEFAULT_PROJECT,
                      store: StoreOpt = None) -> None:
    """Resolve an incident."""
    db = open_database(settings_from(store=store))
    with db.write() as session:
        resolve(session, project, incident_id)
        audit.record(session, project=project, actor="cli", action="incident.resolve",
                     target=incident_id)
    console.print(f"resolved {incident_id} at {_when(now_ms())} UTC")


@incidents_app.command("causes")
def incidents_causes(incident_id: str, project: ProjectOpt = DEFAULT_PROJECT,
                     store: StoreOpt = None) -> None:
    """Probable causes of an incident, best first, with the evidence for each."""
    db = open_database(settings_from(store=store))
    with db.read() as session:
        ranked = rank_incident(session, project, incident_id)
    if not ranked:
        console.print(f"no probable cause found for {incident_id}")
        return
    table = Table("#", "score", "entity", "kind", "evidence", "change")
    for rank, cause in enumerate(ranked, 1):
        table.add_row(str(rank), f"{cause.score:.3f}", cause.entity, cause.kind,
                      cause.evidence, cause.change_id or "")
    console.print(table)


@incidents_app.command("merge")
def incidents_merge(
    incident_id: str,
    into: Annotated[str, typer.Option("--into", help="The incident to merge into")],
    project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None,
) -> None:
    """Merge an incident into another: its members and signals move there."""
    db = open_database(settings_from(store=store))
    with db.write() as session:
        engine.merge(session, project, incident_id, into, "cli")
    console.print(f"merged {incident_id} into {into}")


@incidents_app.command("split")
def incidents_split(
    incident_id: str,
    fingerprints: Annotated[list[str], typer.Argument(help="Member fingerprints to move")],
    project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None,
) -> None:
    """Move member fingerprints of an incident to a new incident."""
    db = open_database(settings_from(store=store))
    with db.write() as session:
        new = engine.split(session, project, incident_id, fingerprints, "cli")
        new_id = new.id
    console.print(f"split {len(set(fingerprints))} member(s) of {incident_id} into {new_id}")
