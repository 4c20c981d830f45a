"""MLOps: experiment tracking and the model registry.

The public face of the pillar; other pillars, the API and the CLI import from here.
"""

from triops.ml._filters import parse_filter, parse_order_by
from triops.ml._registry import create_version, download_uri
from triops.ml._tracking import (
    create_run, delete_run_tag, ensure_default_experiment, get_run, log_batch, log_inputs,
    log_outputs, set_run_stage, update_run,
)
from triops.ml._validation import check_key, check_params, check_tags
from triops.store.repos.runs import DatasetUse, MetricPoint, RunDetails

__all__ = [
    "DatasetUse", "MetricPoint", "RunDetails", "check_key", "check_params", "check_tags",
    "create_run", "create_version", "delete_run_tag", "download_uri",
    "ensure_default_experiment", "get_run", "log_batch", "log_inputs", "log_outputs",
    "parse_filter", "parse_order_by", "set_run_stage", "update_run",
]
