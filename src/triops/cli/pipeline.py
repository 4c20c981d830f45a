"""``triops pipeline``: run a pipeline from code, list runs, show one run's steps."""

from __future__ import annotations

import json
import os
import sys
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
from triops.ml.pipelines import EXECUTORS, load, make_executor, run_pipeline
from triops.server import DEFAULT_PROJECT
from triops.store.artifacts import ArtifactStore

pipeline_app = typer.Typer(help="ML pipelines: cached Python step graphs, local or on Ray.",
                           no_args_is_help=True)


def parse_params(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE``; the value is read as JSON when it parses (numbers, lists), else text."""
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param {pair!r} is not KEY=VALUE")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


@pipeline_app.command("run")
def run(
    ref: Annotated[str, typer.Argument(help="MODULE:PIPELINE, importable from here")],
    param: Annotated[list[str], typer.Option("--param", help="KEY=VALUE, repeatable")] = [],  # noqa: B006
    executor: Annotated[str, typer.Option(help=f"one of {', '.join(EXECUTORS)}")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster (default: local)")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="run every step")] = False,
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
    artifacts: ArtifactsOpt = None,
    home: HomeOpt = None,
) -> None:
    """Run every step of a pipeline; steps whose inputs and code are unchanged come from cache."""
    # The pipeline's module is usually next to where the command runs.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    settings = settings_from(store=store, artifacts=artifacts, home=home)
    # Whoever types the command runs this code on their own machine: the module they
    # name is registered for this run. The server only imports registered modules.
    pipeline = load(ref, {ref.partition(":")[0]})
    db = open_database(settings)
    try:
        result = run_pipeline(db, ArtifactStore(settings.artifacts_location), project, pipeline,
                              parse_params(param), ref=ref,
                              executor=make_executor(executor, ray_address),
                              trigger="cli", actor="cli", use_cache=not no_cache)
    finally:
        db.dispose()
    for step in result.steps:
        console.print(f"  {step.step:<24} {'cached' if step.cached else 'ran':<7} "
                      f"{step.seconds:8.2f}s")
    console.print(f"run {result.run_id}: {result.status}")
    if result.status != "succeeded":
        raise InvalidInput(f"pipeline run {result.run_id} failed: {result.error}")


@pipeline_app.command("runs")
def runs(
    name: Annotated[str | None, typer.Argument(help="pipeline name (default: all)")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
    home: HomeOpt = None,
) -> None:
    """Recent runs, newest first."""
    db = open_database(settings_from(store=store, home=home))
    try:
        with db.read() as session:
            for r in repo.list_runs(session, project, name, limit=50):
                console.print(f"{r.id}  {r.pipeline:<24} {r.status:<10} {r.executor:<6} "
                              f"{r.trigger}")
    finally:
        db.dispose()


@pipeline_app.command("status")
def status(
    run_id: Annotated[str, typer.Argument()],
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
    home: HomeOpt = None,
) -> None:
    """One run and its steps."""
    db = open_database(settings_from(store=store, home=home))
    try:
        with db.read() as session:
            r = repo.get_run(session, project, run_id)
            console.print(f"run {r.id} of {r.pipeline}: {r.status} {r.error}".rstrip())
            for s in repo.steps_of(session, run_id):
                console.print(f"  {s.step:<24} {s.status:<10} {'cached' if s.cached else ''}")
    finally:
        db.dispose()
