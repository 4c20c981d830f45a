"""``triops lineage model NAME VERSION``: where a model version came from, and where it runs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from triops.cli.common import ProjectOpt, StoreOpt, console, open_database, settings_from
from triops.ml import lineage as ml_lineage
from triops.server import DEFAULT_PROJECT

lineage_app = typer.Typer(help="Lineage: dataset versions → run → model version → deployments.",
                          no_args_is_help=True)


def _when(ms: int | None) -> str:
    import datetime as dt

    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@lineage_app.command("model")
def lineage_model(
    name: Annotated[str, typer.Argument(help="Registered model name")],
    version: Annotated[str, typer.Argument(help="Model version number")],
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the chain as JSON")] = False,
) -> None:
    """Print the chain dataset versions → run → model version → deployments."""
    db = open_database(settings_from(store=store))
    try:
        chain = ml_lineage.model_version(db, project, name, version)
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(chain.as_dict(), indent=2))
        return

    def out(text: str) -> None:
        # Names and digests are data, not Rich markup: print them as they are.
        console.print(text, markup=False)

    if not chain.datasets:
        out("datasets    (none recorded for the run)")
    for d in chain.datasets:
        where = f"version {d.version}, {d.row_count} rows" if d.version else "not registered"
        out(f"dataset     {d.name} [{where}] digest {d.digest[:12]} ({d.source_type})")
    if chain.run is None:
        out("  ↓\nrun         (the version names no run)")
    else:
        r = chain.run
        out(f"  ↓\nrun         {r.run_id} '{r.run_name}' in experiment '{r.experiment_name}' "
            f"[{r.status}, started {_when(r.start_time)}]")
        if r.params:
            out("            params  " + ", ".join(f"{k}={v}" for k, v in sorted(r.params.items())))
        if r.metrics:
            out("            metrics " + ", ".join(
                f"{k}={v:.4g}" if v is not None else f"{k}=NaN"
                for k, v in sorted(r.metrics.items())))
    m = chain.model
    aliases = f" aliases {', '.join('@' + a for a in m.aliases)}" if m.aliases else ""
    out(f"  ↓\nmodel       {m.name} version {m.version} [{m.status}]{aliases} source {m.source}")
    if chain.deployments:
        for dep in chain.deployments:
            share = f" {dep['percent']}%" if "percent" in dep else ""
            out(f"  ↓\ndeployment  endpoint {dep['endpoint']} ({dep['role']}{share}, "
                f"via {dep['ref']})")
    else:
        out("  ↓\ndeployments (none)")
