"""RAG speed at 100k chunks: ingest rate beside chromadb (embedded, same vectors given to
both) and retrieval latency — hybrid (lexical + dense + fusion), dense only and lexical
only through ``rag.search``, the query's vector given (the upstream embedding call is not
timed) — beside chromadb's dense query on the same vectors, with each dense side's
recall@10 against the exact top 10.

    python bench/rag_speed.py                    # 100k chunks, 384 dimensions
    python bench/rag_speed.py --chunks 20000     # a shorter run

The corpus is synthetic: each chunk is 60 words drawn from Cranfield's own word stream,
so term statistics look like real text; vectors are random unit vectors (speed does not
depend on what they mean). Both stores get the same ids, texts and vectors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import peer_venv
from rag import DATA, load

from triops.llm import rag
from triops.store import Database, upgrade_schema


def corpus(n: int, words_per_chunk: int = 60) -> list[dict]:
    docs, _, _ = load(DATA)
    stream = " ".join(d["title"] + " " + d["text"] for d in docs).split()
    rng = np.random.default_rng(7)
    picks = rng.integers(0, len(stream), size=(n, words_per_chunk))
    return [{"_id": f"c{i}", "title": "", "text": " ".join(stream[j] for j in row)}
            for i, row in enumerate(picks)]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def latency(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.2f} ms, p99 {percentile(values, 99):.2f} ms"


def recall(found: list[list[str]], exact: list[list[str]]) -> str:
    """Recall@10 against the exact top 10, and how often the first hit is exact's first
    (the chunk the query was made from)."""
    pairs = list(zip(found, exact, strict=True))
    at10 = np.mean([len(set(f) & set(e)) / len(e) for f, e in pairs])
    first = np.mean([bool(f) and f[0] == e[0] for f, e in pairs])
    return f"recall@10 {at10:.3f}, first hit exact {first:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    docs = corpus(args.chunks)
    rng = np.random.default_rng(11)
    vectors = rng.standard_normal((args.chunks, args.dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # Queries near a stored chunk, with words of that chunk: both sides find something.
    picked = rng.integers(0, args.chunks, size=args.queries)
    qvecs = vectors[picked] + 0.05 * rng.standard_normal((args.queries, args.dim))
    qvecs = (qvecs / np.linalg.norm(qvecs, axis=1, keepdims=True)).astype(np.float32)
    qtexts = [" ".join(docs[i]["text"].split()[:6]) for i in picked]
    by_text = {d["text"]: vectors[i] for i, d in enumerate(docs)}

    async def embed(texts: list[str]) -> list[list[float]]:
        return [by_text[t.strip()].tolist() for t in texts]

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/rag.db")
        upgrade_schema(db.engine)
        rag.create_collection(db, "default", "bench", "bench", embedding="gateway:supplied")
        source = [rag.SourceDocument(d["_id"], d["text"]) for d in docs]
        started = time.perf_counter()
        rag.ingest(db, "default", "bench", source)
        chunked_s = time.perf_counter() - started
        asyncio.run(rag.fill_vectors(db, "default", "bench", embed))
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        rag.search(db, "default", "bench", qtexts[0], 10, query_vector=qvecs[0])
        build_s = time.perf_counter() - started
        times: dict[str, list[float]] = {"hybrid": [], "dense": [], "lexical": []}
        dense_ids = []
        # One retriever's queries after another, as chromadb's run below does.
        for retriever, spent in times.items():
            for text, vec in zip(qtexts, qvecs, strict=True):
                t = time.perf_counter()
                found = rag.search(db, "default", "bench", text, 10, query_vector=vec,
                                   retriever=retriever)
                spent.append((time.perf_counter() - t) * 1000)
                if retriever == "dense":
                    dense_ids.append([h.doc_id for h in found.hits])
        db.dispose()
        exact = [[docs[i]["_id"] for i in np.argsort(-(vectors @ q))[:10]] for q in qvecs]
        print(f"load average {load_average()}")
        print(f"triops: {args.chunks} chunks, {args.dim} dims; ingest {ingest_s:.1f} s "
              f"({args.chunks / ingest_s:,.0f} chunks/s; chunking and rows {chunked_s:.1f} s, "
              f"vectors {ingest_s - chunked_s:.1f} s); index build at first search "
              f"{build_s:.1f} s")
        for retriever, spent in times.items():
            print(f"triops {retriever} top-10: {latency(spent)} over {len(spent)} queries")
        print(f"triops dense against exact search: {recall(dense_ids, exact)}")
        if args.skip_peer:
            return
        work = Path(tmp)
        (work / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
        np.save(work / "vectors.npy", vectors)
        np.save(work / "queries.npy", qvecs)
        python = peer_venv.ensure("chromadb", ["chromadb==1.5.9"])
        out = subprocess.run([str(python), str(ROOT / "bench" / "peers" / "chromadb_speed.py"),
                              str(work / "corpus.jsonl"), str(work / "vectors.npy"),
                              str(work / "queries.npy"), "10"], check=True,
                             capture_output=True, text=True, env={**os.environ,
                                                                  "ANONYMIZED_TELEMETRY": "False"})
        peer = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"chromadb 1.5.9: ingest {peer['ingest_s']:.1f} s "
              f"({args.chunks / peer['ingest_s']:,.0f} chunks/s); dense top-10: "
              f"{latency(peer['query_ms'])}; against exact search: "
              f"{recall(peer['ids'], exact)}")
        print(f"load average {load_average()}")
        print(f"ingest ratio triops/chromadb: {peer['ingest_s'] / ingest_s:.2f}x as fast")


if __name__ == "__main__":
    main()
