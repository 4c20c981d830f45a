"""``triops ops logs``: log template mining from the command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from triops.core.errors import InvalidInput, TriopsError
from triops.ops.logmining import LogFormat, TemplateMiner, parse_file, write_structured

app = typer.Typer(help="Mine log templates.", no_args_is_help=True)


@app.callback()
def logs() -> None:
    """Mine log templates."""


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _load_state(path: Path) -> TemplateMiner:
    if not path.exists():
        return TemplateMiner()
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"Cannot read the miner state {path}: {exc}.") from None
    if not isinstance(state, dict):
        raise InvalidInput(f"The miner state {path} is not a JSON object written by triops.")
    return TemplateMiner.from_state(state)


def _save_state(miner: TemplateMiner, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(miner.to_state()), encoding="utf-8")
    os.replace(tmp, path)


@app.command()
def parse(
    input: Annotated[Path, typer.Option("--input", "-i", help="Log file to parse.")],
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format", "-f", help="Format string, e.g. '<Date> <Time> <Level>: <Content>'."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Structured CSV to write.")],
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="JSON file with the miner state: loaded if present, saved after."
        ),
    ] = None,
) -> None:
    """Parse a log file into Loghub's structured CSV (LineId, fields, EventId, EventTemplate)."""
    try:
        fmt = LogFormat.parse(log_format)
        if not input.is_file():
            raise InvalidInput(f"The input {input} does not exist or is not a file.")
        miner = _load_state(state) if state is not None else TemplateMiner()
        parsed = parse_file(input, fmt, miner)
        tmp = output.with_name(output.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            write_structured(parsed, miner, out)
        os.replace(tmp, output)
        if state is not None:
            _save_state(miner, state)
    except TriopsError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(f"{exc.strerror or exc} ({exc.filename or input})")
    s = parsed.stats
    notes = [f"{s.lines} lines", f"{s.templates} templates ({s.new_templates} new)"]
    if s.unmatched:
        notes.append(f"{s.unmatched} not matching the format (kept whole as Content)")
    if s.invalid_utf8_lines:
        notes.append(f"{s.invalid_utf8_lines} with invalid UTF-8 (replaced)")
    if s.truncated:
        notes.append(
            f"{s.truncated} mined on their first {miner.config.max_content_chars} characters"
        )
    typer.echo(f"wrote {output}: " + ", ".join(notes), err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
