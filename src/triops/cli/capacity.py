"""``triops capacity``: capacity rules and projections, through a running server's API.

    triops capacity set disk-full --metric system.filesystem.usage --label state=used \\
        --percent 100 --limit-series system.filesystem.limit --horizon 7d
    triops capacity rules
    triops capacity forecasts 'system_filesystem_usage{mountpoint="/var",state="used"}'
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from triops.cli.common import console
from triops.cli.remote import KeyOpt, ServerOpt, call_server
from triops.core.errors import InvalidInput

capacity_app = typer.Typer(help="Capacity rules and projections.", no_args_is_help=True)




@capacity_app.command("rules")
def rules(server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """List the project's capacity rules."""
    table = Table()
    for column in ("name", "metric", "labels", "threshold", "horizon (s)"):
        table.add_column(column)
    for rule in call_server(server, api_key, "GET", "/api/v1/capacity/rules"):
        spec = rule["spec"]
        threshold = (f"{spec['value']:g}" if spec.get("value") is not None else
                     f"{spec['percent']:g} % of {spec.get('limit_series') or spec.get('limit_label')}")
        table.add_row(rule["name"], spec["metric"], json.dumps(spec["labels"]),
                      f"{spec['direction']} {threshold}", str(spec["horizon"]))
    console.print(table)


@capacity_app.command("set")
def set_rule(
    name: str,
    metric: Annotated[str, typer.Option(help="metric name, e.g. system.filesystem.usage")],
    label: Annotated[list[str] | None, typer.Option(help="KEY=VALUE the series must carry")] = None,
    value: Annotated[float | None, typer.Option(help="absolute threshold")] = None,
    percent: Annotated[float | None, typer.Option(help="threshold as a percent of a limit")] = None,
    limit_series: Annotated[str | None, typer.Option(help="metric holding the limit")] = None,
    limit_label: Annotated[str | None, typer.Option(help="label holding the limit")] = None,
    direction: Annotated[str, typer.Option(help="above or below")] = "above",
    horizon: Annotated[str, typer.Option(help="e.g. 36h, 7d")] = "7d",
    min_history: Annotated[str, typer.Option()] = "1h",
    subject: Annotated[str, typer.Option(help='title words, e.g. "disk {mountpoint}"')] = "",
    use_interval: Annotated[bool, typer.Option(help="also raise on the interval's edge")] = False,
    server: ServerOpt = None, api_key: KeyOpt = None,
) -> None:
    """Create or replace a capacity rule."""
    labels = {}
    for item in label or []:
        key, sep, val = item.partition("=")
        if not sep:
            raise InvalidInput(f"--label {item!r} must look like KEY=VALUE")
        labels[key] = val
    body = {"metric": metric, "labels": labels, "value": value, "percent": percent,
            "limit_series": limit_series, "limit_label": limit_label, "direction": direction,
            "horizon": horizon, "min_history": min_history, "subject": subject,
            "use_interval": use_interval}
    out = call_server(server, api_key, "PUT", f"/api/v1/capacity/rules/{name}",
                json={k: v for k, v in body.items() if v is not None})
    console.print(f"capacity rule {out['name']} saved")


@capacity_app.command("delete")
def delete(name: str, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    call_server(server, api_key, "DELETE", f"/api/v1/capacity/rules/{name}")
    console.print(f"capacity rule {name} deleted")


@capacity_app.command("forecasts")
def forecasts(series: Annotated[str, typer.Argument(help="series key")],
              server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """The series' projection: each rule's expected crossing."""
    out = call_server(server, api_key, "GET", "/api/v1/capacity/forecasts", params={"series": series})
    console.print(f"{out['series']}: trend {out['slope_per_hour']:+.4g}/h")
    for r in out["rules"]:
        when = "no crossing within the horizon" if r["eta_hours"] is None else \
            f"crosses {r['threshold']:g} in ~{r['eta_hours']:.1f} h"
        console.print(f"  {r['rule']}: {when}")
