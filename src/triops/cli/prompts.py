"""``triops prompts``: list prompts, add a version from a file, move, undo and show labels.

Works through a running server's API (``--server``/``TRIOPS_URL``, ``--api-key``/
``TRIOPS_API_KEY``), so every move is audited under the caller's key.

    triops prompts list
    triops prompts push support-answer prompt.yaml -m "shorter answers" --label staging
    triops prompts label set support-answer production 3
    triops prompts label undo support-answer production
    triops prompts label history support-answer
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from triops.cli.common import console
from triops.cli.remote import KeyOpt, ServerOpt, call_server
from triops.core.errors import InvalidInput

prompts_app = typer.Typer(help="The prompt registry: versions and labels.", no_args_is_help=True)
label_app = typer.Typer(help="Move, undo and list prompt labels.", no_args_is_help=True)
prompts_app.add_typer(label_app, name="label")




@prompts_app.command("list")
def list_prompts(server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """List prompts with their latest version and labels."""
    table = Table()
    for column in ("name", "kind", "latest", "labels"):
        table.add_column(column)
    for p in call_server(server, api_key, "GET", "/api/v1/prompts"):
        labels = ", ".join(f"{lab['label']}→v{lab['version']}" for lab in p["labels"])
        table.add_row(p["name"], p["kind"], str(p["latest_version"]), labels)
    console.print(table)


@prompts_app.command("push")
def push(
    name: Annotated[str, typer.Argument(help="Prompt name")],
    file: Annotated[Path, typer.Argument(help="YAML: messages or text, variables, model, params")],
    message: Annotated[str, typer.Option("--message", "-m", help="What changed and why")] = "",
    label: Annotated[list[str] | None, typer.Option("--label", help="Point these labels at it")] = None,
    server: ServerOpt = None, api_key: KeyOpt = None,
) -> None:
    """Add a version from a YAML file; a template error is refused with its line."""
    try:
        spec = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read {file}: {exc}") from None
    if not isinstance(spec, dict):
        raise InvalidInput(f"{file} must hold a mapping with 'messages' or 'text'")
    body = {**spec, "message": message or spec.get("message", ""), "labels": label or []}
    body.setdefault("kind", "text" if "text" in spec else "chat")
    got = call_server(server, api_key, "POST", f"/api/v1/prompts/{name}/versions", json=body)
    console.print(f"{name} v{got['version']} created", highlight=False)


def _moved(move: dict) -> str:  # type: ignore[type-arg]
    """``v1 → v2``; a label's first move comes from nowhere, not from ``vNone``."""
    old, new = move.get("from_version"), move.get("to_version")
    return f"{f'v{old}' if old else '(new label)'} → {f'v{new}' if new else '(removed)'}"


@label_app.command("set")
def label_set(name: str, label: str, version: int, server: ServerOpt = None,
              api_key: KeyOpt = None) -> None:
    """Point LABEL of prompt NAME at VERSION."""
    move = call_server(server, api_key, "PUT", f"/api/v1/prompts/{name}/labels/{label}",
                 json={"version": version})
    console.print(f"{name}@{label}: {_moved(move)}", highlight=False)


@label_app.command("undo")
def label_undo(name: str, label: str, server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """Move LABEL back to the version it pointed at before its last move."""
    move = call_server(server, api_key, "POST", f"/api/v1/prompts/{name}/labels/{label}/undo")
    console.print(f"{name}@{label}: {_moved(move)} (undo)", highlight=False)


@label_app.command("history")
def label_history(name: str, label: Annotated[str | None, typer.Argument()] = None,
                  server: ServerOpt = None, api_key: KeyOpt = None) -> None:
    """The moves of a prompt's labels, newest first."""
    params = {"label": label} if label else {}
    table = Table()
    for column in ("label", "from", "to", "kind", "actor"):
        table.add_column(column)
    for m in call_server(server, api_key, "GET", f"/api/v1/prompts/{name}/history", params=params):
        table.add_row(m["label"], str(m["from_version"] or "-"), str(m["to_version"] or "-"),
                      m["kind"] + (" (undone)" if m["undone"] else ""), m["actor"])
    console.print(table)
