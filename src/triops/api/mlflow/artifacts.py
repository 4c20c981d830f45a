"""MLflow's artifact proxy (``mlflow-artifacts``): upload, download, list, delete.

Every path is scoped to the caller's project (``mlflow/<project>/<path>`` in the
runtime's artifact store) and refused if it tries to leave it, whether spelled plainly
(``../``), absolutely, or percent-encoded.
"""

from __future__ import annotations

import posixpath
import tempfile
from urllib.parse import unquote

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from triops.api.mlflow import _messages as msg
from triops.api.mlflow._common import db_of, required
from triops.core.errors import InvalidInput
from triops.ml import logged_model_store as logged_models
from triops.ml import run_store as runs
from triops.ml.artifact_paths import proxy_path, store_path
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.artifacts import ArtifactStore, safe_relpath

router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow-artifacts"])
tracking_router = APIRouter(route_class=RoleFirstRoute, tags=["mlflow"])
_SPOOL_BYTES = 8 * 1024 * 1024


def clean_path(path: str) -> str:
    """A user's artifact path, normalised; traversal in any spelling is refused."""
    decoded = path
    for _ in range(3):  # %252e%252e decodes twice before it shows its '..'
        nxt = unquote(decoded)
        if nxt == decoded:
            break
        decoded = nxt
    if decoded != path:
        safe_relpath(decoded)
    return safe_relpath(path)


def _where(caller: Caller, path: str) -> str:
    return store_path(caller.project, clean_path(path))


def _store(request: Request) -> ArtifactStore:
    return runtime_of(request).artifacts


@router.put("/artifacts/{artifact_path:path}")
async def upload(artifact_path: str, request: Request, caller: Caller = AsEditor) -> Response:
    if not clean_path(artifact_path):
        raise InvalidInput("an artifact path is required")
    target = _where(caller, artifact_path)
    store = _store(request)
    # Spool to disk past a few MiB so large models do not sit in memory.
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        await run_in_threadpool(store.write_stream, target, spool)
    return msg.reply()


@router.get("/artifacts/{artifact_path:path}")
def download(artifact_path: str, request: Request, caller: Caller = AsViewer) -> Response:
    handle = _store(request).open(_where(caller, artifact_path))

    def chunks():  # type: ignore[no-untyped-def]
        with handle:
            while block := handle.read(1024 * 1024):
                yield block

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.delete("/artifacts/{artifact_path:path}")
def delete(artifact_path: str, request: Request, caller: Caller = AsEditor) -> Response:
    if not clean_path(artifact_path):
        raise InvalidInput("an artifact path is required")
    _store(request).delete(_where(caller, artifact_path))
    return msg.reply()


def _listing(store: ArtifactStore, where: str, prefix: str) -> list[dict]:
    files = []
    for entry in store.list(where):
        name = posixpath.basename(entry.path)
        item: dict = {"path": f"{prefix}/{name}" if prefix else name, "is_dir": entry.is_dir}
        if not entry.is_dir and entry.size is not None:
            item["file_size"] = entry.size
        files.append(item)
    return files


@router.get("/artifacts")
def list_artifacts(request: Request, path: str = "", caller: Caller = AsViewer) -> Response:
    # The proxy lists base names, as MLflow's does; the client joins them to ``path``.
    return msg.reply({"files": _listing(_store(request), _where(caller, path), "")})


@tracking_router.get("/artifacts/list")
def list_run_artifacts(request: Request, run_id: str = "", run_uuid: str = "", path: str = "",
                       page_token: str | None = None, caller: Caller = AsViewer) -> Response:
    with db_of(request).read() as session:
        run = runs.get(session, caller.project, required(run_id or run_uuid, "run_id"))
    rel = clean_path(path)
    root = proxy_path(run.artifact_uri)
    where = _where(caller, f"{root}/{rel}" if rel else root)
    return msg.reply({"root_uri": run.artifact_uri,
                      "files": _listing(_store(request), where, rel)})


@tracking_router.get("/logged-models/{model_id}/artifacts/directories")
def list_model_artifacts(model_id: str, request: Request, artifact_directory_path: str = "",
                         caller: Caller = AsViewer) -> Response:
    with db_of(request).read() as session:
        model = logged_models.get(session, caller.project, model_id)
    rel = clean_path(artifact_directory_path)
    root = proxy_path(model.artifact_uri)
    where = _where(caller, f"{root}/{rel}" if rel else root)
    return msg.reply({"root_uri": model.artifact_uri,
                      "files": _listing(_store(request), where, rel)})


@tracking_router.get("/logged-models/{model_id}/artifacts/files")
def download_model_artifact(model_id: str, request: Request, artifact_file_path: str = "",
                            caller: Caller = AsViewer) -> Response:
    with db_of(request).read() as session:
        model = logged_models.get(session, caller.project, model_id)
    rel = clean_path(required(artifact_file_path, "artifact_file_path"))
    return download(f"{proxy_path(model.artifact_uri)}/{rel}", request, caller)


