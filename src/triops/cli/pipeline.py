"""``triops pipeline``: register pipeline code with the server, run a pipeline from code
here, list runs, show one run's steps.

``register`` uploads a Python file to the server (an admin key): the server stores it
under its SHA-256 and runs it only with those bytes. ``run``, ``runs`` and ``status``
work on a store here (``--store``/``--home``, default ``./.triops``).
"""

from __future__ import annotations

import json
import os
import sys
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
from triops.cli.remote import KeyOpt, ProfileOpt, ServerOpt, call_server
from triops.core.errors import InvalidInput
from triops.ml import monitor_store as repo
from triops.ml.pipelines import EXECUTORS, load, make_executor
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
    from triops.ml.pipelines import run_pipeline

    # The pipeline's module is usually next to where the command runs.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    settings = settings_from(store=store, artifacts=artifacts, home=home)
    # Whoever types the command runs this code on their own machine: the module they
    # name is registered for this run. The server only imports registered modules.
    pipeline = load(ref, {ref.partition(":")[0]})
    db = open_database(settings, create=True)
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


@pipeline_app.command("register")
def register(
    name: Annotated[str, typer.Argument(help="Name the pipeline is registered under")],
    code: Annotated[str, typer.Argument(
        help="FILE.py to upload, or MODULE:PIPELINE already importable by the server")],
    pipeline: Annotated[str | None, typer.Option(
        help="With a file: the Pipeline variable (default: the file's only one)")] = None,
    description: Annotated[str, typer.Option(help="What the pipeline does")] = "",
    replace: Annotated[bool, typer.Option(
        "--replace", help="Register new code under a name already registered")] = False,
    project: Annotated[str | None, typer.Option(
        "--project", "-p", show_default=False, help="Project (default: the key's own)")] = None,
    server: ServerOpt = None, api_key: KeyOpt = None, profile: ProfileOpt = "default",
) -> None:
    """Register pipeline code with the server (admin key) for runs, retraining and runbooks."""
    body: dict[str, object] = {"name": name, "description": description, "replace": replace}
    path = Path(code)
    if code.endswith(".py") or path.is_file():
        try:
            body["source"] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read pipeline file {code}: {exc}") from None
        if pipeline:
            body["pipeline"] = pipeline
    elif pipeline:
        raise InvalidInput("--pipeline goes with a FILE.py; MODULE:PIPELINE names its pipeline")
    else:
        body["ref"] = code
    got = call_server(server, api_key, "POST", "/api/v1/pipelines", profile=profile,
                      project=project, json=body)
    origin = f"file {code} (SHA-256 {got['code_sha256']})" if got["code_sha256"] else got["ref"]
    console.print(f"registered pipeline {got['name']}: {origin}", highlight=False,
                  soft_wrap=True)
    console.print(f"  params: {', '.join(got['params']) or '-'}; steps: "
                  f"{' → '.join(got['steps'])}", highlight=False)


@pipeline_app.command("list")
def list_(
    project: Annotated[str | None, typer.Option(
        "--project", "-p", show_default=False, help="Project (default: the key's own)")] = None,
    server: ServerOpt = None, api_key: KeyOpt = None, profile: ProfileOpt = "default",
) -> None:
    """Pipelines registered with the server."""
    for p in call_server(server, api_key, "GET", "/api/v1/pipelines", profile=profile,
                         project=project):
        origin = f"file sha256:{p['code_sha256'][:12]}" if p["code_sha256"] else p["ref"]
        console.print(f"{p['name']:<24} {origin:<40} {p['description']}".rstrip(),
                      highlight=False)


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
