"""`triops ops rca`: rank the probable root causes of a symptom over a call graph."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated

import typer

from triops.core.errors import InvalidInput, TriopsError
from triops.ops.rca import RcaConfig

app = typer.Typer(help="Root-cause ranking.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Root-cause ranking."""


@app.command()
def rca(
    graph: Annotated[Path, typer.Option("--graph", help="Call graph: adjacency-matrix CSV, row calls column.")],
    normal: Annotated[Path, typer.Option("--normal", help="Metrics of normal operation (3 header rows).")],
    abnormal: Annotated[Path, typer.Option("--abnormal", help="Metrics of the window to explain.")],
    target_node: Annotated[str, typer.Option("--target-node", help="Node showing the symptom.")],
    target_metric: Annotated[str, typer.Option("--target-metric", help="Its metric, e.g. latency.")],
    target_stat: Annotated[str, typer.Option("--target-stat", help="Its statistic, e.g. Average.")],
    output: Annotated[Path, typer.Option("--output", help="CSV to write: node,metric,score, best first.")],
    min_score: Annotated[
        float, typer.Option("--min-score", help="Smallest score reported as a cause.")
    ] = RcaConfig.min_score,
) -> None:
    """Write the probable root causes of TARGET's symptom, best first (header only if none)."""
    from triops.ops.rca import rank_causes, read_graph, read_metrics

    try:
        causes = rank_causes(
            read_graph(graph), read_metrics(normal), read_metrics(abnormal),
            target_node, target_metric, target_stat, RcaConfig(min_score=min_score),
        )
        try:
            with output.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["node", "metric", "score"])
                writer.writerows((c.node, c.metric, f"{c.score:.6g}") for c in causes)
        except OSError as exc:
            raise InvalidInput(f"cannot write {output}: {exc.strerror}") from None
    except TriopsError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    best = f"; first {causes[0].node} ({causes[0].score:.3g})" if causes else ""
    typer.echo(f"wrote {len(causes)} cause(s) to {output}{best}", err=True)
