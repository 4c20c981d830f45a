"""Knowledge collections, native API: collections, documents and chunks, files, search.

A search is a read (viewer), like every ``.../search`` POST of the API; it is recorded
as a RETRIEVER span, under the caller's trace when the request carries a W3C
``traceparent`` header, and the trace id comes back in ``x-triops-trace-id``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from triops.core.errors import InvalidInput
from triops.llm import rag
from triops.llm.rag import traced
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import Runtime, runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/collections",
                   tags=["collections"])
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
TRACE_HEADER = "x-triops-trace-id"
#: Files and records of one request; larger corpora go in several requests (or the CLI).
MAX_DOCUMENTS = 10_000


class CollectionIn(BaseModel):
    name: str = Field(..., pattern=_NAME)
    description: str = Field("", max_length=10_000)
    embedding: str = Field("lsa", max_length=256,
                           description="'lsa' (local, fitted on the collection) or "
                                       "'gateway:<route>' (the gateway's embeddings)")
    max_tokens: int = Field(256, ge=16, le=8192, description="chunk size in words")
    overlap: int = Field(32, ge=0, le=4095, description="words repeated between chunks")


class CollectionPatch(BaseModel):
    embedding: str = Field(..., max_length=256)


class CollectionOut(BaseModel):
    name: str
    description: str
    embedding: str
    chunking: dict[str, int]
    revision: int
    documents: int
    chunks: int
    created_by: str
    created_ms: int
    updated_ms: int


class DocumentIn(BaseModel):
    id: str = Field(..., min_length=1, max_length=512)
    title: str = Field("", max_length=10_000)
    text: str = Field(..., max_length=5_000_000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentsIn(BaseModel):
    documents: list[DocumentIn] = Field(..., min_length=1, max_length=MAX_DOCUMENTS)


class IngestOut(BaseModel):
    added: int
    updated: int
    unchanged: int
    chunks: int
    embedded: int = Field(0, description="chunks embedded by the gateway model")


class DocumentOut(BaseModel):
    id: str
    title: str
    source: str
    metadata: dict[str, Any]
    chunks: int
    updated_ms: int


class ChunkOut(BaseModel):
    id: int
    ordinal: int
    heading: str
    text: str
    tokens: int


class DocumentDetail(DocumentOut):
    chunk_list: list[ChunkOut]


class SearchIn(BaseModel):
    query: str = Field(..., min_length=1, max_length=20_000)
    top_k: int = Field(10, ge=1, le=1000)
    retriever: str = Field("hybrid", max_length=64)
    filters: dict[str, Any] | None = Field(
        None, description="document metadata: {key: value}, {key: {$in: [...]}}, "
                          "{key: {$ne: value}}; 'doc_id' filters on the document id")
    explain: bool = Field(False, description="also return each retriever's own ranking")


class HitOut(BaseModel):
    rank: int
    score: float
    chunk_id: int
    doc_id: str
    title: str
    heading: str
    text: str
    meta: dict[str, Any]


class SearchOut(BaseModel):
    collection: str
    retriever: str
    index_version: str
    hits: list[HitOut]
    parts: dict[str, list[HitOut]]
    trace_id: str


class Deleted(BaseModel):
    deleted: int


def _out(info: Any) -> CollectionOut:
    return CollectionOut(**info.as_dict())


def _doc_out(row: Any) -> DocumentOut:
    return DocumentOut(id=row.doc_id, title=row.title, source=row.source, metadata=row.meta,
                       chunks=row.chunk_count, updated_ms=row.updated_ms)


def _embedder(runtime: Runtime, caller: Caller, model: str) -> rag.EmbedFn:
    return runtime.gateway.embedder(caller.project, caller.principal.key_id,
                                    model.removeprefix(rag.GATEWAY_PREFIX))


@router.get("", response_model=list[CollectionOut])
def list_collections(request: Request, caller: Caller = AsViewer) -> list[CollectionOut]:
    return [_out(c) for c in rag.list_collections(runtime_of(request).db, caller.project)]


@router.post("", response_model=CollectionOut, status_code=201)
def create_collection(body: CollectionIn, request: Request,
                      caller: Caller = AsEditor) -> CollectionOut:
    return _out(rag.create_collection(
        runtime_of(request).db, caller.project, body.name, caller.actor,
        embedding=body.embedding, max_tokens=body.max_tokens, overlap=body.overlap,
        description=body.description))


@router.get("/{name}", response_model=CollectionOut)
def get_collection(name: str, request: Request, caller: Caller = AsViewer) -> CollectionOut:
    return _out(rag.get_collection(runtime_of(request).db, caller.project, name))


@router.patch("/{name}", response_model=CollectionOut)
async def set_embedding(name: str, body: CollectionPatch, request: Request,
                        caller: Caller = AsEditor) -> CollectionOut:
    """Switch the embedding model; a gateway model's vectors are computed now."""
    runtime = runtime_of(request)
    info = await asyncio.to_thread(rag.set_embedding, runtime.db, caller.project, name,
                                   body.embedding)
    if info.embedding not in rag.LOCAL_MODELS:
        await rag.fill_vectors(runtime.db, caller.project, name,
                               _embedder(runtime, caller, info.embedding))
        info = await asyncio.to_thread(rag.get_collection, runtime.db, caller.project, name)
    return _out(info)


@router.delete("/{name}", status_code=204)
def delete_collection(name: str, request: Request, caller: Caller = AsEditor) -> Response:
    rag.delete_collection(runtime_of(request).db, caller.project, name)
    return Response(status_code=204)


async def _ingest(runtime: Runtime, caller: Caller, name: str,
                  documents: list[Any]) -> IngestOut:
    report = await asyncio.to_thread(rag.ingest, runtime.db, caller.project, name, documents)
    model = (await asyncio.to_thread(rag.get_collection, runtime.db, caller.project,
                                     name)).embedding
    embedded = 0
    if model not in rag.LOCAL_MODELS:
        embedded = await rag.fill_vectors(runtime.db, caller.project, name,
                                          _embedder(runtime, caller, model))
    return IngestOut(**report.as_dict(), embedded=embedded)


@router.post("/{name}/documents", response_model=IngestOut)
async def add_documents(name: str, body: DocumentsIn, request: Request,
                        caller: Caller = AsEditor) -> IngestOut:
    """Add documents, or replace those whose id exists with other content."""
    documents = [rag.SourceDocument(d.id, d.text, d.title, "api", d.metadata)
                 for d in body.documents]
    return await _ingest(runtime_of(request), caller, name, documents)


@router.post("/{name}/files", response_model=IngestOut)
async def add_files(name: str, request: Request,
                    files: Annotated[list[UploadFile], File()],
                    metadata: Annotated[str, Form(max_length=100_000)] = "{}",
                    caller: Caller = AsEditor) -> IngestOut:
    """Upload files (txt, md, html, pdf, jsonl); a file's name is its document id."""
    try:
        meta = json.loads(metadata)
    except json.JSONDecodeError:
        raise InvalidInput("'metadata' must be a JSON object") from None
    if not isinstance(meta, dict):
        raise InvalidInput("'metadata' must be a JSON object")
    documents: list[Any] = []
    for upload in files:
        filename = (upload.filename or "").strip()
        if not filename or len(filename) > 512:
            raise InvalidInput("every file needs a name of 1 to 512 characters")
        data = await upload.read()
        documents.extend(rag.from_bytes(filename, data, meta=meta))
        if len(documents) > MAX_DOCUMENTS:
            raise InvalidInput(f"at most {MAX_DOCUMENTS} documents per request")
    return await _ingest(runtime_of(request), caller, name, documents)


@router.get("/{name}/documents", response_model=list[DocumentOut])
def list_documents(name: str, request: Request, offset: int = Query(0, ge=0, le=10**9),
                   limit: int = Query(100, ge=1, le=1000),
                   caller: Caller = AsViewer) -> list[DocumentOut]:
    return [_doc_out(d) for d in rag.list_documents(runtime_of(request).db, caller.project,
                                                    name, offset, limit)]


@router.get("/{name}/documents/{doc_id:path}", response_model=DocumentDetail)
def get_document(name: str, doc_id: str, request: Request,
                 caller: Caller = AsViewer) -> DocumentDetail:
    document, chunks = rag.document_chunks(runtime_of(request).db, caller.project, name, doc_id)
    return DocumentDetail(**_doc_out(document).model_dump(), chunk_list=[
        ChunkOut(id=c.id, ordinal=c.ordinal, heading=c.heading, text=c.text,
                 tokens=c.token_count) for c in chunks])


@router.delete("/{name}/documents/{doc_id:path}", response_model=Deleted)
def delete_document(name: str, doc_id: str, request: Request,
                    caller: Caller = AsEditor) -> Deleted:
    return Deleted(deleted=rag.delete_documents(runtime_of(request).db, caller.project, name,
                                                [doc_id]))


@router.post("/{name}/search", response_model=SearchOut)
async def search(name: str, body: SearchIn, request: Request, response: Response,
                 caller: Caller = AsViewer) -> SearchOut:
    runtime = runtime_of(request)
    result, span = await traced.traced_search(
        runtime.db, caller.project, name, body.query, body.top_k,
        embedder=lambda route: runtime.gateway.embedder(caller.project,
                                                        caller.principal.key_id, route),
        parent=traced.parent_of(request.headers.get("traceparent")),
        retriever=body.retriever, filters=body.filters, explain=body.explain)
    await traced.record(runtime.db, caller.project, span, caller.principal.key_id)
    response.headers[TRACE_HEADER] = span.trace_id
    return SearchOut(**result.as_dict(), trace_id=span.trace_id)
