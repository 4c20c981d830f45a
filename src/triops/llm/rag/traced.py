"""Retrievals as RETRIEVER spans, and retrieved chunks as a chat's cited context.

A span carries what OpenInference names for a retriever (``input.value`` and
``retrieval.documents`` with each document's id, score, content and metadata) and
triops' own ``triops.rag.*`` attributes: the collection, the retriever and the index
version the ranking came from.
"""

from __future__ import annotations

import asyncio
import copy
import re
import time
from collections.abc import Callable
from typing import Any

from triops.llm.rag import service
from triops.llm.rag.dense import GATEWAY_PREFIX
from triops.llm.rag.service import EmbedFn, SearchResult
from triops.llm.spans import Span, SpanKind, SpanStatus, new_span_id, new_trace_id
from triops.store.engine import Database

#: ``traceparent: 00-<trace id>-<parent span id>-<flags>`` (W3C Trace Context).
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")


def parent_of(traceparent: str | None) -> tuple[str, str] | None:
    """(trace id, span id) of a valid ``traceparent`` header, else None."""
    match = _TRACEPARENT.match((traceparent or "").strip().lower())
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2)


def retrieval_span(result: SearchResult, query: str, *, trace_id: str, span_id: str,
                   parent_span_id: str | None, start_ns: int, top_k: int,
                   filters: dict[str, Any] | None = None) -> Span:
    documents = [{"document.id": h.doc_id, "document.score": round(h.score, 6),
                  "document.content": h.text[:4000],
                  "document.metadata": {"chunk_id": h.chunk_id, "heading": h.heading,
                                        "title": h.title, **h.meta}}
                 for h in result.hits]
    attributes: dict[str, Any] = {
        "openinference.span.kind": "RETRIEVER",
        "input.value": query,
        "retrieval.documents": documents,
        "triops.rag.collection": result.collection,
        "triops.rag.retriever": result.retriever,
        "triops.rag.index_version": result.index_version,
        "triops.rag.top_k": top_k,
    }
    if filters:
        attributes["triops.rag.filters"] = filters
    return Span(trace_id=trace_id, span_id=span_id, parent_span_id=parent_span_id,
                name=f"retrieve {result.collection}"[:512], start_ns=start_ns,
                end_ns=max(time.time_ns(), start_ns), kind=SpanKind.retriever,
                status=SpanStatus.ok, attributes=attributes, service_name="triops-rag")


async def traced_search(db: Database, project: str, name: str, query: str, top_k: int, *,
                        embedder: Callable[[str], EmbedFn], parent: tuple[str, str] | None,
                        retriever: str = "hybrid", filters: dict[str, Any] | None = None,
                        explain: bool = False) -> tuple[SearchResult, Span]:
    """Search a collection from async code and describe the search as a span.

    ``embedder(route)`` gives the embedding function of a gateway route, for a
    collection whose model is one; ``parent`` is the (trace id, span id) the span goes
    under (None: a trace of its own). The caller records the span its own way."""
    started = time.time_ns()
    model = await asyncio.to_thread(service.needs_query_vector, db, project, name)
    vector = None
    if model is not None:
        vector = (await embedder(model.removeprefix(GATEWAY_PREFIX))([query]))[0]
    result = await asyncio.to_thread(service.search, db, project, name, query, top_k,
                                     retriever=retriever, filters=filters,
                                     query_vector=vector, explain=explain)
    span = retrieval_span(result, query, trace_id=parent[0] if parent else new_trace_id(),
                          span_id=new_span_id(), parent_span_id=parent[1] if parent else None,
                          start_ns=started, top_k=top_k, filters=filters)
    return result, span


async def record(db: Database, project: str, span: Span, key_id: str | None) -> None:
    """Store a retrieval's span now (an API search answers after its span is stored)."""
    from triops.llm.tracing import record_spans

    def write() -> None:
        with db.write() as session:
            record_spans(session, project, [span], api_key=key_id)

    await asyncio.to_thread(write)


def query_of(messages: list[dict[str, Any]]) -> str:
    """The text a chat retrieves for: its last user message."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(part.get("text", "") for part in content
                                if isinstance(part, dict) and part.get("type") == "text")
    return ""


def with_context(body: dict[str, Any], result: SearchResult) -> tuple[dict[str, Any],
                                                                     list[dict[str, Any]]]:
    """The chat body with the retrieved chunks as a numbered system message in front of
    the conversation, and the citations (number → document and chunk) it refers to."""
    citations = [{"index": n, "doc_id": h.doc_id, "chunk_id": h.chunk_id, "title": h.title,
                  "heading": h.heading, "score": round(h.score, 6), "text": h.text}
                 for n, h in enumerate(result.hits, 1)]
    blocks = []
    for n, h in enumerate(result.hits, 1):
        where = " > ".join(part for part in (h.title, h.heading) if part)
        blocks.append(f"[{n}] {h.doc_id}" + (f" ({where})" if where else "") + f"\n{h.text}")
    context = ("Answer from the numbered context below and cite the numbers of the passages "
               "you use, like [1]. If the context does not hold the answer, say so.\n\n"
               + "\n\n".join(blocks)) if blocks else (
        "No passage of the knowledge collection matched the question; say that you do not "
        "know rather than guess.")
    out = copy.copy(body)
    out["messages"] = [{"role": "system", "content": context}, *body["messages"]]
    return out, citations
