"""Retrieval-augmented generation: knowledge collections with hybrid retrieval.

The public face: collections (create, list, ingest, delete, re-embed), search with the
``lexical``, ``dense`` and ``hybrid`` retrievers of the ``RETRIEVERS`` registry, the
file loaders and the result types. See docs/rag.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names

if TYPE_CHECKING:
    from triops.llm.rag.dense import GATEWAY_PREFIX, LOCAL_MODEL, LOCAL_MODELS
    from triops.llm.rag.loaders import SUFFIXES, SourceDocument, from_bytes, from_path
    from triops.llm.rag.retrievers import RETRIEVERS, Query, Ranked, Retriever
    from triops.llm.rag.service import (
        CollectionInfo,
        EmbedFn,
        Hit,
        IngestReport,
        SearchResult,
        best_per_document,
        create_collection,
        delete_collection,
        delete_documents,
        document_chunks,
        fill_vectors,
        get_collection,
        ingest,
        list_collections,
        list_documents,
        needs_query_vector,
        search,
        set_embedding,
    )

_SERVICE = ("CollectionInfo", "EmbedFn", "Hit", "IngestReport", "SearchResult",
            "best_per_document", "create_collection", "delete_collection", "delete_documents",
            "document_chunks", "fill_vectors", "get_collection", "ingest", "list_collections",
            "list_documents", "needs_query_vector", "search", "set_embedding")
_HOMES = {
    "GATEWAY_PREFIX": "dense", "LOCAL_MODEL": "dense", "LOCAL_MODELS": "dense",
    **{name: "loaders" for name in ("SUFFIXES", "SourceDocument", "from_bytes", "from_path")},
    **{name: "retrievers" for name in ("RETRIEVERS", "Query", "Ranked", "Retriever")},
    **{name: "service" for name in _SERVICE},
}
__getattr__ = lazy_names(__name__, _HOMES)

__all__ = [
    "GATEWAY_PREFIX",
    "LOCAL_MODEL",
    "LOCAL_MODELS",
    "RETRIEVERS",
    "SUFFIXES",
    "CollectionInfo",
    "EmbedFn",
    "Hit",
    "IngestReport",
    "Query",
    "Ranked",
    "Retriever",
    "SearchResult",
    "SourceDocument",
    "best_per_document",
    "create_collection",
    "delete_collection",
    "delete_documents",
    "document_chunks",
    "fill_vectors",
    "from_bytes",
    "from_path",
    "get_collection",
    "ingest",
    "list_collections",
    "list_documents",
    "needs_query_vector",
    "search",
    "set_embedding",
]
