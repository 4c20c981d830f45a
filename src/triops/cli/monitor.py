"""``triops monitor``: define monitors, run one now, show results over time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from triops.cli.common import (
    ArtifactsOpt,
    HomeOpt,
    ProjectOpt,
    StoreOpt,
    console,
    open_database,
    settings_from,
)
from triops.core.errors import InvalidInput
from triops.ml import monitor_store as repo
from triops.ml.monitoring.monitors import run_monitor
from triops.ml.monitoring.spec import MonitorSpec
from triops.server import DEFAULT_PROJECT
from triops.server import audit_log as audit
from triops.store.artifacts import ArtifactStore

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


@monitor_app.command("create")
def create(
    name: Annotated[str, typer.Argument()],
    endpoint: Annotated[str, typer.Option(help="serving endpoint to watch")],
    spec: Annotated[str, typer.Option(help="JSON object or file (see docs/monitoring.md)")] = "{}",
    every: Annotated[int | None, typer.Option(help="run every N seconds on the server")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
    home: HomeOpt = None,
) -> None:
    """Define a monitor on an endpoint."""
    checked = MonitorSpec.from_dict(_spec(spec))
    if every is not None and every < 1:
        raise InvalidInput("--every must be at least 1 second")
    db = open_database(settings_from(store=store, home=home))
    try:
        with db.write() as session:
            repo.create_monitor(session, project, name, endpoint, checked.as_dict(), every,
                                actor="cli")
            audit.record(session, project=project, actor="cli", action="monitor.create",
                         target=f"monitor:{name}", detail={"endpoint": endpoint})
    finally:
        db.dispose()
    console.print(f"monitor {name} watches {endpoint}")


@monitor_app.command("list")
def list_(project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None,
          home: HomeOpt = None) -> None:
    """Monitors of the project."""
    db = open_database(settings_from(store=store, home=home))
    try:
        with db.read() as session:
            for m in repo.list_monitors(session, project):
                every = f"every {m.interval_s}s" if m.interval_s else "on demand"
                status, error = repo.last_status(session, m)
                console.print(f"{m.name:<24} {m.endpoint:<20} {every:<16} "
                              f"{status or 'never run'} {error}".rstrip())
    finally:
        db.dispose()


@monitor_app.command("run")
def run(
    name: Annotated[str, typer.Argument()],
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
    artifacts: ArtifactsOpt = None,
    home: HomeOpt = None,
) -> None:
    """Run a monitor now: store its result and raise signals for breaches."""
    settings = settings_from(store=store, artifacts=artifacts, home=home)
    db = open_database(settings)
    try:
        outcome = run_monitor(db, ArtifactStore(settings.artifacts_location), project, name,
                              actor="cli")
    finally:
        db.dispose()
    console.print(f"{name}: {outcome.status} ({outcome.n_current} current rows, "
                  f"{outcome.n_reference} reference rows) {outcome.error}".rstrip())
    for column, d in sorted(outcome.drift.items()):
        flag = "DRIFT" if d["drifted"] else ""
        console.print(f"  {column:<24} {d['test']:<14} {d['score'] if d['score'] is not None else float('nan'):.4f} "
                      f"(threshold {d['threshold']}) {flag}".rstrip())
    for metric, value in (outcome.performance.get("metrics") or {}).items():
        console.print(f"  {metric:<24} {value}")
    for kind, detail in outcome.breaches.items():
        console.print(f"breach {kind}: {detail}")


@monitor_app.command("results")
def results(
    name: Annotated[str, typer.Argument()],
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
    home: HomeOpt = None,
) -> None:
    """The latest results, oldest first."""
    db = open_database(settings_from(store=store, home=home))
    try:
        with db.read() as session:
            monitor = repo.get_monitor(session, project, name)
            for r in repo.results(session, monitor, limit=limit):
                console.print(f"{r.time_ms}  {r.status:<8} {','.join(sorted(r.breaches))}")
    finally:
        db.dispose()
