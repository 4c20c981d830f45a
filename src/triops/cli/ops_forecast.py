"""`triops ops forecast`: forecast every series of a long-format CSV with intervals."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from triops.core.errors import TriopsError

app = typer.Typer(help="Forecasting of time series.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Forecasting of time series."""


@app.command()
def forecast(
    input: Annotated[Path, typer.Option("--input", help="CSV with columns series,t,value.")],
    horizon: Annotated[int, typer.Option("--horizon", help="Steps to forecast per series.")],
    output: Annotated[
        Path, typer.Option("--output", help="CSV to write: series,t,forecast,lo,hi.")
    ],
    level: Annotated[
        float | None, typer.Option("--level", help="Central coverage of the [lo, hi] "
                                   "interval (the forecaster's default: 0.9).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=0,
                          help="Processes sharing the series (0: one per usable core).")
    ] = 0,
) -> None:
    """Write HORIZON rows per series, continuing each series' t (an integer step or a
    timestamp, continued at the series' median step)."""
    if level is not None and not 0 < level < 1:
        typer.echo(f"error: --level must be between 0 and 1 (got {level})", err=True)
        raise typer.Exit(code=2)
    # Imported here: the models need scipy, which the other verbs and ``--help`` do not.
    from triops.ops.forecasting import Settings
    from triops.ops.forecasting.io import forecast_csv

    started = time.perf_counter()
    try:
        settings = Settings() if level is None else Settings(level=level)
        count = forecast_csv(input, output, horizon, settings, workers=workers or None)
    except TriopsError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"wrote {horizon} row(s) for each of {count} series to {output} "
               f"in {time.perf_counter() - started:.1f}s", err=True)
