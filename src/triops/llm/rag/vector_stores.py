"""OpenAI's vector stores over knowledge collections.

A vector store is a collection (local ``lsa`` model, default chunking) whose id is
``vs_`` + the collection's id; its name is the collection's name (the id itself when
the store has no name, or when the name is taken). A file of the Files API joins a store
as one document whose id is the file id (a jsonl file as one document per record,
``<file id>/<record id>``), with ``file_id``, ``filename`` and the file's ``attributes``
as metadata. Files are chunked and indexed when they are added, so a store's files are
``completed`` as soon as the call returns.
"""

from __future__ import annotations

from typing import Any

from triops.core.errors import AlreadyExists, InvalidInput, NotFound
from triops.core.ids import new_id
from triops.llm import files
from triops.llm.rag import service
from triops.llm.rag.loaders import SourceDocument, from_bytes
from triops.llm.rag.service import CollectionInfo
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database

PREFIX = "vs_"
_MARK = "openai_vector_store"


def store_id(info: CollectionInfo) -> str:
    return PREFIX + info.id


def _collection(db: Database, project: str, vector_store_id: str) -> CollectionInfo:
    if not vector_store_id.startswith(PREFIX):
        raise NotFound(f"no vector store '{vector_store_id}'")
    try:
        info = service.collection_by_id(db, project, vector_store_id[len(PREFIX):])
    except NotFound:
        raise NotFound(f"no vector store '{vector_store_id}'") from None
    return info


def create(db: Database, project: str, actor: str, name: str | None,
           metadata: dict[str, Any]) -> CollectionInfo:
    meta = {_MARK: {"metadata": metadata}}
    if name:
        try:
            return service.create_collection(db, project, name, actor, meta=meta)
        except AlreadyExists:
            pass  # OpenAI's store names need not be unique: this one is named by its id
    return service.create_collection(db, project, f"{PREFIX}{new_id()}", actor, meta=meta)


def get(db: Database, project: str, vector_store_id: str) -> CollectionInfo:
    return _collection(db, project, vector_store_id)


def listing(db: Database, project: str) -> list[CollectionInfo]:
    """Every collection of the project is a vector store to the OpenAI API."""
    return service.list_collections(db, project)


def metadata_of(info: CollectionInfo) -> dict[str, Any]:
    return dict((info.meta.get(_MARK) or {}).get("metadata") or {})


def delete(db: Database, project: str, vector_store_id: str) -> None:
    service.delete_collection(db, project, _collection(db, project, vector_store_id).name)


def add_file(db: Database, artifacts: ArtifactStore, project: str, vector_store_id: str,
             file_id: str, attributes: dict[str, Any]) -> tuple[CollectionInfo, int]:
    """Index a file of the Files API into the store; (the store, the file's bytes)."""
    info = _collection(db, project, vector_store_id)
    found = files.get(db, project, file_id)
    data = files.read_content(db, artifacts, project, file_id)
    meta = {**attributes, "file_id": file_id, "filename": found.filename}
    jsonl = found.filename.lower().endswith(".jsonl")
    documents = [SourceDocument(f"{file_id}/{d.doc_id}" if jsonl else file_id, d.text, d.title,
                                found.filename, {**d.meta, **meta})
                 for d in from_bytes(found.filename, data)]
    service.ingest(db, project, info.name, documents)
    return info, len(data)


def file_ids(db: Database, project: str, vector_store_id: str) -> dict[str, dict[str, Any]]:
    """The files of a store: file id → (filename, attributes, chunk count)."""
    info = _collection(db, project, vector_store_id)
    out: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        page = service.list_documents(db, project, info.name, offset, 1000)
        for doc in page:
            file_id = (doc.meta or {}).get("file_id")
            if not isinstance(file_id, str):
                continue
            entry = out.setdefault(file_id, {"filename": doc.meta.get("filename", ""),
                                             "created_ms": doc.created_ms, "doc_ids": [],
                                             "attributes": {
                                                 k: v for k, v in doc.meta.items()
                                                 if k not in ("file_id", "filename")}})
            entry["doc_ids"].append(doc.doc_id)
        if len(page) < 1000:
            return out
        offset += 1000


def remove_file(db: Database, project: str, vector_store_id: str, file_id: str) -> None:
    found = file_ids(db, project, vector_store_id).get(file_id)
    if found is None:
        raise NotFound(f"vector store '{vector_store_id}' has no file '{file_id}'")
    info = _collection(db, project, vector_store_id)
    service.delete_documents(db, project, info.name, found["doc_ids"])


_COMPARISONS = {"eq": "$eq", "ne": "$ne", "in": "$in"}


def filters_of(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's attribute filter (a comparison, or an ``and`` of them) as a collection
    filter; ``or`` and the range comparisons are refused by name."""
    if spec is None:
        return None
    kind = spec.get("type")
    if kind == "and":
        merged: dict[str, Any] = {}
        for part in spec.get("filters") or []:
            if not isinstance(part, dict):
                raise InvalidInput("every filter of an 'and' must be an object")
            for key, cond in (filters_of(part) or {}).items():
                if key in merged:
                    raise InvalidInput(f"filter names '{key}' twice in one 'and'")
                merged[key] = cond
        return merged
    if kind in _COMPARISONS:
        key = spec.get("key")
        if not isinstance(key, str) or not key:
            raise InvalidInput("a comparison filter needs a 'key'")
        return {key: {_COMPARISONS[kind]: spec.get("value")}}
    raise InvalidInput(f"filter type {kind!r} is not supported; supported: eq, ne, in, and")
