"""``triops ops prometheus``: the Prometheus ``query_range`` sources a running server polls.

    triops ops prometheus put queues --url http://prometheus:9090 --query queue_depth \\
        --step 15s --lookback 1h
    triops ops prometheus list
    triops ops prometheus show queues
    triops ops prometheus delete queues

Credentials are read from files (``--bearer-token-file``, ``--password-file``), as
Prometheus' own configuration reads them, so they stay out of the shell's history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from triops.cli.common import console
from triops.cli.remote import KeyOpt, ServerOpt, call_server
from triops.core.errors import InvalidInput

app = typer.Typer(help="Prometheus query_range sources: detection over series kept in "
                  "Prometheus.", no_args_is_help=True)

PATH = "/api/v1/ops/prometheus-sources"
SecretFile = Annotated[Path | None, typer.Option(help="read it from this file (first line)")]


def _secret(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    if not lines or not lines[0].strip():
        raise InvalidInput(f"{path} is empty")
    return lines[0].strip()


def _when(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _print(source: dict[str, Any]) -> None:
    spec = source["spec"]
    console.print(f"[bold]{source['name']}[/bold]  {spec['url']}  {spec['query']}")
    console.print(f"  step {spec['step']} s, lookback {spec['lookback']} s, every "
                  f"{spec['every']} s, detector {spec['detector']}"
                  + (", bearer token" if "bearer_token" in spec else "")
                  + (f", basic auth as {spec['username']}" if "username" in spec else "")
                  + (", certificate not verified" if spec.get("tls_verify") is False else ""))
    console.print(f"  last poll ok {_when(source['last_ok_ms'])}: {source['series']} series, "
                  f"{source['points']} points; {source['anomalies']} anomalies in all")
    if source["last_error"]:
        console.print(f"  [red]last error {_when(source['last_error_ms'])}: "
                      f"{source['last_error']}[/red]")


@app.command("put")
def put(
    name: Annotated[str, typer.Argument(help="the source's name (letters, digits, _ . -)")],
    url: Annotated[str, typer.Option(help="Prometheus base URL, e.g. http://prometheus:9090")],
    query: Annotated[str, typer.Option(help="PromQL; each label set is its own series")],
    step: Annotated[str, typer.Option(help="resolution: seconds or 15s, 1m")] = "60",
    lookback: Annotated[str, typer.Option(help="how far back the first poll reaches")] = "1h",
    every: Annotated[str | None, typer.Option(help="how often to poll (default: step)")] = None,
    detector: Annotated[str | None, typer.Option(help="detector for its series")] = None,
    bearer_token_file: SecretFile = None,
    username: Annotated[str | None, typer.Option(help="HTTP basic auth user")] = None,
    password_file: SecretFile = None,
    no_tls_verify: Annotated[bool, typer.Option(
        "--no-tls-verify", help="accept a certificate that does not verify")] = False,
    server: ServerOpt = None, api_key: KeyOpt = None,
) -> None:
    """Create or replace a source (admins); the servers start polling it at once."""
    body = {"url": url, "query": query, "step": step, "lookback": lookback, "every": every,
            "detector": detector, "bearer_token": _secret(bearer_token_file),
            "username": username, "password": _secret(password_file),
            "tls_verify": False if no_tls_verify else None}
    out = call_server(server, api_key, "PUT", f"{PATH}/{name}",
                      json={k: v for k, v in body.items() if v is not None})
    console.print(f"source {out['name']} saved")
    _print(out)


@app.command("list")
def list_sources(server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """The project's sources and how their last polls went."""
    sources = call_server(server, api_key, "GET", PATH)
    if not sources:
        console.print("no Prometheus sources")
    for source in sources:
        _print(source)


@app.command("show")
def show(name: str, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """One source and how its last poll went."""
    _print(call_server(server, api_key, "GET", f"{PATH}/{name}"))


@app.command("delete")
def delete(name: str, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Stop polling a source and forget it (admins); the series it stored stay."""
    call_server(server, api_key, "DELETE", f"{PATH}/{name}")
    console.print(f"source {name} deleted")
