"""``triops incidents …``: list, show, acknowledge, resolve, merge, split, probable causes.

They ask the server (``--server`` / ``TRIOPS_URL``, a key from ``--api-key``,
``TRIOPS_API_KEY`` or ``triops login``); with ``--store`` or ``--home`` they work offline
on that store instead. An incident may be named by a unique prefix of its id.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from triops.cli.common import OfflineHomeOpt, OfflineStoreOpt, ServerProjectOpt, console
from triops.cli.remote import KeyOpt, ProfileOpt, ServerOpt
from triops.cli.target import Target
from triops.core.errors import InvalidInput, NotFound
from triops.core.signals import Severity
from triops.ops import incident_store as incident_repo
from triops.ops import incidents as engine
from triops.ops import resolve
from triops.server import audit_log as audit

incidents_app = typer.Typer(
    help="Incidents: list, show, acknowledge, resolve, merge, split, probable causes. "
         "They ask the server unless --store/--home names a store to work on offline.",
    no_args_is_help=True)

IncidentArg = Annotated[str, typer.Argument(help="Incident id, or a unique prefix of it")]
_CANDIDATES = 5


def when(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def pick_one(prefix: str, ids: list[str]) -> str:
    """The one id the prefix names: none or several is an error that says which."""
    if not prefix:
        raise InvalidInput("an incident id (or a prefix of one) is required")
    if not ids:
        raise NotFound(f"no incident id starts with {prefix!r}")
    if len(ids) > 1:
        shown = ", ".join(ids[:_CANDIDATES]) + (" …" if len(ids) > _CANDIDATES else "")
        raise InvalidInput(f"incident prefix {prefix!r} is ambiguous: it matches {shown}; "
                           "give more characters")
    return ids[0]


class Where(Target):
    """The server or a store, and the incident ids a prefix names there."""

    def incident_id(self, prefix: str) -> str:
        limit = _CANDIDATES + 1
        if self.is_offline:
            with self.db.read() as session:
                rows = incident_repo.list_incidents(session, self.project,
                                                    None, limit, prefix)
                return pick_one(prefix, [r.id for r in rows])
        rows = self.api("GET", "/api/v1/incidents",
                        params={"id_prefix": prefix[:32], "limit": limit})
        return pick_one(prefix, [r["id"] for r in rows])


def _where(server: str | None, api_key: str | None, profile: str, project: str | None,
           store: str | None, home: Path | None) -> Where:
    return Where(server, api_key, profile, project, store, home)


@incidents_app.command("list")
def incidents_list(
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """List incidents, newest first."""
    table = Table("id", "status", "severity", "title", "subject", "signals", "last seen (UTC)")
    with _where(server, api_key, profile, project, store, home) as where:
        if where.is_offline:
            with where.db.read() as session:
                rows = [(r.id, r.status, Severity(r.severity).name, r.title, r.subject,
                         r.signal_count, r.last_ms) for r in incident_repo.list_incidents(
                             session, where.project, status, limit)]
        else:
            params: dict[str, Any] = {"limit": limit}
            if status:
                params["status"] = status
            rows = [(r["id"], r["status"], r["severity"], r["title"], r["subject"],
                     r["signal_count"], r["last_ms"])
                    for r in where.api("GET", "/api/v1/incidents", params=params)]
    for i, st, sev, title, subject, count, last in rows:
        table.add_row(i, st, sev, title, subject, str(count), when(last))
    console.print(table)


@incidents_app.command("show")
def incidents_show(
    incident_id: IncidentArg,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """One incident: its members, latest signals and probable causes."""
    with _where(server, api_key, profile, project, store, home) as where:
        full = where.incident_id(incident_id)
        if where.is_offline:
            from triops.api.native.incidents import IncidentOut
            from triops.ops.causes import rank_incident

            with where.db.read() as session:
                row = incident_repo.get(session, where.project, full)
                shown = IncidentOut.full(session, row).model_dump()
                shown["causes"] = [{"entity": c.entity, "kind": c.kind, "score": c.score,
                                    "evidence": c.evidence}
                                   for c in rank_incident(session, where.project, full)]
        else:
            shown = where.api("GET", f"/api/v1/incidents/{full}")
    console.print(f"[bold]{shown['title']}[/] ({shown['id']})", highlight=False)
    console.print(f"{shown['status']}, {shown['severity']}, {shown['signal_count']} signal(s), "
                  f"first {when(shown['first_ms'])}, last {when(shown['last_ms'])} UTC"
                  + (f", merged into {shown['merged_into']}" if shown["merged_into"] else ""),
                  highlight=False)
    members = Table("fingerprint", "source", "kind", "subject", "severity", "signals", "firing")
    for m in shown.get("members") or []:
        members.add_row(m["fingerprint"], m["source"], m["kind"], m["subject"], m["severity"],
                        str(m["signal_count"]), "yes" if m["firing"] else "no")
    console.print(members)
    for s in (shown.get("signals") or [])[:10]:
        console.print(f"  {when(s['time_ms'])}  {s['severity']:<8} {s['summary']}".rstrip(),
                      highlight=False)
    for rank, cause in enumerate(shown.get("causes") or [], 1):
        console.print(f"cause {rank}: {cause['entity']} {cause['kind']} "
                      f"({cause['score']:.3f}) {cause['evidence']}", highlight=False)


@incidents_app.command("ack")
def incidents_ack(
    incident_id: IncidentArg,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """Acknowledge an incident."""
    with _where(server, api_key, profile, project, store, home) as where:
        full = where.incident_id(incident_id)
        if where.is_offline:
            with where.db.write() as session:
                incident_repo.acknowledge(session, where.project, full, "cli")
                audit.record(session, project=where.project, actor="cli",
                             action="incident.ack", target=full)
        else:
            where.api("POST", f"/api/v1/incidents/{full}/ack")
    console.print(f"acknowledged {full}")


@incidents_app.command("resolve")
def incidents_resolve(
    incident_id: IncidentArg,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """Resolve an incident."""
    with _where(server, api_key, profile, project, store, home) as where:
        full = where.incident_id(incident_id)
        if where.is_offline:
            with where.db.write() as session:
                row = resolve(session, where.project, full)
                resolved_ms = row.resolved_ms
                audit.record(session, project=where.project, actor="cli",
                             action="incident.resolve", target=full)
        else:
            resolved_ms = where.api("POST", f"/api/v1/incidents/{full}/resolve")["resolved_ms"]
    console.print(f"resolved {full} at {when(resolved_ms)} UTC")


@incidents_app.command("causes")
def incidents_causes(
    incident_id: IncidentArg,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """Probable causes of an incident, best first, with the evidence for each."""
    with _where(server, api_key, profile, project, store, home) as where:
        full = where.incident_id(incident_id)
        if where.is_offline:
            # The ranking's metric analysis loads pandas and networkx: only offline.
            from triops.ops.causes import rank_incident

            with where.db.read() as session:
                ranked = [{"score": c.score, "entity": c.entity, "kind": c.kind,
                           "evidence": c.evidence, "change_id": c.change_id}
                          for c in rank_incident(session, where.project, full)]
        else:
            ranked = where.api("GET", f"/api/v1/incidents/{full}/causes")
    if not ranked:
        console.print(f"no probable cause found for {full}")
        return
    table = Table("#", "score", "entity", "kind", "evidence", "change")
    for rank, cause in enumerate(ranked, 1):
        table.add_row(str(rank), f"{cause['score']:.3f}", cause["entity"], cause["kind"],
                      cause["evidence"], cause["change_id"] or "")
    console.print(table)


@incidents_app.command("merge")
def incidents_merge(
    incident_id: IncidentArg,
    into: Annotated[str, typer.Option("--into", help="The incident to merge into (id or prefix)")],
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """Merge an incident into another: its members and signals move there."""
    with _where(server, api_key, profile, project, store, home) as where:
        full, target = where.incident_id(incident_id), where.incident_id(into)
        if where.is_offline:
            with where.db.write() as session:
                engine.merge(session, where.project, full, target, "cli")
        else:
            where.api("POST", f"/api/v1/incidents/{full}/merge", json={"into": target})
    console.print(f"merged {full} into {target}")


@incidents_app.command("split")
def incidents_split(
    incident_id: IncidentArg,
    fingerprints: Annotated[list[str], typer.Argument(help="Member fingerprints to move")],
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """Move member fingerprints of an incident to a new incident."""
    with _where(server, api_key, profile, project, store, home) as where:
        full = where.incident_id(incident_id)
        if where.is_offline:
            with where.db.write() as session:
                new_id = engine.split(session, where.project, full, fingerprints, "cli").id
        else:
            new_id = where.api("POST", f"/api/v1/incidents/{full}/split",
                               json={"fingerprints": fingerprints})["id"]
    console.print(f"split {len(set(fingerprints))} member(s) of {full} into {new_id}")
