"""Every page router of the web UI, in one list that ``triops.server.app`` includes."""

from __future__ import annotations

from fastapi import APIRouter

from triops.ui.annotation_pages import router as annotation_pages_router
from triops.ui.dataset_pages import router as dataset_pages_router
from triops.ui.endpoint_pages import router as endpoint_pages_router
from triops.ui.fine_tuning_pages import router as fine_tuning_pages_router
from triops.ui.gateway_pages import router as gateway_pages_router
from triops.ui.guardrail_pages import router as guardrail_pages_router
from triops.ui.incident_pages import router as incident_pages_router
from triops.ui.llm_pages import router as llm_pages_router
from triops.ui.ml_pages import router as ml_pages_router
from triops.ui.ml_run_pages import router as ml_run_pages_router
from triops.ui.monitoring_pages import router as monitoring_pages_router
from triops.ui.ops_pages import router as ops_pages_router
from triops.ui.pages import router as pages_router
from triops.ui.people_pages import router as people_pages_router
from triops.ui.playground_pages import router as playground_pages_router
from triops.ui.prompt_pages import router as prompt_pages_router
from triops.ui.rag_pages import router as rag_pages_router
from triops.ui.runbook_pages import router as runbook_pages_router
from triops.ui.topology_pages import router as topology_pages_router

ROUTERS: list[APIRouter] = [
    pages_router,  # login, overview, incident list, keys
    incident_pages_router,
    topology_pages_router,
    llm_pages_router,
    people_pages_router,
    dataset_pages_router,  # eval datasets: versions, cases, traces added from the list
    annotation_pages_router,  # annotation queues and the review screen
    fine_tuning_pages_router,  # fine-tuning jobs and eval-gated rollouts
    ops_pages_router,
    prompt_pages_router,
    playground_pages_router,
    guardrail_pages_router,
    gateway_pages_router,
    rag_pages_router,  # knowledge collections and their search
    monitoring_pages_router,
    ml_pages_router,
    ml_run_pages_router,
    endpoint_pages_router,  # serving endpoints: deployment, traffic, what versions rely on
    runbook_pages_router,
]
