"""``triops eval run eval.yaml --fail-under score=0.8``: run an eval and gate on it.

The exit status is the gate: 0 when every gate passes, 1 when one fails (one line per
failed gate says which metric and its value) or the run cannot start, so CI can use it
as a step. The server and key come from ``--server`` / ``--api-key`` (or ``TRIOPS_URL`` /
``TRIOPS_API_KEY``), else from the YAML.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from triops.cli.common import console, err_console
from triops.cli.remote import KeyOpt, ServerOpt, resolve

eval_app = typer.Typer(help="Evaluate prompts and models on datasets; gate CI on scores.",
                       no_args_is_help=True)

@eval_app.command("run")
def run(
    config_file: Annotated[Path, typer.Argument(help="eval.yaml")],
    fail_under: Annotated[list[str] | None, typer.Option(
        "--fail-under", help="METRIC=VALUE: fail when the metric's mean is lower "
        "(metric: a scorer's name, or 'score' for the mean of all)")] = None,
    server: ServerOpt = None,
    api_key: KeyOpt = None,
) -> None:
    """Run an eval (prompt version × model × dataset) through the gateway and store it."""
    # The eval package (scorers, numpy, jsonschema) loads with the verb that runs one.
    from triops.llm.evals.config import load_config, parse_gate
    from triops.llm.evals.runner import Runner, ServerClient

    config = load_config(config_file)
    for gate in fail_under or []:
        metric, value = parse_gate(gate)
        config.gates[metric] = value
    # The command line (or its environment variables) overrides the file.
    url, key = resolve(server or config.server, api_key or config.api_key)
    client = ServerClient(url, key, config.project, config.timeout_s)
    try:
        runner = Runner(config, client)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                      transient=False) as progress:
            task = progress.add_task(config.name, total=None)

            def on_case(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            outcome = runner.run(on_case)
    finally:
        client.close()
    for problem in outcome.import_problems:
        err_console.print(f"[yellow]skipped:[/] {problem}", highlight=False)
    summary = outcome.summary
    table = Table(title=f"eval run {outcome.run_id}")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("scorer errors", justify="right")
    for metric, value in summary.get("metrics", {}).items():
        table.add_row(metric, f"{value:.4f}",
                      str(summary.get("score_errors", {}).get(metric, "")))
    console.print(table)
    p50 = summary.get("latency_p50_ms")
    # Latency is measured on calls that answered; when none did there is none to show.
    latency = f"p50 {p50:.0f} ms" if p50 is not None else "p50 — (no call answered)"
    console.print(f"cases {summary.get('cases', 0)}, failed calls {summary.get('errors', 0)}, "
                  f"{latency}, cost ${summary.get('cost_usd', 0)}", highlight=False)
    if outcome.failed:
        for line in outcome.failed:
            err_console.print(f"[red]gate failed:[/] {line}", highlight=False)
        sys.exit(1)
    if config.gates:
        console.print(f"gates passed: {', '.join(f'{k} >= {v}' for k, v in config.gates.items())}",
                      highlight=False)


@eval_app.command("scorers")
def scorers() -> None:
    """List the scorer types this installation knows."""
    from triops.llm.evals.scorers import kinds

    for kind in kinds():
        console.print(kind)
