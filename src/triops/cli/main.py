"""The ``triops`` command. Every error is one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import sys

import typer

import triops
from triops.cli.admin import db_app, keys_app
from triops.cli.capacity import capacity_app
from triops.cli.changes import changes_app
from triops.cli.common import err_console
from triops.cli.demo import demo
from triops.cli.deploy import deploy
from triops.cli.evals import eval_app
from triops.cli.guardrails import guardrails_app
from triops.cli.incidents import incidents_app
from triops.cli.init import init
from triops.cli.lineage import lineage_app
from triops.cli.login import login, logout
from triops.cli.ml import models_app, runs_app
from triops.cli.ml_explain import ml_app
from triops.cli.monitor import monitor_app
from triops.cli.notify import notify_app
from triops.cli.ops import ops_app
from triops.cli.pipeline import pipeline_app
from triops.cli.prompts import prompts_app
from triops.cli.rag import rag_app
from triops.cli.retention import retention_app
from triops.cli.runbooks import runbooks_app
from triops.cli.server import up
from triops.core.errors import TriopsError

app = typer.Typer(
    name="triops",
    help="triops: MLOps, LLMOps and AIOps on one store, one server, one CLI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(init)
app.command()(up)
app.command()(deploy)
app.command()(demo)
app.command()(login)
app.command()(logout)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(incidents_app, name="incidents")
app.add_typer(ops_app, name="ops")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(runs_app, name="runs")
app.add_typer(models_app, name="models")
app.add_typer(monitor_app, name="monitor")
app.add_typer(ml_app, name="ml")
app.add_typer(lineage_app, name="lineage")
app.add_typer(prompts_app, name="prompts")
app.add_typer(eval_app, name="eval")
app.add_typer(changes_app, name="changes")
app.add_typer(notify_app, name="notify")
app.add_typer(runbooks_app, name="runbooks")
app.add_typer(capacity_app, name="capacity")
app.add_typer(rag_app, name="rag")
app.add_typer(guardrails_app, name="guardrails")
app.add_typer(retention_app, name="retention")


@app.command()
def version() -> None:
    """Print the triops version."""
    typer.echo(triops.__version__)


def run() -> None:
    """Console entry point."""
    try:
        app()
    except TriopsError as exc:
        err_console.print(f"[red]error:[/] {exc.message}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
