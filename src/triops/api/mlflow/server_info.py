"""What the MLflow client asks about the server before it works with it."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import PlainTextResponse, Response

from triops.api.mlflow import _messages as msg
from triops.server.auth import AsViewer, Caller, RoleFirstRoute

router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow"])

#: The MLflow release whose protocol this server speaks.
MLFLOW_PROTOCOL_VERSION = "3.17.2"


@router.get("/version")
def version(caller: Caller = AsViewer) -> Response:
    return PlainTextResponse(MLFLOW_PROTOCOL_VERSION)


@router.get("/api/3.0/mlflow/server-info")
@router.get("/ajax-api/3.0/mlflow/server-info")
def server_info(caller: Caller = AsViewer) -> Response:
    # Multipart and presigned uploads are off: the client then PUTs through the proxy.
    return msg.reply({
        "store_type": "SqlStore", "workspaces_enabled": False,
        "trace_archival_enabled": False, "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False, "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False, "features_enabled": [],
    })
