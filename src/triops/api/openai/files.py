"""``/v1/files`` as OpenAI serves it: upload for a purpose, list, retrieve, delete, and
read the content back. Uploads and deletes need the editor role, reads a viewer.

The upload is a multipart form (``file``, ``purpose``), the body the stock clients send;
it is bounded by the server's body limit (``TRIOPS_MAX_BODY_BYTES``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from triops.llm import files
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, tags=["openai"])


class FileOut(BaseModel):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str
    expires_at: int | None = None
    status_details: str | None = None


class FileListOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileOut]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FileDeletedOut(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool


def _out(info: files.FileInfo) -> FileOut:
    return FileOut(**info.as_openai())


@router.post("/v1/files", response_model=FileOut, summary="Upload a file (OpenAI-compatible)")
async def create_file(request: Request, file: Annotated[UploadFile, File()],
                      purpose: Annotated[str, Form(max_length=64)],
                      caller: Caller = AsEditor) -> FileOut:
    rt = runtime_of(request)
    info = await run_in_threadpool(
        files.store, rt.db, rt.artifacts, caller.project, filename=file.filename or "",
        purpose=purpose, source=file.file, actor=caller.actor)
    return _out(info)


@router.get("/v1/files", response_model=FileListOut, summary="List the project's files")
def list_files(request: Request, purpose: str | None = Query(None, max_length=64),
               limit: int = Query(files.MAX_LIST, ge=1, le=files.MAX_LIST),
               order: Literal["asc", "desc"] = "desc",
               after: str | None = Query(None, max_length=64),
               caller: Caller = AsViewer) -> FileListOut:
    page, more = files.listing(runtime_of(request).db, caller.project, purpose=purpose,
                               limit=limit, order=order, after=after)
    data = [_out(f) for f in page]
    return FileListOut(data=data, first_id=data[0].id if data else None,
                       last_id=data[-1].id if data else None, has_more=more)


@router.get("/v1/files/{file_id}", response_model=FileOut, summary="Describe one file")
def retrieve_file(file_id: str, request: Request, caller: Caller = AsViewer) -> FileOut:
    return _out(files.get(runtime_of(request).db, caller.project, file_id))


@router.delete("/v1/files/{file_id}", response_model=FileDeletedOut, summary="Delete a file")
def delete_file(file_id: str, request: Request, caller: Caller = AsEditor) -> FileDeletedOut:
    rt = runtime_of(request)
    files.delete(rt.db, rt.artifacts, caller.project, file_id)
    return FileDeletedOut(id=file_id, deleted=True)


@router.get("/v1/files/{file_id}/content", summary="The file's content, as uploaded",
            response_class=StreamingResponse)
def file_content(file_id: str, request: Request, caller: Caller = AsViewer
                 ) -> StreamingResponse:
    rt = runtime_of(request)
    handle = files.open_content(rt.db, rt.artifacts, caller.project, file_id)

    def chunks():  # type: ignore[no-untyped-def]
        with handle:
            while block := handle.read(1024 * 1024):
                yield block

    return StreamingResponse(chunks(), media_type="application/octet-stream")
