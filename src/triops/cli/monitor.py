"""``triops monitor``: define monitors, run one now, show results over time.

They ask the server (``--server`` / ``TRIOPS_URL``, a key from ``--api-key``,
``TRIOPS_API_KEY`` or ``triops login``); with ``--store`` or ``--home`` they work offline
on that store instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from triops.cli.common import (
    ArtifactsOpt,
    OfflineHomeOpt,
    OfflineStoreOpt,
    ServerProjectOpt,
    console,
)
from triops.cli.remote import KeyOpt, ProfileOpt, ServerOpt
from triops.cli.target import Target
from triops.core.errors import InvalidInput
from triops.ml import monitor_store as repo
from triops.server import audit_log as audit

monitor_app = typer.Typer(help="ML monitors: drift, data quality and performance.",
                          no_args_is_help=True)


def _spec(text: str) -> dict:
    path = Path(text)
    raw = path.read_text() if path.is_file() else text
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"--spec must be JSON or a JSON file: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("--spec must be a JSON object")
    return data


_RESULT_FIELDS = ("time_ms", "status", "n_reference", "n_current", "drift", "performance",
                  "breaches", "error")


def _result(row: Any) -> dict[str, Any]:
    """A stored result or a fresh outcome in the API's shape, so both print alike."""
    return {f: getattr(row, f) for f in _RESULT_FIELDS}


@monitor_app.command("create")
def create(
    name: Annotated[str, typer.Argument()],
    endpoint: Annotated[str, typer.Option(help="serving endpoint to watch")],
    spec: Annotated[str, typer.Option(help="JSON object or file (see docs/monitoring.md)")] = "{}",
    every: Annotated[int | None, typer.Option(help="run every N seconds on the server")] = None,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """Define a monitor on an endpoint."""
    # The monitoring package loads pandas: only the verbs that check or run a spec.
    from triops.ml.monitoring.spec import MonitorSpec

    checked = MonitorSpec.from_dict(_spec(spec))
    if every is not None and every < 1:
        raise InvalidInput("--every must be at least 1 second")
    with Target(server, api_key, profile, project, store, home) as where:
        if where.is_offline:
            with where.db.write() as session:
                repo.create_monitor(session, where.project, name, endpoint, checked.as_dict(),
                                    every, actor="cli")
                audit.record(session, project=where.project, actor="cli",
                             action="monitor.create", target=f"monitor:{name}",
                             detail={"endpoint": endpoint})
        else:
            where.api("POST", "/api/v1/monitors", json={
                "name": name, "endpoint": endpoint, "spec": checked.as_dict(),
                "interval_s": every})
    console.print(f"monitor {name} watches {endpoint}")


@monitor_app.command("list")
def list_(
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """Monitors of the project."""
    with Target(server, api_key, profile, project, store, home) as where:
        if where.is_offline:
            with where.db.read() as session:
                rows = [(m.name, m.endpoint, m.interval_s, *repo.last_status(session, m))
                        for m in repo.list_monitors(session, where.project)]
        else:
            rows = [(m["name"], m["endpoint"], m["interval_s"], m["last_status"],
                     m["last_error"]) for m in where.api("GET", "/api/v1/monitors")]
    for name, endpoint, interval_s, status, error in rows:
        every = f"every {interval_s}s" if interval_s else "on demand"
        console.print(f"{name:<24} {endpoint:<20} {every:<16} "
                      f"{status or 'never run'} {error}".rstrip())


@monitor_app.command("run")
def run(
    name: Annotated[str, typer.Argument()],
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
    artifacts: ArtifactsOpt = None,
) -> None:
    """Run a monitor now: store its result and raise signals for breaches."""
    from triops.ml.monitoring.monitors import run_monitor
    from triops.store.artifacts import ArtifactStore

    with Target(server, api_key, profile, project, store, home, artifacts) as where:
        if where.is_offline:
            outcome = _result(run_monitor(
                where.db, ArtifactStore(where.settings.artifacts_location), where.project,
                name, actor="cli"))
        else:
            outcome = where.api("POST", f"/api/v1/monitors/{name}/run")
    console.print(f"{name}: {outcome['status']} ({outcome['n_current']} current rows, "
                  f"{outcome['n_reference']} reference rows) {outcome['error']}".rstrip())
    for column, d in sorted(outcome["drift"].items()):
        flag = "DRIFT" if d["drifted"] else ""
        score = d["score"] if d["score"] is not None else float("nan")
        console.print(f"  {column:<24} {d['test']:<14} {score:.4f} "
                      f"(threshold {d['threshold']}) {flag}".rstrip())
    for metric, value in (outcome["performance"].get("metrics") or {}).items():
        console.print(f"  {metric:<24} {value}")
    for kind, detail in outcome["breaches"].items():
        console.print(f"breach {kind}: {detail}")


@monitor_app.command("results")
def results(
    name: Annotated[str, typer.Argument()],
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
) -> None:
    """The latest results, oldest first."""
    with Target(server, api_key, profile, project, store, home) as where:
        if where.is_offline:
            with where.db.read() as session:
                monitor = repo.get_monitor(session, where.project, name)
                rows = [_result(r) for r in repo.results(session, monitor, limit=limit)]
        else:
            rows = where.api("GET", f"/api/v1/monitors/{name}/results", params={"limit": limit})
    for r in rows:
        console.print(f"{r['time_ms']}  {r['status']:<8} {','.join(sorted(r['breaches']))}")
