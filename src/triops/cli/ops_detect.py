"""`triops ops detect`: score a CSV time series with a streaming anomaly detector."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triops.core.errors import TriopsError
from triops.ops.detectors import DEFAULT_DETECTOR, DETECTORS, KnownInAdvance, detect_csv

app = typer.Typer(help="Anomaly detection on time series.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Anomaly detection on time series."""


@app.command()
def detect(
    input: Annotated[Path, typer.Option("--input", help="CSV with columns timestamp,value.")],
    output: Annotated[
        Path,
        typer.Option("--output", help="CSV to write: timestamp,value,anomaly_score,is_anomaly."),
    ],
    detector: Annotated[
        str, typer.Option("--detector", help="Detector name, one of: "
                          + ", ".join(DETECTORS.names()) + " (installed plugins included).")
    ] = DEFAULT_DETECTOR,
    input_min: Annotated[
        float | None,
        typer.Option("--input-min", help="The series' minimum, known in advance (with --input-max)."),
    ] = None,
    input_max: Annotated[
        float | None,
        typer.Option("--input-max", help="The series' maximum, known in advance (with --input-min)."),
    ] = None,
    probation: Annotated[
        int,
        typer.Option("--probation", min=0, help="Leading rows that only teach the detector: no alarm."),
    ] = 0,
) -> None:
    """Score every row of INPUT and write one output row per input row, in order.

    Without --input-min/--input-max/--probation the detector is strictly streaming,
    as for live telemetry; benchmark harnesses such as NAB's give all three.
    """
    try:
        known = KnownInAdvance(input_min, input_max, probation)
        report = detect_csv(input, output, detector, known)
    except TriopsError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    skipped = report.bad_values + report.bad_timestamps
    if skipped:
        typer.echo(
            f"warning: {skipped} row(s) kept with score 0 because of an unparsable value "
            f"({report.bad_values}) or timestamp ({report.bad_timestamps})",
            err=True,
        )
    if report.out_of_order:
        typer.echo(
            f"warning: {report.out_of_order} row(s) had a timestamp not after the previous "
            "one; they were scored in file order",
            err=True,
        )
    typer.echo(
        f"wrote {report.rows} row(s) to {output} (detector {detector}, "
        f"threshold {report.threshold:g})",
        err=True,
    )
