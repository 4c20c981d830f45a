"""Native dataset and lineage API.

The profile of a dataset version is computed by the client (triops' SDK does it with
``triops.client.profile.describe``) and sent as JSON: the data itself never has to travel
to register a version. The server checks the profile's shape and refuses what is not.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.ml import DatasetDescription, lineage
from triops.ml import dataset_store as repo
from triops.ml import datasets as ds
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["datasets"])


class ColumnIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=1000)
    dtype: str = Field(..., max_length=100)


class DatasetVersionIn(BaseModel):
    digest: str = Field(..., description="content hash, 8-64 lowercase hex characters")
    source_type: str = Field("external", max_length=64)
    source: str = Field("", max_length=4000)
    row_count: int = Field(..., ge=0)
    columns: list[ColumnIn] = Field(default_factory=list, max_length=ds.MAX_COLUMNS)
    profile: dict[str, dict[str, Any]] = Field(default_factory=dict)
    description: str = Field("", max_length=10_000)
    run_id: str | None = Field(None, description="record that this run used the version")


class DatasetVersionOut(BaseModel):
    name: str
    version: int
    digest: str
    source_type: str
    source: str
    row_count: int
    columns: list[dict[str, Any]]
    profile: dict[str, Any]
    description: str
    created_ms: int
    created_by: str
    created: bool = False


class DatasetSummaryOut(BaseModel):
    name: str
    versions: int
    latest_version: int
    latest_rows: int
    updated_ms: int


@router.post("/datasets/{name:path}/versions", response_model=DatasetVersionOut)
def register_version(name: str, body: DatasetVersionIn, request: Request,
                     caller: Caller = AsEditor) -> DatasetVersionOut:
    description = DatasetDescription(
        digest=body.digest, source_type=body.source_type, source=body.source,
        row_count=body.row_count, columns=[c.model_dump() for c in body.columns],
        profile=body.profile)
    row, created = ds.register(runtime_of(request).db, caller.project, name, description,
                               description=body.description, created_by=caller.actor,
                               run_id=body.run_id)
    return DatasetVersionOut(**ds.as_dict(row), created=created)


@router.get("/datasets", response_model=list[DatasetSummaryOut])
def list_datasets(request: Request, limit: int = Query(1000, ge=1, le=10_000),
                  caller: Caller = AsViewer) -> list[DatasetSummaryOut]:
    with runtime_of(request).db.read() as session:
        return [DatasetSummaryOut(**vars(s)) for s in repo.summaries(session, caller.project,
                                                                     limit)]


@router.get("/datasets/{name:path}/versions/{version}", response_model=DatasetVersionOut)
def read_version(name: str, version: str, request: Request,
                 caller: Caller = AsViewer) -> DatasetVersionOut:
    with runtime_of(request).db.read() as session:
        return DatasetVersionOut(**ds.as_dict(repo.get_version(session, caller.project, name,
                                                               version)))


@router.get("/datasets/{name:path}/versions", response_model=list[DatasetVersionOut])
def list_versions(name: str, request: Request, caller: Caller = AsViewer
                  ) -> list[DatasetVersionOut]:
    with runtime_of(request).db.read() as session:
        return [DatasetVersionOut(**ds.as_dict(r))
                for r in repo.versions(session, caller.project, name)]


@router.get("/lineage/models/{name:path}/versions/{version}")
def model_lineage(name: str, version: str, request: Request,
                  caller: Caller = AsViewer) -> dict[str, Any]:
    """Dataset versions → run → model version → deployments, as JSON."""
    return lineage.model_version(runtime_of(request).db, caller.project, name,
                                 version).as_dict()
