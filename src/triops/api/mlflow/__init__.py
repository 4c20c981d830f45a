"""The MLflow REST protocol: tracking, registry and the artifact proxy.

Every route is served under ``/api/2.0/mlflow`` and again under ``/ajax-api/2.0/mlflow``
(what MLflow's own web UI calls), so both kinds of client work unchanged.
"""

from __future__ import annotations

from fastapi import APIRouter

from triops.api.mlflow import (
    artifacts,
    experiments,
    logged_models,
    metrics,
    model_versions,
    registered_models,
    runs,
    server_info,
)
from triops.server.auth import RoleFirstRoute

_TRACKING = (experiments.router, runs.router, metrics.router, logged_models.router,
             artifacts.tracking_router, registered_models.router, model_versions.router)

router = APIRouter(route_class=RoleFirstRoute)
for _prefix, _listed in (("/api/2.0/mlflow", True), ("/ajax-api/2.0/mlflow", False)):
    for _sub in _TRACKING:
        router.include_router(_sub, prefix=_prefix, include_in_schema=_listed)
    router.include_router(artifacts.router, prefix=_prefix.replace("mlflow", "mlflow-artifacts"),
                          include_in_schema=_listed)
router.include_router(server_info.router)

__all__ = ["router"]
