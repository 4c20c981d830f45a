"""Score configs: what a score of a given name may hold (``/api/v1/score-configs``).

Declaring one is an editor's act, like scoring itself: it shapes the scores of the
caller's project only.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.llm import score_configs
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/score-configs",
                   tags=["scores"])


class ScoreConfigIn(BaseModel):
    data_type: Literal["numeric", "boolean", "categorical"]
    min_value: float | None = Field(None, allow_inf_nan=False)
    max_value: float | None = Field(None, allow_inf_nan=False)
    categories: list[str] = Field(default_factory=list, max_length=100)
    description: str = Field("", max_length=10_000)


class ScoreConfigOut(BaseModel):
    name: str
    data_type: str
    min_value: float | None
    max_value: float | None
    categories: list[str]
    description: str
    created_by: str
    created_ms: int


def _out(row: Any) -> ScoreConfigOut:
    return ScoreConfigOut(**score_configs.config_dict(row))


@router.put("/{name}", response_model=ScoreConfigOut)
def put_config(name: str, body: ScoreConfigIn, request: Request,
               caller: Caller = AsEditor) -> ScoreConfigOut:
    spec = score_configs.ConfigSpec(name=name, **body.model_dump())
    with runtime_of(request).db.write() as session:
        return _out(score_configs.put_config(session, caller.project, spec, caller.actor))


@router.get("", response_model=list[ScoreConfigOut])
def list_configs(request: Request, caller: Caller = AsViewer) -> list[ScoreConfigOut]:
    with runtime_of(request).db.read() as session:
        return [_out(r) for r in score_configs.list_configs(session, caller.project)]


@router.get("/{name}", response_model=ScoreConfigOut)
def get_config(name: str, request: Request, caller: Caller = AsViewer) -> ScoreConfigOut:
    with runtime_of(request).db.read() as session:
        return _out(score_configs.get_config(session, caller.project, name))


@router.delete("/{name}", status_code=204)
def delete_config(name: str, request: Request, caller: Caller = AsEditor) -> None:
    with runtime_of(request).db.write() as session:
        score_configs.delete_config(session, caller.project, name)
