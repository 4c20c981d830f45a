"""``/v1/vector_stores`` as OpenAI serves it, over triops' knowledge collections: create,
list, retrieve and delete stores; add, list and remove files of the Files API; search.
Writes need the editor role; reads and searches a viewer (a search is a read, as for
every ``.../search`` POST). Every search is a RETRIEVER span.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from triops.core.errors import InvalidInput
from triops.llm import rag
from triops.llm.rag import traced
from triops.llm.rag import vector_stores as stores
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import Runtime, runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/v1/vector_stores", tags=["openai"])


class StoreIn(BaseModel):
    name: str | None = Field(None, max_length=128)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=16)
    file_ids: list[str] = Field(default_factory=list, max_length=500)


class FileCounts(BaseModel):
    in_progress: int = 0
    completed: int
    failed: int = 0
    cancelled: int = 0
    total: int


class StoreOut(BaseModel):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str
    usage_bytes: int
    file_counts: FileCounts
    status: Literal["completed"] = "completed"
    last_active_at: int
    metadata: dict[str, str]
    expires_at: int | None = None


class StoreList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StoreOut]
    first_id: str | None
    last_id: str | None
    has_more: bool = False


class Deleted(BaseModel):
    id: str
    object: str
    deleted: bool


class FileIn(BaseModel):
    file_id: str = Field(..., min_length=1, max_length=64)
    attributes: dict[str, str | float | bool] = Field(default_factory=dict, max_length=16)


class StoreFileOut(BaseModel):
    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    created_at: int
    vector_store_id: str
    status: Literal["completed"] = "completed"
    usage_bytes: int = 0
    last_error: None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class StoreFileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StoreFileOut]
    first_id: str | None
    last_id: str | None
    has_more: bool = False


class SearchIn(BaseModel):
    query: str | list[str] = Field(..., description="one query, or several joined as one")
    max_num_results: int = Field(10, ge=1, le=50)
    filters: dict[str, Any] | None = None
    rewrite_query: bool = False
    ranking_options: dict[str, Any] | None = None


class ContentOut(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ResultOut(BaseModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any]
    content: list[ContentOut]


class SearchPage(BaseModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[ResultOut]
    has_more: bool = False
    next_page: str | None = None


def _out(info: rag.CollectionInfo, file_count: int) -> StoreOut:
    return StoreOut(id=stores.store_id(info), created_at=info.created_ms // 1000,
                    name=info.name, usage_bytes=0,
                    file_counts=FileCounts(completed=file_count, total=file_count),
                    last_active_at=info.updated_ms // 1000,
                    metadata={k: str(v) for k, v in stores.metadata_of(info).items()})


def _store(runtime: Runtime, caller: Caller, vector_store_id: str) -> StoreOut:
    info = stores.get(runtime.db, caller.project, vector_store_id)
    return _out(info, len(stores.file_ids(runtime.db, caller.project, vector_store_id)))


@router.post("", response_model=StoreOut, summary="Create a vector store")
def create_store(body: StoreIn, request: Request, caller: Caller = AsEditor) -> StoreOut:
    runtime = runtime_of(request)
    info = stores.create(runtime.db, caller.project, caller.actor, body.name, body.metadata)
    for file_id in body.file_ids:
        stores.add_file(runtime.db, runtime.artifacts, caller.project, stores.store_id(info),
                        file_id, {})
    return _store(runtime, caller, stores.store_id(info))


@router.get("", response_model=StoreList, summary="List vector stores")
def list_stores(request: Request, caller: Caller = AsViewer) -> StoreList:
    runtime = runtime_of(request)
    data = [_store(runtime, caller, stores.store_id(info))
            for info in stores.listing(runtime.db, caller.project)]
    return StoreList(data=data, first_id=data[0].id if data else None,
                     last_id=data[-1].id if data else None)


@router.get("/{vector_store_id}", response_model=StoreOut, summary="Describe a vector store")
def get_store(vector_store_id: str, request: Request, caller: Caller = AsViewer) -> StoreOut:
    return _store(runtime_of(request), caller, vector_store_id)


@router.delete("/{vector_store_id}", response_model=Deleted, summary="Delete a vector store")
def delete_store(vector_store_id: str, request: Request, caller: Caller = AsEditor) -> Deleted:
    stores.delete(runtime_of(request).db, caller.project, vector_store_id)
    return Deleted(id=vector_store_id, object="vector_store.deleted", deleted=True)


@router.post("/{vector_store_id}/files", response_model=StoreFileOut,
             summary="Add a file of the Files API to a vector store")
def add_file(vector_store_id: str, body: FileIn, request: Request,
             caller: Caller = AsEditor) -> StoreFileOut:
    runtime = runtime_of(request)
    info, size = stores.add_file(runtime.db, runtime.artifacts, caller.project,
                                 vector_store_id, body.file_id, dict(body.attributes))
    return StoreFileOut(id=body.file_id, created_at=info.updated_ms // 1000,
                        vector_store_id=vector_store_id, usage_bytes=size,
                        attributes=dict(body.attributes))


@router.get("/{vector_store_id}/files", response_model=StoreFileList,
            summary="List a vector store's files")
def list_files(vector_store_id: str, request: Request, caller: Caller = AsViewer
               ) -> StoreFileList:
    found = stores.file_ids(runtime_of(request).db, caller.project, vector_store_id)
    data = [StoreFileOut(id=file_id, created_at=f["created_ms"] // 1000,
                         vector_store_id=vector_store_id, attributes=f["attributes"])
            for file_id, f in found.items()]
    return StoreFileList(data=data, first_id=data[0].id if data else None,
                         last_id=data[-1].id if data else None)


@router.delete("/{vector_store_id}/files/{file_id}", response_model=Deleted,
               summary="Remove a file from a vector store (the file itself stays)")
def remove_file(vector_store_id: str, file_id: str, request: Request,
                caller: Caller = AsEditor) -> Deleted:
    stores.remove_file(runtime_of(request).db, caller.project, vector_store_id, file_id)
    return Deleted(id=file_id, object="vector_store.file.deleted", deleted=True)


@router.post("/{vector_store_id}/search", response_model=SearchPage,
             summary="Search a vector store")
async def search(vector_store_id: str, body: SearchIn, request: Request,
                 caller: Caller = AsViewer) -> SearchPage:
    runtime = runtime_of(request)
    queries = [body.query] if isinstance(body.query, str) else list(body.query)
    text = " ".join(q for q in queries if isinstance(q, str)).strip()
    if not text or len(text) > 20_000:
        raise InvalidInput("'query' must hold 1 to 20000 characters of text")
    info = await run_in_threadpool(stores.get, runtime.db, caller.project, vector_store_id)
    filters = stores.filters_of(body.filters)
    # Chunks are ranked, files are returned: ask deep enough for distinct files.
    result, span = await traced.traced_search(
        runtime.db, caller.project, info.name, text, min(1000, body.max_num_results * 4),
        embedder=lambda route: runtime.gateway.embedder(caller.project,
                                                        caller.principal.key_id, route),
        parent=traced.parent_of(request.headers.get("traceparent")), filters=filters)
    await traced.record(runtime.db, caller.project, span, caller.principal.key_id)
    data = []
    for hit in rag.best_per_document(result.hits, body.max_num_results):
        meta = dict(hit.meta)
        file_id, filename = str(meta.pop("file_id", hit.doc_id)), str(meta.pop("filename", ""))
        data.append(ResultOut(file_id=file_id, filename=filename, score=hit.score,
                              attributes=meta, content=[ContentOut(text=hit.text)]))
    return SearchPage(search_query=queries, data=data)
