"""``triops guardrails``: run a guardrail check offline, on one text or a file of them.

    triops guardrails list
    triops guardrails check --check injection --text "Forget everything above"
    triops guardrails check --check injection --input texts.csv --output verdicts.csv \\
        --label-column label

The check is built exactly as a gateway rule or ``POST /api/v1/guardrails/check`` builds
it, with the same default options, so a file scored here scores as the server would.
``--input`` is CSV with a header (the text in ``--column``) or JSON Lines (``.jsonl``,
one object per line with that key). The output has one row per input row, in order:
``row,flagged,score,kinds`` (the highest finding score, 0 when nothing was found). With
``--label-column`` (1/0, true/false or yes/no) precision, recall and F1 go to stderr.
"""

from __future__ import annotations

import csv
import inspect
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

# Through the pillar's face, whose names load on first use: the checks (numpy, the
# models) load with the verbs that run one, not when the command line is built.
from triops import llm
from triops.core.errors import InvalidInput
from triops.core.guardrail_settings import GuardrailRule
from triops.core.jsonl import objects

guardrails_app = typer.Typer(help="Guardrail checks, offline: run one on texts, score it "
                             "on labelled ones.", no_args_is_help=True)

#: The server's limit on one text (``CheckIn.text``), so a file row fails here as it would there.
MAX_TEXT = 1_000_000
_TRUE, _FALSE = {"1", "true", "yes"}, {"0", "false", "no"}


@dataclass(frozen=True)
class Row:
    text: str
    label: bool | None


@guardrails_app.command("list")
def list_checks() -> None:
    """Print the registered checks, plug-ins included."""
    for name in llm.guardrail_names():
        typer.echo(name)


@guardrails_app.command("check")
def check(
    check: Annotated[str, typer.Option("--check", help="A registered check (see 'list').")],
    text: Annotated[str | None, typer.Option("--text", help="One text to check.")] = None,
    input: Annotated[Path | None, typer.Option("--input", help="CSV with a header, or "
                                               ".jsonl: the texts to check.")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="CSV to write (stdout "
                                                "without it): row,flagged,score,kinds.")] = None,
    column: Annotated[str, typer.Option("--column", help="The text's column or key.")] = "text",
    label_column: Annotated[str | None, typer.Option(
        "--label-column", help="A 1/0 column: score the check against it.")] = None,
    options: Annotated[str, typer.Option("--options", help="The check's options as a JSON "
                                         "object, as a rule's 'options'.")] = "{}",
    stage: Annotated[str, typer.Option("--stage", help="input or output.")] = "input",
) -> None:
    """Check one text (--text) or every row of a file (--input), in order."""
    if (text is None) == (input is None):
        raise InvalidInput("give exactly one of --text and --input")
    if stage not in ("input", "output"):
        raise InvalidInput(f"--stage must be 'input' or 'output', not {stage!r}")
    guard = llm.compile_rule(GuardrailRule(name="cli", check=check, mode="flag",
                                           options=_options(options))).guard
    if inspect.iscoroutinefunction(guard.check):
        raise InvalidInput(f"check {check!r} needs the gateway (it embeds through a route); "
                           "run it on a server: POST /api/v1/guardrails/check")
    rows = [Row(text, None)] if text is not None else list(_read(input, column, label_column))
    context = llm.GuardrailContext(stage=stage)  # type: ignore[arg-type]
    verdicts, latencies = [], []
    for row in rows:
        started = time.perf_counter()
        findings = guard.check(row.text, context)
        latencies.append(time.perf_counter() - started)
        verdicts.append((bool(findings), max((f.score for f in findings), default=0.0),
                         ";".join(dict.fromkeys(f.kind for f in findings))))
    _write(output, verdicts)
    typer.echo(_summary(check, rows, verdicts, latencies), err=True)


def _options(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--options is not JSON: {exc.msg} at character {exc.pos}") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("--options must be a JSON object, e.g. '{\"threshold\": 0.6}'")
    return parsed


def _read(path: Path, column: str, label_column: str | None) -> Iterator[Row]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if path.suffix.lower() == ".jsonl":
                yield from _jsonl_rows(path, handle, column, label_column)
            else:
                yield from _csv_rows(path, handle, column, label_column)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None


def _csv_rows(path: Path, handle: Any, column: str, label_column: str | None) -> Iterator[Row]:
    csv.field_size_limit(MAX_TEXT)
    reader = csv.DictReader(handle)
    missing = [c for c in (column, label_column) if c and c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"{path}: no column {missing[0]!r} in the header "
                           f"{reader.fieldnames or []}")
    try:
        for record in reader:
            yield _row(path, reader.line_num, record, column, label_column)
    except csv.Error as exc:
        raise InvalidInput(f"{path} line {reader.line_num}: {exc}") from None


def _jsonl_rows(path: Path, handle: Any, column: str, label_column: str | None) -> Iterator[Row]:
    for number, record in objects(handle, str(path)):
        yield _row(path, number, record, column, label_column)


def _row(path: Path, number: int, record: dict[str, Any], column: str,
         label_column: str | None) -> Row:
    text = record.get(column)
    if not isinstance(text, str):
        raise InvalidInput(f"{path} line {number}: {column!r} is missing or not text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"{path} line {number}: the text is over {MAX_TEXT:,} characters")
    if label_column is None:
        return Row(text, None)
    raw = str(record.get(label_column, "")).strip().lower()
    if raw not in _TRUE | _FALSE:
        raise InvalidInput(f"{path} line {number}: label {raw!r} is not 1/0, true/false "
                           "or yes/no")
    return Row(text, raw in _TRUE)


def _write(output: Path | None, verdicts: list[tuple[bool, float, str]]) -> None:
    try:
        handle = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    except OSError as exc:
        raise InvalidInput(f"cannot write {output}: {exc.strerror}") from None
    try:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["row", "flagged", "score", "kinds"])
        for number, (flagged, score, kinds) in enumerate(verdicts, 1):
            writer.writerow([number, int(flagged), f"{score:.4f}", kinds])
    finally:
        if output:
            handle.close()


def _summary(check: str, rows: list[Row], verdicts: list[tuple[bool, float, str]],
             latencies: list[float]) -> str:
    flagged = sum(v[0] for v in verdicts)
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000 if ordered else 0.0
    line = f"{check}: {flagged} of {len(rows)} text(s) flagged, p50 {p50:.2f} ms a text"
    labelled = [(row.label, v[0]) for row, v in zip(rows, verdicts, strict=True)
                if row.label is not None]
    if not labelled:
        return line
    tp = sum(truth and said for truth, said in labelled)
    fp = sum(said and not truth for truth, said in labelled)
    fn = sum(truth and not said for truth, said in labelled)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return (f"{line}\nprecision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  "
            f"(tp {tp}, fp {fp}, fn {fn}, tn {len(labelled) - tp - fp - fn})")
