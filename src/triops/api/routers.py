"""Every HTTP API router, in one list that ``triops.server.app`` includes in order.

Routes match in this order, so the hot paths (model serving, the OpenAI gateway) come
first and match the fewest routes. A new router is one import and one line here.
"""

from __future__ import annotations

from fastapi import APIRouter

from triops.api.mlflow import router as mlflow_router
from triops.api.native.alerts import router as alerts_router
from triops.api.native.annotations import router as annotations_router
from triops.api.native.capacity import router as capacity_router
from triops.api.native.causes import router as causes_router
from triops.api.native.changes import router as changes_router
from triops.api.native.collections import router as collections_router
from triops.api.native.datasets import router as datasets_router
from triops.api.native.endpoints import router as endpoints_router
from triops.api.native.evals import router as evals_router
from triops.api.native.guardrails import router as guardrails_router
from triops.api.native.incidents import router as incidents_router
from triops.api.native.keys import router as keys_router
from triops.api.native.ml_tracking import router as ml_tracking_router
from triops.api.native.monitors import router as monitors_router
from triops.api.native.notifications import router as notifications_router
from triops.api.native.people import router as people_router
from triops.api.native.prom_sources import router as prom_sources_router
from triops.api.native.prompts import router as prompts_router
from triops.api.native.retention import router as retention_router
from triops.api.native.runbooks import router as runbooks_router
from triops.api.native.scores import router as scores_router
from triops.api.native.telemetry import router as telemetry_router
from triops.api.native.topology import router as topology_router
from triops.api.native.traces import router as traces_router
from triops.api.oip import router as oip_router
from triops.api.openai.files import router as openai_files_router
from triops.api.openai.fine_tuning import router as fine_tuning_router
from triops.api.openai.manage import router as gateway_router
from triops.api.openai.routes import router as openai_router
from triops.api.openai.spend import router as gateway_spend_router
from triops.api.openai.vector_stores import router as vector_stores_router
from triops.api.otlp_ops import router as otlp_ops_router
from triops.api.otlp_traces import router as otlp_traces_router
from triops.api.prometheus_write import router as prometheus_write_router

ROUTERS: list[APIRouter] = [
    endpoints_router,  # model serving, native predict
    oip_router,  # model serving, Open Inference v2
    openai_router,  # OpenAI-compatible gateway (/v1/chat/completions, /v1/embeddings, /v1/models)
    openai_files_router,  # /v1/files: training files, vector store documents
    fine_tuning_router,  # /v1/fine_tuning/jobs, trained by an upstream
    keys_router,
    incidents_router,
    causes_router,  # probable causes of an incident
    runbooks_router,
    telemetry_router,
    otlp_traces_router,  # LLM tracing intake
    traces_router,
    people_router,  # LLM traces by session and by end user
    scores_router,  # score configs: the type, range or categories of a score name
    annotations_router,  # annotation queues: reviewers score and correct traces
    otlp_ops_router,  # AIOps intake
    prometheus_write_router,  # AIOps intake from Prometheus remote write
    prom_sources_router,  # AIOps intake polled from a Prometheus (query_range)
    retention_router,  # how long a project keeps samples, logs and traces
    alerts_router,
    topology_router,  # the graph of services, hosts, models, prompts and routes
    changes_router,  # change events on that graph
    gateway_router,  # LLM gateway configuration
    gateway_spend_router,  # LLM gateway spend per key and project
    notifications_router,  # channels, routes, silences, deliveries
    prompts_router,
    evals_router,
    collections_router,  # knowledge collections (RAG)
    vector_stores_router,  # OpenAI vector stores over the collections
    guardrails_router,
    mlflow_router,  # MLflow tracking, registry and artifact proxy
    monitors_router,  # ML monitoring and pipelines
    ml_tracking_router,
    datasets_router,
    capacity_router,  # capacity rules and projections
]
