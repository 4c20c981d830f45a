"""MLOps: experiment tracking, the model registry, serving and monitoring.

The public face of the pillar; other pillars, the API, the UI and the CLI import from
here. The ``*_store`` names are the pillar's stored domains (experiments, runs, logged
models, the registry, datasets, deployments, monitors and pipelines): each function takes
the caller's session, so an edge composes several in one transaction.
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
    log_batch_now,
    log_inputs,
    log_outputs,
    set_run_stage,
    update_run,
)
from triops.ml._validation import check_key, check_params, check_tags
from triops.store.repos import datasets as dataset_store
from triops.store.repos import deployments as deployment_store
from triops.store.repos import experiments as experiment_store
from triops.store.repos import logged_models as logged_model_store
from triops.store.repos import ml_overview as overview_store
from triops.store.repos import monitoring as monitor_store
from triops.store.repos import registry as registry_store
from triops.store.repos import runs as run_store
from triops.store.repos import runs_search as run_search_store
from triops.store.repos.deployments import EndpointSpec
from triops.store.repos.ml_search import ATTRIBUTE, SortKey, decode_page_token, encode_page_token
from triops.store.repos.runs import (
    DatasetUse,
    MetricColumns,
    MetricPoint,
    RunDetails,
    decode_value,
    encode_value,
)

if TYPE_CHECKING:
    from triops.client.profile import DatasetDescription
    from triops.ml.monitoring.monitors import RunOutcome, run_monitor
    from triops.ml.monitoring.scheduler import MonitoringService
    from triops.ml.monitoring.spec import MonitorSpec
    from triops.ml.pipelines import (
        EXECUTORS,
        code_digest,
        load_registered,
        make_executor,
        recorded_run_id,
        registered_modules,
        run_pipeline,
        store_code,
    )
    from triops.ml.pipelines import load as load_pipeline
    from triops.ml.serving import append_labels, predictions_window, traffic
    from triops.ml.serving.deploy import deploy, undeploy
    from triops.ml.serving.inputs import Table, from_records, from_split, from_tensors
    from triops.ml.serving.loaders import Column
    from triops.ml.serving.service import ServingService

__getattr__ = lazy_names(__name__, {
    "MonitoringService": "monitoring.scheduler", "ServingService": "serving.service",
    "registered_modules": "pipelines",
    "RunOutcome": "monitoring.monitors", "run_monitor": "monitoring.monitors",
    "MonitorSpec": "monitoring.spec", "EXECUTORS": "pipelines", "make_executor": "pipelines",
    "run_pipeline": "pipelines", "recorded_run_id": "pipelines",
    "load_pipeline": "pipelines:load",
    "load_registered": "pipelines", "store_code": "pipelines", "code_digest": "pipelines",
    "DatasetDescription": "triops.client.profile:DatasetDescription", "append_labels": "serving",
    "predictions_window": "serving", "traffic": "serving:traffic",
    "deploy": "serving.deploy", "undeploy": "serving.deploy",
    **{name: "serving.inputs" for name in ("Table", "from_records", "from_split", "from_tensors")},
    "Column": "serving.loaders",
})

__all__ = [
    "ATTRIBUTE",
    "EXECUTORS",
    "Column",
    "DatasetDescription",
    "DatasetUse",
    "EndpointSpec",
    "MetricColumns",
    "MetricPoint",
    "MonitorSpec",
    "MonitoringService",
    "RunDetails",
    "RunOutcome",
    "ServingService",
    "SortKey",
    "Table",
    "append_labels",
    "check_key",
    "check_params",
    "check_tags",
    "code_digest",
    "create_run",
    "create_version",
    "dataset_store",
    "decode_page_token",
    "decode_value",
    "delete_run_tag",
    "deploy",
    "deployment_store",
    "download_uri",
    "encode_page_token",
    "encode_value",
    "ensure_default_experiment",
    "experiment_store",
    "from_records",
    "from_split",
    "from_tensors",
    "get_run",
    "load_pipeline",
    "load_registered",
    "log_batch",
    "log_batch_now",
    "log_inputs",
    "log_outputs",
    "logged_model_store",
    "make_executor",
    "monitor_store",
    "overview_store",
    "parse_filter",
    "parse_order_by",
    "predictions_window",
    "recorded_run_id",
    "registered_modules",
    "registry_store",
    "run_monitor",
    "run_pipeline",
    "run_search_store",
    "run_store",
    "set_run_stage",
    "store_code",
    "traffic",
    "undeploy",
    "update_run",
]
