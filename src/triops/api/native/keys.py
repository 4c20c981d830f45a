"""API keys and projects. Creating or revoking keys needs the admin role; creating a
project, a server-wide admin key."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.core.errors import PermissionDenied
from triops.core.principals import ALL_PROJECTS
from triops.server import audit_log as audit
from triops.server import invalidation
from triops.server import key_store as keys
from triops.server import project_store as projects
from triops.server.auth import AsAdmin, AsServerAdmin, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.schema import ApiKey

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1", tags=["keys"])


class KeyIn(BaseModel):
    project: str | None = Field(None, description="defaults to the caller's project")
    role: str = Field(..., examples=["viewer", "editor", "admin"])
    name: str = Field("", max_length=256)


class KeyOut(BaseModel):
    id: str
    name: str
    project: str
    role: str
    prefix: str
    created_ms: int
    revoked_ms: int | None = None

    @classmethod
    def of(cls, row: ApiKey) -> KeyOut:
        return cls(id=row.id, name=row.name, project=row.project, role=row.role,
                   prefix=row.prefix, created_ms=row.created_ms, revoked_ms=row.revoked_ms)


class CreatedKeyOut(KeyOut):
    secret: str = Field(..., description="shown once; store it now")


class ProjectIn(BaseModel):
    name: str = Field(..., max_length=128)
    description: str = Field("", max_length=4096)


class ProjectOut(BaseModel):
    name: str
    description: str
    created_ms: int


@router.get("/keys", response_model=list[KeyOut])
def list_keys(request: Request, caller: Caller = AsAdmin) -> list[KeyOut]:
    scope = None if caller.principal.is_global else caller.project
    with runtime_of(request).db.read() as session:
        return [KeyOut.of(row) for row in keys.list_keys(session, scope)]


@router.post("/keys", response_model=CreatedKeyOut, status_code=201)
def create_key(body: KeyIn, request: Request, caller: Caller = AsAdmin) -> CreatedKeyOut:
    project = body.project or caller.project
    if project == ALL_PROJECTS and not caller.principal.is_global:
        raise PermissionDenied("only a global admin key can create keys for all projects")
    if project != caller.project and not caller.principal.is_global:
        raise PermissionDenied(f"this key cannot create keys for project {project!r}")
    if project != ALL_PROJECTS:
        projects.validate_name(project)
    role = keys.parse_role(body.role)
    with runtime_of(request).db.write() as session:
        created = keys.create(session, project=project, role=role, name=body.name)
        row = session.get(ApiKey, created.id)
        audit.record(session, project=project, actor=caller.actor, action="key.create",
                     target=created.id, detail={"role": role.name})
        assert row is not None
        return CreatedKeyOut(**KeyOut.of(row).model_dump(), secret=created.secret)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: str, request: Request, caller: Caller = AsAdmin) -> KeyOut:
    scope = None if caller.principal.is_global else caller.project
    with runtime_of(request).db.write() as session:
        row = keys.revoke(session, key_id, scope)
        audit.record(session, project=row.project, actor=caller.actor, action="key.revoke",
                     target=key_id)
        out = KeyOut.of(row)
    request.app.state.key_cache.forget_key(key_id)
    invalidation.publish(runtime_of(request).settings.redis_url, invalidation.API_KEY, key_id)
    return out


@router.get("/projects", response_model=list[ProjectOut])
def list_projects(request: Request, caller: Caller = AsViewer) -> list[ProjectOut]:
    with runtime_of(request).db.read() as session:
        rows = projects.list_all(session)
    visible = [r for r in rows if caller.principal.is_global or r.name == caller.project]
    return [ProjectOut(name=r.name, description=r.description, created_ms=r.created_ms)
            for r in visible]


@router.post("/projects", response_model=ProjectOut, status_code=201)
def create_project(body: ProjectIn, request: Request, caller: Caller = AsServerAdmin
                   ) -> ProjectOut:
    with runtime_of(request).db.write() as session:
        row = projects.create(session, body.name, body.description)
        audit.record(session, project=row.name, actor=caller.actor, action="project.create",
                     target=row.name)
        return ProjectOut(name=row.name, description=row.description, created_ms=row.created_ms)
