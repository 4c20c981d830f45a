"""``/ui/llm/collections``: knowledge collections, their documents and chunks, and a search
page that shows the lexical and the dense ranking beside the fused one."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse

from triops.core.errors import InvalidInput
from triops.llm import rag
from triops.llm.rag import traced
from triops.server.auth import AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm/collections",
                   include_in_schema=False)
_PAGE = 200


@router.get("", response_class=HTMLResponse)
def collections_page(request: Request, caller: Caller = AsViewer) -> HTMLResponse:
    found = rag.list_collections(runtime_of(request).db, caller.project)
    return render(request, "rag_collections.html", collections=found)


@router.get("/{name}", response_class=HTMLResponse)
async def collection_page(request: Request, name: str,
                          q: str = Query("", max_length=2000),
                          k: int = Query(10, ge=1, le=50),
                          offset: int = Query(0, ge=0, le=10**9),
                          caller: Caller = AsViewer) -> HTMLResponse:
    runtime = runtime_of(request)
    info = rag.get_collection(runtime.db, caller.project, name)
    documents = rag.list_documents(runtime.db, caller.project, name, offset, _PAGE)
    result, error = None, ""
    if q.strip():
        try:
            result, span = await traced.traced_search(
                runtime.db, caller.project, name, q, k,
                embedder=lambda route: runtime.gateway.embedder(
                    caller.project, caller.principal.key_id, route),
                parent=None, explain=True)
            await traced.record(runtime.db, caller.project, span, caller.principal.key_id)
        except InvalidInput as exc:
            error = exc.message
    return render(request, "rag_collection.html", info=info, documents=documents, q=q, k=k,
                  result=result, error=error, offset=offset, page=_PAGE)


@router.get("/{name}/documents/{doc_id:path}", response_class=HTMLResponse)
def document_page(request: Request, name: str, doc_id: str,
                  caller: Caller = AsViewer) -> HTMLResponse:
    document, chunks = rag.document_chunks(runtime_of(request).db, caller.project, name,
                                           doc_id)
    return render(request, "rag_document.html", collection=name, document=document,
                  chunks=chunks)
