"""Eval cases: typed by hand, read from CSV or JSONL, or taken from stored traces.

File import policy: every good row is kept and every bad row is reported with its line
number (``ImportReport.problems``). A file in which no row is good is refused, so that
a wrong file (say, the wrong format) does not create an empty dataset silently.

A case is ``inputs`` (the prompt's variables), an optional ``expected`` output and
free ``metadata``. In CSV, the column ``expected`` is the expected output, columns
named ``meta.<key>`` go to metadata and every other column is an input variable. In
JSONL, each line is ``{"inputs": {...}, "expected": "...", "metadata": {...}}``, with
optional ``relevant_ids`` (the documents a retrieval should find; kept in metadata).

>>> report = parse_file("q,expected\\nwhat is 2+2,4\\n", "csv")
>>> report.cases[0].inputs, report.cases[0].expected
({'q': 'what is 2+2'}, '4')
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.llm.spans import SpanKind
from triops.llm.tracing import get_trace
from triops.store.repos.evals import CaseData

MAX_CASES = 100_000


@dataclass
class ImportReport:
    cases: list[CaseData] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line 7: ..."


def _expected(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def case_from(obj: Any, where: str, source: str = "manual") -> CaseData:
    """One case from its JSON shape; ``InvalidInput`` names ``where`` when it is wrong."""
    if not isinstance(obj, dict):
        raise InvalidInput(f"{where}: a case must be an object with 'inputs'")
    unknown = set(obj) - {"inputs", "expected", "metadata", "relevant_ids"}
    if unknown:
        raise InvalidInput(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    inputs = obj.get("inputs", {})
    if not isinstance(inputs, dict) or not all(isinstance(k, str) for k in inputs):
        raise InvalidInput(f"{where}: 'inputs' must be an object of variable name to value")
    metadata = obj.get("metadata", {})
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{where}: 'metadata' must be an object")
    relevant = obj.get("relevant_ids")
    if relevant is not None:
        if not isinstance(relevant, list) or not all(isinstance(r, str | int) for r in relevant):
            raise InvalidInput(f"{where}: 'relevant_ids' must be a list of document ids")
        # Kept with the metadata, where the retrieval scorers look for it.
        metadata = {**metadata, "relevant_ids": [str(r) for r in relevant]}
    return CaseData(inputs=inputs, expected=_expected(obj.get("expected")), metadata=metadata,
                    source=source)


def _parse_jsonl(text: str, report: ImportReport, source: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            report.cases.append(case_from(json.loads(line), f"line {number}", source))
        except json.JSONDecodeError as exc:
            report.problems.append(f"line {number}: not valid JSON ({exc.msg})")
        except InvalidInput as exc:
            report.problems.append(exc.message)


def _parse_csv(text: str, report: ImportReport, source: str) -> None:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return
    if not header or any(not h.strip() for h in header) or len(set(header)) != len(header):
        report.problems.append("line 1: the header needs distinct, non-empty column names")
        return
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            report.problems.append(f"line {number}: {len(row)} fields, the header has "
                                   f"{len(header)}")
            continue
        inputs, metadata, expected = {}, {}, None
        for name, cell in zip(header, row):
            if name == "expected":
                expected = cell
            elif name.startswith("meta."):
                metadata[name[5:]] = cell
            else:
                inputs[name] = cell
        report.cases.append(CaseData(inputs, expected, metadata, source))


def parse_file(text: str, fmt: str, source: str = "file") -> ImportReport:
    """Parse a CSV or JSONL file's text; the report keeps good rows and names bad lines."""
    report = ImportReport()
    if fmt == "jsonl":
        _parse_jsonl(text, report, source)
    elif fmt == "csv":
        _parse_csv(text, report, source)
    else:
        raise InvalidInput(f"dataset format must be 'csv' or 'jsonl', got {fmt!r}")
    if len(report.cases) > MAX_CASES:
        raise InvalidInput(f"{len(report.cases)} cases is over the limit of {MAX_CASES}")
    if not report.cases:
        detail = "; ".join(report.problems[:5]) or "the file holds no rows"
        raise InvalidInput(f"no usable case in the {fmt} file: {detail}")
    return report


def _text_of(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def cases_from_traces(session: Session, project: str, trace_ids: list[str]) -> list[CaseData]:
    """One case per trace from its first LLM span: the prompt's variables when the call
    was rendered from a registered prompt, else the messages; the answer is expected."""
    cases = []
    for trace_id in trace_ids:
        detail = get_trace(session, project, trace_id)
        llm = [n.span for n in detail.spans if n.span.kind is SpanKind.llm]
        if not llm:
            raise NotFound(f"trace {trace_id!r} has no LLM span to make a case of")
        attrs = llm[0].attributes
        variables = attrs.get("llm.prompt_template.variables")
        if isinstance(variables, dict):
            inputs = dict(variables)
        else:
            inputs = {"messages": attrs.get("llm.input_messages") or []}
        outputs = attrs.get("llm.output_messages") or []
        expected = _text_of(outputs[0]) if outputs else None
        metadata = {k: attrs[k] for k in ("triops.prompt.name", "triops.prompt.version",
                                          "llm.model_name") if k in attrs}
        cases.append(CaseData(inputs, expected, metadata, f"trace:{trace_id}"))
    return cases
