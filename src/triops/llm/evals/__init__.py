"""Eval datasets, scorers, eval runs through the gateway, run comparison and online
evaluation of live traces."""

# Registers the retrieval scorers in SCORERS: importing any module of this package runs
# this first, so they are always there (and scorers.py need not import them back).
from triops.llm.evals import retrieval_scorers  # noqa: F401
from triops.llm.evals.compare import Delta, bootstrap_ci, compare, failed_gates, summarize
from triops.llm.evals.config import EvalConfig, load_config, parse_config, parse_gate
from triops.llm.evals.datasets import ImportReport, case_from, cases_from_traces, parse_file
from triops.llm.evals.scorers import Context, EvalSample, Scorer, ScoreValue, build, kinds, scorer

# Registers the counterfactual (bias) scorer beside the built-ins of ``scorers``.
from triops.llm.evals import counterfactual  # noqa: F401  isort: skip

__all__ = [
    "Context",
    "Delta",
    "EvalConfig",
    "EvalSample",
    "ImportReport",
    "ScoreValue",
    "Scorer",
    "bootstrap_ci",
    "build",
    "case_from",
    "cases_from_traces",
    "compare",
    "failed_gates",
    "kinds",
    "load_config",
    "parse_config",
    "parse_file",
    "parse_gate",
    "scorer",
    "summarize",
]
