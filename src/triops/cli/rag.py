"""``triops rag``: knowledge collections, straight on the store.

    triops rag ingest --collection docs --input corpus.jsonl
    triops rag ingest --collection docs --input ./handbook/        # md, txt, html, pdf
    triops rag search --collection docs --queries queries.jsonl --top-k 100 --output run.txt
    triops rag list

``search`` writes TREC run lines (``qid Q0 docid rank score tag``), one document per
line: the best chunk of each document stands for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from triops.cli.common import ProjectOpt, StoreOpt, console, open_database, settings_from
from triops.core.errors import InvalidInput, NotFound
from triops.llm import rag
from triops.server import DEFAULT_PROJECT

rag_app = typer.Typer(help="Knowledge collections: ingest files, search them.",
                      no_args_is_help=True)

CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Collection name")]


@rag_app.command("ingest")
def ingest(
    collection: CollectionOpt,
    input: Annotated[Path, typer.Option("--input", "-i", help="A file (jsonl, txt, md, html, "
                                        "pdf) or a folder of them")],
    embedding: Annotated[str, typer.Option(help="Model of a new collection: 'lsa' or "
                                           "'wordllama' (local) or 'gateway:<model>'")] = "lsa",
    max_tokens: Annotated[int | None, typer.Option(help="Chunk size of a new collection")] = None,
    overlap: Annotated[int | None, typer.Option(help="Chunk overlap of a new collection")] = None,
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
) -> None:
    """Add or update documents; creates the collection when it does not exist."""
    db = open_database(settings_from(store=store))
    try:
        try:
            rag.get_collection(db, project, collection)
        except NotFound:
            rag.create_collection(db, project, collection, "cli", embedding=embedding,
                                  max_tokens=max_tokens, overlap=overlap)
        documents = list(rag.from_path(input))
        with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task(collection, total=len(documents))
            report = rag.ingest(db, project, collection, documents,
                                progress=lambda n: progress.advance(task, n))
    finally:
        db.dispose()
    console.print(f"{collection}: {report.added} added, {report.updated} updated, "
                  f"{report.unchanged} unchanged, {report.chunks} chunks written",
                  highlight=False)


def _queries(path: Path) -> list[tuple[str, str]]:
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            out.append((str(record["_id"]), str(record["text"])))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InvalidInput(f"{path} line {number}: need a JSON object with '_id' and "
                               "'text'") from None
    return out


@rag_app.command("search")
def search(
    collection: CollectionOpt,
    queries: Annotated[Path, typer.Option("--queries", "-q", help="jsonl of {_id, text}")],
    output: Annotated[Path, typer.Option("--output", "-o", help="TREC run file to write")],
    top_k: Annotated[int, typer.Option("--top-k", help="Documents per query")] = 100,
    retriever: Annotated[str, typer.Option(help="lexical, dense or hybrid")] = "hybrid",
    tag: Annotated[str, typer.Option(help="Run tag (last column)")] = "triops",
    project: ProjectOpt = DEFAULT_PROJECT,
    store: StoreOpt = None,
) -> None:
    """Search every query and write a TREC run: ``qid Q0 docid rank score tag``."""
    if not 1 <= top_k <= 1000:
        raise InvalidInput("--top-k must be between 1 and 1000")
    db = open_database(settings_from(store=store))
    lines = []
    try:
        if rag.needs_query_vector(db, project, collection):
            raise InvalidInput("a collection embedded by a gateway model is searched through "
                               "a running server (/api/v1/collections/.../search)")
        # Chunks, not documents, are ranked: ask deep enough for top_k distinct documents.
        depth = min(1000, top_k * 4)
        for qid, text in _queries(queries):
            hits = rag.search(db, project, collection, text, depth, retriever=retriever).hits
            for rank, hit in enumerate(rag.best_per_document(hits, top_k), 1):
                lines.append(f"{qid} Q0 {hit.doc_id} {rank} {hit.score:.6f} {tag}")
    finally:
        db.dispose()
    output.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    console.print(f"{len(lines)} lines written to {output}", highlight=False)


@rag_app.command("list")
def list_collections(project: ProjectOpt = DEFAULT_PROJECT, store: StoreOpt = None) -> None:
    """Collections with their model, chunking, and size."""
    db = open_database(settings_from(store=store))
    try:
        found = rag.list_collections(db, project)
    finally:
        db.dispose()
    table = Table()
    for column in ("name", "embedding", "chunking", "documents", "chunks"):
        table.add_column(column)
    for c in found:
        table.add_row(c.name, c.embedding, f"{c.chunking['max_tokens']}/{c.chunking['overlap']}",
                      str(c.documents), str(c.chunks))
    console.print(table)
