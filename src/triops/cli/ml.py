"""``triops runs …`` and ``triops models …``: tracked runs and registered models, from the server.

They read the server's MLflow-compatible API, so what they show is what an MLflow
client sees:

    triops runs list --experiment churn --filter "metrics.auc > 0.8"
    triops runs show 3f2a…
    triops models list
    triops models show churn
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.table import Table

from triops.cli.common import ServerProjectOpt, console
from triops.cli.remote import KeyOpt, ProfileOpt, ServerOpt, call_server
from triops.core.errors import InvalidInput

runs_app = typer.Typer(help="Tracked runs (from the server): list, show.", no_args_is_help=True)
models_app = typer.Typer(help="Registered models (from the server): list, show.",
                         no_args_is_help=True)

_MLFLOW = "/api/2.0/mlflow"


def _when(ms: int | str | None) -> str:
    if ms in (None, "", 0):
        return ""
    return dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class _Server:
    def __init__(self, server: str | None, api_key: str | None, profile: str,
                 project: str | None) -> None:
        self.args = (server, api_key)
        self.profile, self.project = profile, project

    def __call__(self, method: str, path: str, **kw: Any) -> Any:
        return call_server(*self.args, method, f"{_MLFLOW}{path}", profile=self.profile,
                           project=self.project, **kw)


def _experiment_ids(ask: _Server, experiment: str | None) -> list[str]:
    if experiment is None:
        got = ask("POST", "/experiments/search", json={"max_results": 1000})
        return [e["experiment_id"] for e in got.get("experiments", [])]
    if experiment.isdigit():
        return [experiment]
    got = ask("GET", "/experiments/get-by-name", params={"experiment_name": experiment})
    return [got["experiment"]["experiment_id"]]


@runs_app.command("list")
def runs_list(
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e", help="Experiment name or id (default: all)")] = None,
    filter_: Annotated[str | None, typer.Option(
        "--filter", help="MLflow search filter, e.g. \"metrics.auc > 0.8\"")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default",
) -> None:
    """Runs, newest first, with their metrics."""
    ask = _Server(server, api_key, profile, project)
    ids = _experiment_ids(ask, experiment)
    runs: list[dict[str, Any]] = []
    if ids:
        body: dict[str, Any] = {"experiment_ids": ids, "max_results": limit,
                                "order_by": ["attributes.start_time DESC"]}
        if filter_:
            body["filter"] = filter_
        runs = ask("POST", "/runs/search", json=body).get("runs", [])
    table = Table("run id", "name", "experiment", "status", "started (UTC)", "metrics")
    for run in runs:
        info, data = run["info"], run.get("data", {})
        metrics = ", ".join(f"{m['key']}={m['value']:.4g}" for m in data.get("metrics", [])[:4])
        table.add_row(info["run_id"], info.get("run_name", ""), info["experiment_id"],
                      info["status"], _when(info.get("start_time")), metrics)
    console.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id")],
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default",
) -> None:
    """One run: parameters, latest metrics, tags, datasets and logged models."""
    if not run_id.strip():
        raise InvalidInput("a run id is required")
    ask = _Server(server, api_key, profile, project)
    run = ask("GET", "/runs/get", params={"run_id": run_id})["run"]
    info, data = run["info"], run.get("data", {})
    console.print(f"[bold]{info.get('run_name') or info['run_id']}[/] ({info['run_id']}) in "
                  f"experiment {info['experiment_id']}: {info['status']}", highlight=False)
    console.print(f"started {_when(info.get('start_time'))}, ended "
                  f"{_when(info.get('end_time')) or '-'} UTC; artifacts {info.get('artifact_uri', '')}",
                  highlight=False)
    for title, rows in (("params", data.get("params", [])), ("tags", [
            t for t in data.get("tags", []) if not t["key"].startswith("mlflow.")])):
        if rows:
            table = Table("key", "value", title=title)
            for row in rows:
                table.add_row(row["key"], str(row["value"]))
            console.print(table)
    if data.get("metrics"):
        table = Table("metric", "value", "step", title="metrics (latest)")
        for m in data["metrics"]:
            table.add_row(m["key"], f"{m['value']:.6g}", str(m.get("step", 0)))
        console.print(table)
    for used in run.get("inputs", {}).get("dataset_inputs", []):
        d = used["dataset"]
        console.print(f"dataset {d['name']} ({d.get('digest', '')})", highlight=False)
    for model in run.get("outputs", {}).get("model_outputs", []):
        console.print(f"logged model {model['model_id']} (step {model.get('step', 0)})",
                      highlight=False)


@models_app.command("list")
def models_list(
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default",
) -> None:
    """Registered models with their newest version and aliases."""
    ask = _Server(server, api_key, profile, project)
    models = ask("GET", "/registered-models/search",
                 params={"max_results": 1000}).get("registered_models", [])
    table = Table("name", "latest version", "aliases", "updated (UTC)", "description")
    for m in models:
        latest = max((int(v["version"]) for v in m.get("latest_versions", [])), default=None)
        aliases = ", ".join(f"@{a['alias']}=v{a['version']}" for a in m.get("aliases", []))
        table.add_row(m["name"], "" if latest is None else str(latest), aliases,
                      _when(m.get("last_updated_timestamp")), m.get("description", ""))
    console.print(table)


@models_app.command("show")
def models_show(
    name: Annotated[str, typer.Argument(help="Registered model name")],
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default",
) -> None:
    """One registered model: its versions, their runs and its aliases."""
    if not name.strip():
        raise InvalidInput("a model name is required")
    ask = _Server(server, api_key, profile, project)
    model = ask("GET", "/registered-models/get", params={"name": name})["registered_model"]
    escaped = name.replace("'", "\\'")
    versions = ask("GET", "/model-versions/search", params={
        "filter": f"name = '{escaped}'", "max_results": 1000}).get("model_versions", [])
    aliases: dict[str, list[str]] = {}
    for a in model.get("aliases", []):
        aliases.setdefault(str(a["version"]), []).append("@" + a["alias"])
    console.print(f"[bold]{model['name']}[/] {model.get('description', '')}".rstrip(),
                  highlight=False)
    table = Table("version", "aliases", "status", "run id", "source", "created (UTC)")
    for v in sorted(versions, key=lambda v: int(v["version"]), reverse=True):
        table.add_row(str(v["version"]), " ".join(aliases.get(str(v["version"]), [])),
                      v.get("status", ""), v.get("run_id", ""), v.get("source", ""),
                      _when(v.get("creation_timestamp")))
    console.print(table)
