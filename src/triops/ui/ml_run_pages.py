"""The run page (params, tags, metric charts, inputs, logged models, an artifact browser
with previews), the raw artifact behind a preview, and the landing of MLflow's logged
model links."""

from __future__ import annotations

import posixpath
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from triops.core.errors import InvalidInput, NotFound
from triops.ml import experiment_store as experiments
from triops.ml import logged_model_store as logged_models
from triops.ml import registry_store as registry
from triops.ml import run_store as runs
from triops.ml.artifact_paths import under
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.artifact_preview import PREVIEW_BYTES, media_type, preview
from triops.ui.ml_charts import Series, overlay_chart
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/ml", include_in_schema=False)

#: Metrics charted on a run page (the rest are in the table) and points per chart read.
MAX_CHARTS = 12
POINTS_PER_CHART = 20_000
#: Entries listed in one artifact folder.
MAX_ENTRIES = 500


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: str, artifact: str = Query("", max_length=1000),
             caller: Caller = AsViewer) -> HTMLResponse:
    rt = runtime_of(request)
    with rt.db.read() as session:
        run = runs.get(session, caller.project, run_id)
        experiment = experiments.get(session, caller.project, run.experiment_id)
        detail = runs.details(session, [run_id])[run_id]
        keys = sorted({m.key for m in detail.metrics})
        charts = [(key, overlay_chart(
            [Series(key, [(float(p.step), p.value) for p in runs.metric_history(
                session, caller.project, run_id, key, limit=POINTS_PER_CHART)])],
            height=220, title=f"{key} by step")) for key in keys[:MAX_CHARTS]]
        versions = sorted(((m.name, v.version) for m, v in
                           registry.versions_of_run(session, caller.project, run_id)))
        outputs = []
        for model_id, step in detail.model_outputs:
            try:
                outputs.append((logged_models.get(session, caller.project, model_id), step))
            except NotFound:
                continue  # deleted since; the link stays in the run
    folder, listing, shown = _browse(rt.artifacts, caller.project, run.artifact_uri, artifact)
    system = {k: v for k, v in detail.tags.items() if k.startswith("mlflow.")}
    user_tags = {k: v for k, v in detail.tags.items() if k not in system}
    return render(request, "ml_run.html", run=run, experiment=experiment, detail=detail,
                  latest={m.key: m for m in detail.metrics}, keys=keys, charts=charts,
                  hidden_charts=max(len(keys) - MAX_CHARTS, 0), versions=versions,
                  outputs=outputs, tags=user_tags, system_tags=system, folder=folder,
                  listing=listing, shown=shown, crumbs=_crumbs(folder))


def _browse(store, project: str, artifact_uri: str, path: str):  # type: ignore[no-untyped-def]
    """The folder to list and, when ``path`` names a file, its preview. A run whose
    artifacts live outside this server's store has nothing to browse here."""
    try:
        under(project, artifact_uri)
    except InvalidInput:
        return "", None, None
    path = path.strip("/")
    entries = store.list(under(project, artifact_uri, path))
    shown = None
    folder = path
    if path and not entries:
        folder = posixpath.dirname(path)
        entries = store.list(under(project, artifact_uri, folder))
        hit = next((e for e in entries if not e.is_dir
                    and posixpath.basename(e.path) == posixpath.basename(path)), None)
        if hit is None:
            raise NotFound(f"artifact {path!r} does not exist in this run")
        with store.open(under(project, artifact_uri, path)) as handle:
            head = handle.read(PREVIEW_BYTES)
        shown = (path, hit.size, preview(path, head, hit.size))
    listing = [(f"{folder}/{posixpath.basename(e.path)}" if folder else
                posixpath.basename(e.path), e.is_dir, e.size)
               for e in sorted(entries, key=lambda e: (not e.is_dir, e.path))[:MAX_ENTRIES]]
    return folder, listing, shown


def _crumbs(folder: str) -> list[tuple[str, str]]:
    """``(name, path)`` of each folder from the root down to ``folder``."""
    parts = [p for p in folder.split("/") if p]
    return [(p, "/".join(parts[:i + 1])) for i, p in enumerate(parts)]


@router.get("/runs/{run_id}/artifact")
def artifact_file(request: Request, run_id: str, path: str = Query(..., max_length=1000),
                  download: bool = False, caller: Caller = AsViewer) -> Response:
    """One artifact's bytes: images for the preview, anything as a download. Nothing is
    served as HTML, and an SVG is sandboxed, so an artifact cannot act as a triops page."""
    rt = runtime_of(request)
    with rt.db.read() as session:
        run = runs.get(session, caller.project, run_id)
    handle = rt.artifacts.open(under(caller.project, run.artifact_uri, path))

    def chunks():  # type: ignore[no-untyped-def]
        with handle:
            while block := handle.read(1024 * 1024):
                yield block

    name = posixpath.basename(path)
    kind = "attachment" if download else "inline"
    headers = {"Content-Disposition": f"{kind}; filename*=UTF-8''{quote(name)}",
               "X-Content-Type-Options": "nosniff",
               "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'"}
    return StreamingResponse(chunks(), media_type=media_type(path), headers=headers)


@router.get("/logged-models/{model_id}")
def logged_model_page(request: Request, model_id: str, caller: Caller = AsViewer) -> Response:
    """MLflow links a logged model (``#/experiments/<id>/models/<model_id>``); triops
    shows it on the run that logged it, or the experiment when no run did."""
    with runtime_of(request).db.read() as session:
        model = logged_models.get(session, caller.project, model_id)
    if model.source_run_id:
        return RedirectResponse(f"/ui/ml/runs/{quote(model.source_run_id)}#logged-models", 303)
    return RedirectResponse(f"/ui/ml/experiments/{quote(model.experiment_id)}", 303)
