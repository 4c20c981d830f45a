"""``triops runbooks``: apply, list, show and delete runbooks; list, approve and reject runs.

Works through a running server's API (``--server``/``TRIOPS_URL``, ``--api-key``/
``TRIOPS_API_KEY``), so every change and decision is audited under the caller's key.

    triops runbooks apply rollback-churn.yaml
    triops runbooks runs --status pending_approval
    triops runbooks approve RUN_ID
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from triops.cli.common import console
from triops.cli.remote import KeyOpt, ServerOpt, call_server

runbooks_app = typer.Typer(help="Runbooks and their runs.", no_args_is_help=True)




@runbooks_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="Runbook YAML")],
    name: Annotated[str | None, typer.Option(help="default: the file's 'name' or stem")] = None,
    server: ServerOpt = None, api_key: KeyOpt = None,
) -> None:
    """Store the runbook as its next version."""
    import yaml

    source = file.read_text()
    data = yaml.safe_load(source) if source.strip() else None
    name = name or (data.get("name") if isinstance(data, dict) else None) or file.stem
    out = call_server(server, api_key, "PUT", f"/api/v1/runbooks/{name}", content=source.encode())
    console.print(f"runbook {out['name']} is at version {out['version']}")


@runbooks_app.command("list")
def list_runbooks(server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    table = Table()
    for column in ("name", "version", "trigger", "steps"):
        table.add_column(column)
    for book in call_server(server, api_key, "GET", "/api/v1/runbooks"):
        steps = ", ".join(s["action"] for s in book["spec"]["steps"])
        table.add_row(book["name"], str(book["version"]), json.dumps(book["spec"]["trigger"]),
                      steps)
    console.print(table)


@runbooks_app.command("show")
def show(name: str, version: Annotated[int | None, typer.Option()] = None,
         server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    params = {"version": version} if version else {}
    book = call_server(server, api_key, "GET", f"/api/v1/runbooks/{name}", params=params)
    console.print(f"# {book['name']} v{book['version']} by {book['created_by']}")
    console.print(book["source"], highlight=False)


@runbooks_app.command("delete")
def delete(name: str, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Delete a runbook; its versions stay for the runs that used them."""
    call_server(server, api_key, "DELETE", f"/api/v1/runbooks/{name}")
    console.print(f"runbook {name} deleted")


@runbooks_app.command("runs")
def runs(status: Annotated[str | None, typer.Option()] = None,
         incident: Annotated[str | None, typer.Option()] = None,
         server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Runs, newest first, with what they plan or did."""
    params = {k: v for k, v in {"status": status, "incident_id": incident}.items() if v}
    table = Table()
    for column in ("id", "runbook", "incident", "status", "reason", "decided by"):
        table.add_column(column)
    for run in call_server(server, api_key, "GET", "/api/v1/runbook-runs", params=params):
        table.add_row(run["id"], f"{run['runbook']} v{run['runbook_version']}",
                      run["incident_id"], run["status"], run["reason"], run["decided_by"] or "")
    console.print(table)


def _decide(run_id: str, verb: str, note: str, server: str | None, api_key: str | None) -> None:
    run = call_server(server, api_key, "POST", f"/api/v1/runbook-runs/{run_id}/{verb}",
                json={"note": note})
    console.print(f"run {run['id']} is {run['status']} (by {run['decided_by']})")
    for step in run["plan"]:
        for change in step["changes"]:
            console.print(f"  {step['action']}: {change['target']} {change['what']}: "
                          f"{change['before']} → {change['after']}", highlight=False)


@runbooks_app.command("approve")
def approve(run_id: str, note: Annotated[str, typer.Option("--note", "-m")] = "",
            server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Approve a run that waits for approval (editors and admins)."""
    _decide(run_id, "approve", note, server, api_key)


@runbooks_app.command("reject")
def reject(run_id: str, note: Annotated[str, typer.Option("--note", "-m")] = "",
           server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    _decide(run_id, "reject", note, server, api_key)
