"""Pipelines: Python function graphs whose steps are cached by content and recorded.

>>> from triops.ml.pipelines import Pipeline
>>> train = Pipeline("train", params=["rows"])

Running a pipeline (the step cache hashes numpy arrays and pandas frames) loads on
first use (``triops.core.faces``): a module that only declares a pipeline stays light.
"""

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names
from triops.ml.pipelines._code import code_digest, load_registered, store_code
from triops.ml.pipelines._executors import (
    EXECUTORS,
    Executor,
    LocalExecutor,
    RayExecutor,
    make_executor,
)
from triops.ml.pipelines._graph import Pipeline, Step, load, registered_modules

if TYPE_CHECKING:
    from triops.ml.pipelines._run import RunResult, StepOutcome, recorded_run_id, run_pipeline

__getattr__ = lazy_names(__name__, {name: "_run" for name in (
    "RunResult", "StepOutcome", "recorded_run_id", "run_pipeline")})

__all__ = [
    "EXECUTORS", "Executor", "LocalExecutor", "Pipeline", "RayExecutor", "RunResult", "Step",
    "StepOutcome", "code_digest", "load", "load_registered", "make_executor",
    "recorded_run_id", "registered_modules", "run_pipeline", "store_code",
]
