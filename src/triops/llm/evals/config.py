"""The eval config file (``eval.yaml``), parsed and checked before anything runs.

    name: support-answer v2 vs golden set
    server: http://127.0.0.1:7600      # or --server / TRIOPS_URL at the CLI
    api_key: tri_...                    # or --api-key / TRIOPS_API_KEY at the CLI
    prompt: support-answer@production   # name@label, name@3 (version) or name (latest)
    model: chat                         # optional: overrides the prompt's model
    dataset: golden                     # stored dataset name, a .csv/.jsonl file, or
                                        # a list of cases inline
    scorers: [exact, {type: contains, value: refund}]
    concurrency: 4
    timeout_s: 60
    gates: {exact: 0.8}                 # optional; --fail-under adds to them
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from triops.core.errors import InvalidInput
from triops.llm.evals.datasets import ImportReport, case_from, parse_file
from triops.llm.evals.scorers import Scorer, build
from triops.llm.prompts.registry import PromptRef

_KNOWN = {"name", "server", "api_key", "project", "prompt", "model", "dataset", "scorers",
          "concurrency", "timeout_s", "gates", "retrieval"}


@dataclass
class DatasetSource:
    """Exactly one of: a stored dataset's name, a parsed file, or inline cases."""

    stored: str | None = None
    report: ImportReport | None = None
    label: str = ""


@dataclass
class EvalConfig:
    name: str
    prompt: PromptRef | None
    model: str | None
    dataset: DatasetSource
    scorer_specs: list[Any]
    scorers: list[Scorer]
    concurrency: int = 4
    timeout_s: float = 60.0
    server: str | None = None
    api_key: str | None = None
    project: str | None = None
    gates: dict[str, float] = field(default_factory=dict)
    #: Sent with every chat as its ``retrieval`` ({collection, top_k, ...}): the gateway
    #: retrieves, and the retrieval scorers score what it cited.
    retrieval: dict[str, Any] | None = None


def parse_gate(text: str) -> tuple[str, float]:
    """``score=0.8`` → ("score", 0.8)."""
    metric, sep, value = text.partition("=")
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not sep or not metric.strip() or math.isnan(number):
        raise InvalidInput(f"gate {text!r} must be METRIC=NUMBER, e.g. score=0.8")
    return metric.strip(), number


def _dataset(value: Any, base: Path) -> DatasetSource:
    if isinstance(value, list):
        report = ImportReport()
        for i, obj in enumerate(value):
            report.cases.append(case_from(obj, f"dataset[{i}]", "inline"))
        if not report.cases:
            raise InvalidInput("the inline dataset holds no case")
        return DatasetSource(report=report, label="inline")
    if isinstance(value, dict) and set(value) <= {"name", "file"} and len(value) == 1:
        value = value.get("name") or {"file": value["file"]}
        if isinstance(value, dict):
            return _file(base / str(value["file"]))
    if isinstance(value, str) and value:
        path = base / value
        if value.endswith((".csv", ".jsonl")) or path.is_file():
            return _file(path)
        return DatasetSource(stored=value, label=value)
    raise InvalidInput("'dataset' must be a stored dataset's name, a .csv/.jsonl file or a "
                       "list of cases")


def _file(path: Path) -> DatasetSource:
    if not path.is_file():
        raise InvalidInput(f"dataset file {path} does not exist")
    fmt = "csv" if path.suffix == ".csv" else "jsonl"
    report = parse_file(path.read_text(encoding="utf-8"), fmt, source=f"file:{path.name}")
    return DatasetSource(report=report, label=path.name)


def load_config(path: Path) -> EvalConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path} is not valid YAML: {exc}") from None
    return parse_config(raw, path.parent)


def parse_config(raw: Any, base: Path) -> EvalConfig:
    if not isinstance(raw, dict):
        raise InvalidInput("the eval config must be a mapping")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise InvalidInput(f"unknown eval config key(s): {', '.join(unknown)}")
    prompt = PromptRef.parse(raw["prompt"]) if raw.get("prompt") else None
    if prompt is None and not raw.get("model"):
        raise InvalidInput("the eval config needs 'prompt' or 'model' (or both)")
    if "dataset" not in raw:
        raise InvalidInput("the eval config needs 'dataset'")
    specs = raw.get("scorers") or []
    if not isinstance(specs, list) or not specs:
        raise InvalidInput("the eval config needs a non-empty list of 'scorers'")
    scorers = [build(spec) for spec in specs]
    names = [s.name for s in scorers]
    if len(set(names)) != len(names):
        raise InvalidInput(f"two scorers share a name ({', '.join(names)}); give one a 'name'")
    concurrency = raw.get("concurrency", 4)
    if not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise InvalidInput("'concurrency' must be an integer from 1 to 64")
    gates = raw.get("gates") or {}
    if not isinstance(gates, dict):
        raise InvalidInput("'gates' must map a metric to its lowest passing value")
    retrieval = raw.get("retrieval")
    if retrieval is not None and (not isinstance(retrieval, dict)
                                  or not isinstance(retrieval.get("collection"), str)):
        raise InvalidInput("'retrieval' must be a mapping with a 'collection'")
    return EvalConfig(
        name=str(raw.get("name") or (str(prompt) if prompt else raw["model"])), prompt=prompt,
        model=raw.get("model"), dataset=_dataset(raw["dataset"], base), scorer_specs=specs,
        scorers=scorers, concurrency=concurrency, timeout_s=float(raw.get("timeout_s", 60)),
        server=raw.get("server"), api_key=raw.get("api_key"), project=raw.get("project"),
        gates={str(k): float(v) for k, v in gates.items()}, retrieval=retrieval,
    )
