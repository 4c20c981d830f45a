"""Pipelines: Python function graphs whose steps are cached by content and recorded.

>>> from triops.ml.pipelines import Pipeline
>>> train = Pipeline("train", params=["rows"])
"""

from triops.ml.pipelines._code import code_digest, load_registered, store_code
from triops.ml.pipelines._executors import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    RayExecutor,
    make_executor,
)
from triops.ml.pipelines._graph import Pipeline, Step, load, registered_modules
from triops.ml.pipelines._run import RunResult, StepOutcome, recorded_run_id, run_pipeline

__all__ = [
    "EXECUTORS", "Executor", "LocalExecutor", "Pipeline", "RayExecutor", "RunResult", "Step",
    "StepOutcome", "code_digest", "load", "load_registered", "make_executor",
    "recorded_run_id", "registered_modules", "run_pipeline", "store_code",
]
