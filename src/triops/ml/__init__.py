"""MLOps: experiment tracking, the model registry, serving and monitoring.

The public face of the pillar; other pillars, the API and the CLI import from here.
The serving and monitoring services a server holds load on first use
(``triops.core.faces``): they pull numpy, pandas and scipy.
"""

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names
from triops.ml._filters import parse_filter, parse_order_by
from triops.ml._registry import create_version, download_uri
from triops.ml._tracking import (
    create_run,
    delete_run_tag,
    ensure_default_experiment,
    get_run,
    log_batch,
    log_inputs,
    log_outputs,
    set_run_stage,
    update_run,
)
from triops.ml._validation import check_key, check_params, check_tags
from triops.store.repos.runs import DatasetUse, MetricPoint, RunDetails

if TYPE_CHECKING:
    from triops.ml.monitoring.service import MonitoringService
    from triops.ml.pipelines import registered_modules
    from triops.ml.serving.service import ServingService

__getattr__ = lazy_names(__name__, {
    "MonitoringService": "monitoring.service", "ServingService": "serving.service",
    "registered_modules": "pipelines",
})

__all__ = [
    "DatasetUse", "MetricPoint", "MonitoringService", "RunDetails", "ServingService", "check_key", "check_params", "check_tags",
    "create_run", "create_version", "delete_run_tag", "download_uri",
    "ensure_default_experiment", "get_run", "log_batch", "log_inputs", "log_outputs",
    "parse_filter", "parse_order_by", "registered_modules", "set_run_stage", "update_run",
]
