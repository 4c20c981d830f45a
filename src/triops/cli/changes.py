"""``triops changes``: list change events and post deploy markers.

Works through a running server's API (``--server``/``TRIOPS_URL``, ``--api-key``/
``TRIOPS_API_KEY``), as a CI/CD job would:

    triops changes add checkout --version 2.3.1 --commit 9f3c2a1 -d "deploy 2.3.1"
    triops changes list --entity service:checkout --since 2025-03-01T00:00:00Z
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from triops.cli.common import console
from triops.cli.remote import KeyOpt, ServerOpt, call_server

changes_app = typer.Typer(help="Change events: what changed, when, by whom.",
                          no_args_is_help=True)




def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@changes_app.command("list")
def list_changes(
    entity: Annotated[list[str] | None, typer.Option(
        "--entity", help="entity key, e.g. service:checkout (repeatable)")] = None,
    since: Annotated[str | None, typer.Option(help="epoch ms or RFC 3339")] = None,
    until: Annotated[str | None, typer.Option(help="epoch ms or RFC 3339")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 100,
    server: ServerOpt = None, api_key: KeyOpt = None,
) -> None:
    """List changes, newest first."""
    params: dict[str, Any] = {"limit": limit}
    if entity:
        params["entity"] = entity
    params.update({k: v for k, v in (("since", since), ("until", until)) if v})
    table = Table()
    for column in ("time (UTC)", "entity", "kind", "version", "actor", "source", "summary"):
        table.add_column(column)
    for c in call_server(server, api_key, "GET", "/api/v1/changes", params=params):
        table.add_row(_when(c["time_ms"]), c["entity"], c["kind"], c["version"], c["actor"],
                      c["source"], c["summary"])
    console.print(table)


@changes_app.command("add")
def add_change(
    service: Annotated[str, typer.Argument(help="service name, or an entity key")],
    version: Annotated[str, typer.Option(help="the version deployed")] = "",
    commit: Annotated[str, typer.Option(help="the commit deployed")] = "",
    who: Annotated[str, typer.Option(help="who made the change")] = "",
    when: Annotated[str | None, typer.Option(help="epoch ms or RFC 3339; default now")] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    server: ServerOpt = None, api_key: KeyOpt = None,
) -> None:
    """Record an external change, such as a deploy from CI/CD."""
    body = {"service": service, "version": version, "commit": commit, "who": who,
            "when": when, "description": description}
    made = call_server(server, api_key, "POST", "/api/v1/changes", json=body)
    console.print(f"change {made['id']} on {made['entity']} at {_when(made['time_ms'])}")
