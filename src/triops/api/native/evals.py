"""Eval datasets, runs, results, comparisons and online evaluators, native API."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import InvalidInput, PermissionDenied
from triops.core.ids import new_id, now_ms
from triops.core.principals import Role
from triops.llm import (
    add_score,
    case_from,
    cases_from_traces,
    comparison,
    export_chat_jsonl,
    files,
    online_evals,
    parse_case_file,
    result_dict,
    run_dict,
    run_results,
    scorer_names,
    summarize,
)
from triops.llm import eval_store as repo
from triops.llm import trace_store as repo_traces
from triops.ml import DatasetDescription
from triops.ml import datasets as ml_datasets
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.schema_prompts import EvalCase, EvalRun

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/evals", tags=["evals"])
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
MAX_IMPORT_BYTES = 50 * 1024 * 1024


class DatasetIn(BaseModel):
    name: str = Field(..., pattern=_NAME)
    description: str = Field("", max_length=10_000)
    cases: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000)


class CasesIn(BaseModel):
    cases: list[dict[str, Any]] = Field(..., min_length=1, max_length=100_000)


class TracesIn(BaseModel):
    trace_ids: list[str] = Field(..., min_length=1, max_length=10_000)


class DatasetOut(BaseModel):
    name: str
    description: str
    case_count: int
    version: int
    created_by: str
    created_ms: int


class VersionOut(BaseModel):
    version: int
    case_count: int
    message: str
    created_by: str
    created_ms: int


class DatasetDetail(DatasetOut):
    versions: list[VersionOut]


class CaseOut(BaseModel):
    position: int
    inputs: dict[str, Any]
    expected: str | None
    metadata: dict[str, Any]
    source: str
    trace_id: str | None
    added_version: int


class CaseIn(BaseModel):
    inputs: dict[str, Any] = Field(default_factory=dict)
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    message: str = Field("", max_length=10_000, description="why it changed")


class Changed(BaseModel):
    dataset: str
    version: int


class ImportOut(BaseModel):
    dataset: str
    imported: int
    problems: list[str]


class RunIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=256)
    prompt_name: str | None = Field(None, max_length=128)
    prompt_version: int | None = Field(None, ge=1)
    prompt_label: str | None = Field(None, max_length=64)
    model: str = Field("", max_length=256)
    dataset: str = Field("", max_length=256)
    case_count: int = Field(..., ge=0)
    config: dict[str, Any] = Field(default_factory=dict)


class ScoreIn(BaseModel):
    value: float | None = Field(None, allow_inf_nan=False)
    error: str = Field("", max_length=4000)
    detail: str = Field("", max_length=4000)


class ResultIn(BaseModel):
    case_index: int = Field(..., ge=0)
    inputs: dict[str, Any] = Field(default_factory=dict)
    expected: str | None = None
    output: str | None = None
    error: str = Field("", max_length=10_000)
    latency_ms: float = Field(0.0, ge=0, allow_inf_nan=False)
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    cost: float = Field(0.0, ge=0, allow_inf_nan=False)
    trace_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$")
    scores: dict[str, ScoreIn] = Field(default_factory=dict)


class ResultsIn(BaseModel):
    results: list[ResultIn] = Field(..., min_length=1, max_length=5000)


class FinishIn(BaseModel):
    status: Literal["finished", "failed"] = "finished"


class RunOut(BaseModel):
    id: str
    name: str
    prompt_name: str | None
    prompt_version: int | None
    prompt_label: str | None
    model: str
    dataset: str
    status: str
    case_count: int
    summary: dict[str, Any]
    config: dict[str, Any]
    created_by: str
    created_ms: int
    finished_ms: int | None


class RunDetail(RunOut):
    results: list[dict[str, Any]]


class OnlineIn(BaseModel):
    scorers: list[Any] = Field(..., min_length=1, max_length=20)
    sample_rate: float = Field(0.1, gt=0, le=1)
    window: int = Field(20, ge=2, le=10_000)
    threshold: float | None = Field(None, ge=0, le=1)
    max_drop: float | None = Field(0.2, ge=0, le=1, description="below baseline by this much")
    max_ungrounded_rate: float | None = Field(
        None, ge=0, le=1, description="alarm when a larger share of the window's answers is "
                                      "ungrounded (needs a groundedness scorer)")
    model: str | None = Field(None, max_length=256, description="only traces of this model")
    prompt: str | None = Field(None, max_length=128, description="only traces of this prompt")
    enabled: bool = True


class OnlineOut(BaseModel):
    name: str
    config: dict[str, Any]
    enabled: bool
    cursor_ms: int
    state: dict[str, Any]


def dataset_out(row: Any) -> DatasetOut:
    return DatasetOut(name=row.name, description=row.description, case_count=row.case_count,
                      version=row.version, created_by=row.created_by,
                      created_ms=row.created_ms)


def version_out(row: Any) -> VersionOut:
    return VersionOut(version=row.version, case_count=row.case_count, message=row.message,
                      created_by=row.created_by, created_ms=row.created_ms)


def case_out(row: EvalCase) -> CaseOut:
    return CaseOut(position=row.position, inputs=row.inputs, expected=row.expected,
                   metadata=row.meta, source=row.source, trace_id=row.trace_id,
                   added_version=row.added_version)


def run_out(row: EvalRun) -> RunOut:
    return RunOut(**run_dict(row))


# -- datasets ---------------------------------------------------------------------------

@router.post("/datasets", response_model=DatasetOut, status_code=201)
def create_dataset(body: DatasetIn, request: Request, caller: Caller = AsEditor) -> DatasetOut:
    cases = [case_from(c, f"cases[{i}]") for i, c in enumerate(body.cases)]
    with runtime_of(request).db.write() as session:
        row = repo.create_dataset(session, caller.project, body.name, body.description,
                                  caller.actor)
        repo.add_cases(session, row, cases, "created", caller.actor)
        return dataset_out(row)


@router.get("/datasets", response_model=list[DatasetOut])
def list_datasets(request: Request, caller: Caller = AsViewer) -> list[DatasetOut]:
    with runtime_of(request).db.read() as session:
        return [dataset_out(d) for d in repo.list_datasets(session, caller.project)]


@router.get("/datasets/{name}", response_model=DatasetDetail)
def get_dataset(name: str, request: Request, caller: Caller = AsViewer) -> DatasetDetail:
    with runtime_of(request).db.read() as session:
        row = repo.get_dataset(session, caller.project, name)
        versions = [version_out(v) for v in repo.versions_of(session, caller.project, name)]
        return DatasetDetail(**dataset_out(row).model_dump(), versions=versions)


@router.get("/datasets/{name}/cases", response_model=list[CaseOut])
def get_cases(name: str, request: Request,
              version: int | None = Query(None, ge=1, le=2**31 - 1,
                                          description="a past version; the newest if absent"),
              caller: Caller = AsViewer) -> list[CaseOut]:
    with runtime_of(request).db.read() as session:
        repo.get_dataset(session, caller.project, name)
        if version is not None:
            repo.get_version(session, caller.project, name, version)
        return [case_out(c) for c in repo.cases_of(session, caller.project, name, version)]


@router.post("/datasets/{name}/cases", response_model=ImportOut, status_code=201)
def add_cases(name: str, body: CasesIn, request: Request, caller: Caller = AsEditor
              ) -> ImportOut:
    cases = [case_from(c, f"cases[{i}]") for i, c in enumerate(body.cases)]
    with runtime_of(request).db.write() as session:
        added = repo.add_cases(session, repo.get_dataset(session, caller.project, name), cases,
                               actor=caller.actor)
    return ImportOut(dataset=name, imported=added, problems=[])


@router.put("/datasets/{name}/cases/{position}", response_model=CaseOut)
def edit_case(name: str, body: CaseIn, request: Request,
              position: int = Path(..., ge=0, le=2**31 - 1),
              caller: Caller = AsEditor) -> CaseOut:
    """The case's new content, as the dataset's next version; older versions keep the
    old content."""
    case = case_from(body.model_dump(exclude={"message"}), "body")
    with runtime_of(request).db.write() as session:
        dataset = repo.get_dataset(session, caller.project, name)
        return case_out(repo.edit_case(session, dataset, position, case, body.message,
                                       caller.actor))


@router.delete("/datasets/{name}/cases/{position}", response_model=Changed)
def delete_case(name: str, request: Request, position: int = Path(..., ge=0, le=2**31 - 1),
                caller: Caller = AsEditor) -> Changed:
    """Drop the case from the next version; older versions keep it."""
    with runtime_of(request).db.write() as session:
        dataset = repo.get_dataset(session, caller.project, name)
        version = repo.remove_case(session, dataset, position, actor=caller.actor)
    return Changed(dataset=name, version=version)


class ExportIn(BaseModel):
    version: int | None = Field(None, ge=1, le=2**31 - 1, description="the newest if absent")
    guardrails: list[str] = Field(["pii", "credentials"], min_length=1, max_length=10,
                                  description="redacting guardrails, applied in order")
    system: str | None = Field(None, max_length=100_000,
                               description="a system message put before each example's")


class ExportOut(BaseModel):
    dataset: str
    version: int
    file: dict[str, Any]
    examples: int
    redactions: int
    skipped: list[str]


@router.post("/datasets/{name}/export", response_model=ExportOut, status_code=201)
def export_dataset(name: str, body: ExportIn, request: Request, caller: Caller = AsEditor
                   ) -> ExportOut:
    """A version as chat fine-tuning JSONL, redacted by the guardrails first, stored as a
    ``fine-tune`` file of ``/v1/files``."""
    rt = runtime_of(request)
    with rt.db.read() as session:
        dataset = repo.get_dataset(session, caller.project, name)
        version = body.version or dataset.version
        repo.get_version(session, caller.project, name, version)
        cases = repo.cases_of(session, caller.project, name, version)
    made = export_chat_jsonl(cases, guardrails=body.guardrails, system=body.system)
    if not made.examples:
        raise InvalidInput(f"version {version} of {name!r} holds no case that makes a chat "
                           f"example: {'; '.join(made.skipped[:5])}")
    stored = files.store_bytes(rt.db, rt.artifacts, caller.project,
                               filename=f"{name}-v{version}.jsonl", purpose="fine-tune",
                               data=made.data, actor=caller.actor)
    # The same content as an ML dataset version: a fine-tuning job on this file finds it
    # by its digest, so the model's lineage starts at this dataset version.
    ml_datasets.register(rt.db, caller.project, f"eval/{name}", DatasetDescription(
        digest=hashlib.sha256(made.data).hexdigest(), source_type="eval-dataset",
        source=f"{name}@{version}", row_count=made.examples),
        description=f"chat fine-tuning export of {name} v{version}", created_by=caller.actor)
    return ExportOut(dataset=name, version=version, file=stored.as_openai(),
                     examples=made.examples, redactions=made.redactions,
                     skipped=made.skipped[:1000])


def _dataset_for_write(session: Any, project: str, name: str, actor: str) -> Any:
    found = session.get(repo.EvalDataset, (project, name))
    if found is not None:
        return found
    if not isinstance(name, str) or len(name) > 128 or not name[:1].isalnum():
        raise InvalidInput(f"dataset name {name!r} must start with a letter or digit")
    return repo.create_dataset(session, project, name, "", actor)


@router.post("/datasets/{name}/import", response_model=ImportOut, status_code=201)
async def import_file(name: str, request: Request,
                      format: Literal["csv", "jsonl"] = Query(...),
                      caller: Caller = AsEditor) -> ImportOut:
    """Good rows are imported and bad rows reported by line number; a file with no good
    row is refused. The dataset is created if it does not exist."""
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInput(f"the file is over {MAX_IMPORT_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 (byte {exc.start})") from None
    report = parse_case_file(text, format, source=f"file:{name}")
    with runtime_of(request).db.write() as session:
        dataset = _dataset_for_write(session, caller.project, name, caller.actor)
        added = repo.add_cases(session, dataset, report.cases, "imported a file", caller.actor)
    return ImportOut(dataset=name, imported=added, problems=report.problems)


@router.post("/datasets/{name}/from-traces", response_model=ImportOut, status_code=201)
def from_traces(name: str, body: TracesIn, request: Request, caller: Caller = AsEditor
                ) -> ImportOut:
    with runtime_of(request).db.write() as session:
        cases = cases_from_traces(session, caller.project, [t.lower() for t in body.trace_ids])
        dataset = _dataset_for_write(session, caller.project, name, caller.actor)
        added = repo.add_cases(session, dataset, cases, f"added {len(cases)} case(s) from "
                               "traces", caller.actor)
    return ImportOut(dataset=name, imported=added, problems=[])


# -- runs -------------------------------------------------------------------------------

@router.post("/runs", response_model=RunOut, status_code=201)
def create_run(body: RunIn, request: Request, caller: Caller = AsEditor) -> RunOut:
    run = EvalRun(id=new_id(), project=caller.project, status="running", summary={},
                  created_by=caller.actor, created_ms=now_ms(), finished_ms=None,
                  **body.model_dump())
    with runtime_of(request).db.write() as session:
        return run_out(repo.create_run(session, run))


@router.post("/runs/{run_id}/results", response_model=ImportOut, status_code=201)
def put_results(run_id: str, body: ResultsIn, request: Request, caller: Caller = AsEditor
                ) -> ImportOut:
    rows = [r.model_dump() for r in body.results]
    if len({r["case_index"] for r in rows}) != len(rows):
        raise InvalidInput("a batch holds the same case_index twice")
    with runtime_of(request).db.write() as session:
        run = repo.get_run(session, caller.project, run_id)
        added = repo.put_results(session, run, rows)
    return ImportOut(dataset=run_id, imported=added, problems=[])


@router.post("/runs/{run_id}/finish", response_model=RunOut)
def finish_run(run_id: str, body: FinishIn, request: Request, caller: Caller = AsEditor
               ) -> RunOut:
    with runtime_of(request).db.write() as session:
        run = repo.get_run(session, caller.project, run_id)
        results = [result_dict(r) for r in repo.results_of(session, run.id)]
        run.summary = summarize(results, scorer_names(run))
        run.status, run.finished_ms = body.status, now_ms()
        _score_traces(session, run, results)
        return run_out(run)


def _score_traces(session: Any, run: EvalRun, results: list[dict[str, Any]]) -> None:
    """Attach each case's scores to its gateway trace, so the trace view shows them.
    A trace not yet written (spans are stored in the background) is left without."""
    for r in results:
        if not r["trace_id"] or not repo_traces.get(session, run.project, r["trace_id"]):
            continue
        for name, score in r["scores"].items():
            if score.get("value") is not None and not score.get("error"):
                add_score(session, run.project, r["trace_id"], name=f"eval/{name}",
                          value=float(score["value"]), source="code",
                          comment=f"eval run {run.name} ({run.id})"[:1000],
                          actor=run.created_by)


@router.get("/runs", response_model=list[RunOut])
def list_runs(request: Request, limit: int = Query(100, ge=1, le=1000),
              caller: Caller = AsViewer) -> list[RunOut]:
    with runtime_of(request).db.read() as session:
        return [run_out(r) for r in repo.list_runs(session, caller.project, limit)]


@router.get("/runs/{run_id}", response_model=RunDetail)
def get_run(run_id: str, request: Request, caller: Caller = AsViewer) -> RunDetail:
    with runtime_of(request).db.read() as session:
        run, results = run_results(session, caller.project, run_id)
        return RunDetail(**run_dict(run), results=results)


@router.get("/compare")
def compare_runs(request: Request, a: str = Query(..., max_length=32),
                 b: str = Query(..., max_length=32), caller: Caller = AsViewer
                 ) -> dict[str, Any]:
    with runtime_of(request).db.read() as session:
        return comparison(session, caller.project, a, b)


# -- online evaluation ------------------------------------------------------------------

def online_out(row: Any) -> OnlineOut:
    return OnlineOut(name=row.name, config=row.config, enabled=row.enabled,
                     cursor_ms=row.cursor_ms, state=row.state)


@router.put("/online/{name}", response_model=OnlineOut)
def put_online(name: str, body: OnlineIn, request: Request, caller: Caller = AsEditor
               ) -> OnlineOut:
    config = body.model_dump(exclude={"enabled"})
    # A python scorer makes the server import the named code: only an admin may ask for it,
    # as for pipelines.
    if caller.principal.role < Role.admin and any(
            isinstance(spec, dict) and spec.get("type") == "python" for spec in body.scorers):
        raise PermissionDenied("a python scorer runs code inside the server: it needs an "
                               "admin key")
    online_evals.check_config(name, config)
    with runtime_of(request).db.write() as session:
        return online_out(repo.put_online(session, caller.project, name, config, body.enabled))


@router.get("/online", response_model=list[OnlineOut])
def list_online(request: Request, caller: Caller = AsViewer) -> list[OnlineOut]:
    with runtime_of(request).db.read() as session:
        return [online_out(r) for r in repo.list_online(session, caller.project)]
