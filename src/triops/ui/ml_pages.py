"""ML pages: experiments, a run table filtered with MLflow's syntax, run comparison,
the model registry and a model version's lineage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.core.errors import InvalidInput, NotFound
from triops.ml import dataset_store as dataset_repo
from triops.ml import decode_value, parse_filter, parse_order_by
from triops.ml import experiment_store as experiments
from triops.ml import lineage as ml_lineage
from triops.ml import overview_store as ml_overview
from triops.ml import registry_store as registry
from triops.ml import run_search_store as runs_search
from triops.ml import run_store as runs
from triops.ml.serving.explanations import logged_importance
from triops.ops.topology import load_graph
from triops.server import audit_log as audit
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.ml_charts import Series, color_of, overlay_chart
from triops.ui.rendering import render
from triops.ui.topology_svg import draw

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/ml", include_in_schema=False)

#: Runs shown on an experiment page, columns per kind, runs and curves on a compare page.
PAGE_RUNS = 200
MAX_COLUMNS = 12
MAX_COMPARE = 8
MAX_CURVES = 6
POINTS_PER_CURVE = 20_000
#: What the model page lists of the audit log: moves and deletions of its aliases.
ALIAS_ACTIONS = ("model.alias.move", "model.alias.delete")
ALIAS_HISTORY = 200
#: Edges from a model version drawn on its lineage page: datasets are two away (via the run).
LINEAGE_HOPS = 2


@router.get("", response_class=HTMLResponse)
def landing(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    rt = runtime_of(request)
    with rt.db.read() as session:
        rows, _ = experiments.search(session, caller.project, max_results=1000,
                                     sqlite=rt.db.is_sqlite)
        counts = ml_overview.run_counts(session, caller.project)
        models = registry.count_models(session, caller.project)
        datasets = dataset_repo.summaries(session, caller.project, limit=50)
    return render(request, "ml_index.html", experiments=rows, counts=counts, models=models,
                  datasets=datasets)


def _columns(details: dict, attr: str) -> list[str]:
    keys: dict[str, None] = {}
    for d in details.values():
        for k in (getattr(d, attr) if attr != "metrics" else [m.key for m in d.metrics]):
            keys.setdefault(k, None)
    return sorted(keys)[:MAX_COLUMNS]


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment_page(
    request: Request, experiment_id: str,
    filter: str = Query("", max_length=2000),
    sort: str = Query("", max_length=300), desc: bool = Query(False),
    caller: Caller = AsViewer,
) -> HTMLResponse:
    rt = runtime_of(request)
    error = ""
    with rt.db.read() as session:
        exp = experiments.get(session, caller.project, experiment_id)
        try:
            clauses = parse_filter(filter)
            order = parse_order_by([f"{sort} {'DESC' if desc else 'ASC'}"]) if sort else []
            found, more = runs_search.search(session, caller.project, [experiment_id],
                                             clauses=clauses, order_by=order,
                                             max_results=PAGE_RUNS, sqlite=rt.db.is_sqlite)
        except InvalidInput as exc:
            # A typo in the filter is the user's to fix: say what is wrong, show no runs.
            error, found, more = exc.message, [], None
        details = runs.details(session, [r.run_id for r in found])
    metrics = {r.run_id: {m.key: decode_value(m.value) for m in details[r.run_id].metrics}
               for r in found}
    return render(request, "ml_experiment.html", experiment=exp, runs=found, details=details,
                  metrics=metrics, param_keys=_columns(details, "params"),
                  metric_keys=_columns(details, "metrics"), filter=filter, sort=sort,
                  desc=desc, error=error, more=more is not None, page_size=PAGE_RUNS)


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request,
                 runs_: Annotated[list[str] | None, Query(alias="runs")] = None,
                 caller: Caller = AsViewer) -> HTMLResponse:
    chosen = list(dict.fromkeys(r for r in runs_ or () if r))[:MAX_COMPARE]
    if len(chosen) < 2:
        return render(request, "ml_compare.html", error="Select at least two runs to compare "
                      "(tick them in an experiment's run table).", runs=[], charts=[],
                      param_rows=[], metric_rows=[], colors=[])
    with runtime_of(request).db.read() as session:
        found = []
        for run_id in chosen:
            try:
                found.append(runs.get(session, caller.project, run_id))
            except NotFound:
                raise NotFound(f"run {run_id} does not exist in project {caller.project}") \
                    from None
        details = runs.details(session, chosen)
        keys = sorted({m.key for d in details.values() for m in d.metrics})
        charts = []
        for key in keys[:MAX_CURVES]:
            series = [Series(run.run_name, [(float(p.step), p.value) for p in
                                            runs.metric_history(session, caller.project,
                                                                run.run_id, key,
                                                                limit=POINTS_PER_CURVE)])
                      for run in found]
            charts.append((key, overlay_chart(series, title=f"{key} by step")))
    param_keys = sorted({k for d in details.values() for k in d.params})
    param_rows = []
    for key in param_keys:
        values = [details[r.run_id].params.get(key) for r in found]
        param_rows.append((key, values, len(set(values)) > 1))
    metric_rows = []
    for key in keys:
        values = []
        for r in found:
            hit = next((m for m in details[r.run_id].metrics if m.key == key), None)
            values.append(decode_value(hit.value) if hit else None)
        metric_rows.append((key, values, len(set(values)) > 1))
    return render(request, "ml_compare.html", error="", runs=found, charts=charts,
                  param_rows=param_rows, metric_rows=metric_rows,
                  colors=[color_of(i) for i in range(len(found))],
                  hidden_curves=max(len(keys) - MAX_CURVES, 0))


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    rt = runtime_of(request)
    with rt.db.read() as session:
        models, _ = registry.search_models(session, caller.project, max_results=1000,
                                           sqlite=rt.db.is_sqlite)
        ids = [m.id for m in models]
        aliases = registry.aliases_of(session, ids)
        counts = ml_overview.version_counts(session, ids)
    return render(request, "ml_models.html", models=models, aliases=aliases, counts=counts)


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, name: str, caller: Caller = AsViewer) -> HTMLResponse:
    rt = runtime_of(request)
    with rt.db.read() as session:
        model = registry.get_model(session, caller.project, name)
        rows, _ = registry.search_versions(
            session, caller.project, clauses=parse_filter(f"name = '{_quote(name)}'"),
            max_results=1000, sqlite=rt.db.is_sqlite)
        aliases = registry.aliases_of(session, [model.id])[model.id]
        history = audit.under_target(session, caller.project, ALIAS_ACTIONS,
                                     f"model:{name}@", limit=ALIAS_HISTORY)
    by_version: dict[int, list[str]] = {}
    for alias, version in aliases:
        by_version.setdefault(version, []).append(alias)
    versions = sorted((v for _, v in rows), key=lambda v: -v.version)
    moves = [(e, e.target.rsplit("@", 1)[-1]) for e in history]
    # When and by whom each alias took its current version: its newest move.
    since = {}
    for entry, alias in moves:
        since.setdefault(alias, entry)
    return render(request, "ml_model.html", model=model, versions=versions,
                  by_version=by_version, aliases=aliases, moves=moves, since=since,
                  history_limit=ALIAS_HISTORY)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


@router.get("/models/{name}/versions/{version}", response_class=HTMLResponse)
def lineage_page(request: Request, name: str, version: str,
                 caller: Caller = AsViewer) -> HTMLResponse:
    db = runtime_of(request).db
    chain = ml_lineage.model_version(db, caller.project, name, version)
    # The same lineage as the topology holds it, drawn: the version's datasets (through
    # its run), the registered model and its other versions, aliases and endpoints.
    key = f"model:{chain.model.name}/{chain.model.version}"
    with db.read() as session:
        graph = load_graph(session, caller.project)
    near = graph.within(key, LINEAGE_HOPS)
    drawing = draw(graph.subgraph(near), highlight=key,
                   title=f"lineage of {chain.model.name} v{chain.model.version}") if near else None
    endpoints = sorted({d["endpoint"] for d in chain.deployments})
    reliance = [found for e in endpoints if (found := logged_importance(
        db, caller.project, e, int(chain.model.version))) is not None]
    return render(request, "ml_lineage.html", chain=chain, drawing=drawing,
                  reliance=reliance)
