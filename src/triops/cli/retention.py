"""``triops retention``: how long the project keeps its telemetry, through a running
server's API.

    triops retention set --metrics-raw 7d --metrics-rollup 90d --logs 14d --traces 30d
    triops retention show
    triops retention clear
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from triops.cli.common import console
from triops.cli.remote import KeyOpt, ServerOpt, call_server

retention_app = typer.Typer(help="Retention of samples, logs and traces.", no_args_is_help=True)

Age = Annotated[str | None, typer.Option(help="seconds or a duration: 36h, 7d, 2w")]


@retention_app.command("show")
def show(server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """The project's policy (ages in seconds) and what its last enforcement did."""
    out = call_server(server, api_key, "GET", "/api/v1/retention")
    for kind in ("metrics_raw", "metrics_rollup", "logs", "traces"):
        age = out["policy"].get(kind)
        console.print(f"{kind:15} {'kept' if age is None else f'{age / 86400:g} d ({age} s)'}")
    if out["last_run_ms"] is None:
        console.print("not enforced yet")
    else:
        at = datetime.fromtimestamp(out["last_run_ms"] / 1000, UTC).isoformat(timespec="seconds")
        console.print(f"last enforced {at}: {json.dumps(out['last_report'])}")
    if out["last_error"]:
        console.print(f"[red]last error: {out['last_error']}[/red]")


@retention_app.command("set")
def set_policy(
    metrics_raw: Age = None, metrics_rollup: Age = None, logs: Age = None, traces: Age = None,
    server: ServerOpt = None, api_key: KeyOpt = None,
) -> None:
    """Replace the project's policy; what it does not name is kept for ever (admins)."""
    body = {"metrics_raw": metrics_raw, "metrics_rollup": metrics_rollup, "logs": logs,
            "traces": traces}
    out = call_server(server, api_key, "PUT", "/api/v1/retention",
                      json={k: v for k, v in body.items() if v is not None})
    console.print(f"retention of project {out['project']} saved: {json.dumps(out['policy'])}")


@retention_app.command("clear")
def clear(server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Drop the project's policy: everything is kept from now on (admins)."""
    out = call_server(server, api_key, "DELETE", "/api/v1/retention")
    console.print(f"retention of project {out['deleted']} cleared: everything is kept")
