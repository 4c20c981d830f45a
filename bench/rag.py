"""Retrieval quality on Cranfield: triops' hybrid (through the CLI contract) beside bm25s,
triops' lexical and dense sides alone, both local embedding models (``lsa`` and
``wordllama``), and a cross-validation of the default settings and model.

    python bench/rag.py                 # the runs and the table (about a minute)
    python bench/rag.py --cv            # also: 5-fold cross-validation over query folds

The corpus and queries are converted to the jsonl the CLI contract reads; the queries are
renumbered 1..225 by position, as ``cranqrel`` numbers them (the query file's own ``.I``
numbers skip values: see the dataset's README). Scoring: BEIR-style nDCG@10 (gain
2^g - 1 with g = 5 - relevance code; code -1 lines are not relevant), Recall@100, MRR@10
over all 225 queries.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import peer_venv

DATA = ROOT.parent / "shared" / "datasets" / "ir" / "cranfield"


def _smart(path: Path) -> list[dict[str, str]]:
    """Records of a SMART-format file: ``.I id`` then fields ``.T .A .B .W``."""
    records: list[dict[str, str]] = []
    field = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(".I "):
            records.append({"id": line[3:].strip(), "T": "", "A": "", "B": "", "W": ""})
            field = None
        elif line.strip() in (".T", ".A", ".B", ".W"):
            field = line.strip()[1]
        elif field is not None:
            records[-1][field] += line + "\n"
    return records


def load(data: Path) -> tuple[list[dict], list[dict], dict[str, dict[str, int]]]:
    docs = [{"_id": str(int(d["id"])), "title": " ".join(d["T"].split()),
             "text": d["W"].strip()} for d in _smart(data / "cran.all.1400")]
    # The trap: .I numbers run 001, 002, 004, 008, …; cranqrel numbers queries by position.
    queries = [{"_id": str(i), "text": " ".join(q["W"].split())}
               for i, q in enumerate(_smart(data / "cran.qry"), 1)]
    qrels: dict[str, dict[str, int]] = {}
    for line in (data / "cranqrel").read_text().splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        qid, doc, code = parts[0], parts[1], int(parts[2])
        if 1 <= code <= 4:
            qrels.setdefault(str(int(qid)), {})[str(int(doc))] = 5 - code
    return docs, queries, qrels


def read_run(path: Path) -> dict[str, list[str]]:
    run: dict[str, list[tuple[int, str]]] = {}
    for line in path.read_text().splitlines():
        qid, _, doc, rank, _score, _tag = line.split()
        run.setdefault(qid, []).append((int(rank), doc))
    return {q: [d for _, d in sorted(v)] for q, v in run.items()}


def measures(ranked: list[str], rel: dict[str, int]) -> tuple[float, float, float]:
    dcg = sum((2 ** rel.get(d, 0) - 1) / math.log2(r + 2) for r, d in enumerate(ranked[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum((2 ** g - 1) / math.log2(r + 2) for r, g in enumerate(ideal))
    recall = len(set(ranked[:100]) & set(rel)) / len(rel) if rel else 0.0
    mrr = next((1 / (r + 1) for r, d in enumerate(ranked[:10]) if d in rel), 0.0)
    return (dcg / idcg if idcg else 0.0), recall, mrr


def score(run: dict[str, list[str]], qrels: dict, qids: list[str]) -> tuple[float, float, float]:
    rows = [measures(run.get(q, []), qrels.get(q, {})) for q in qids]
    return tuple(sum(col) / len(rows) for col in zip(*rows, strict=True))  # type: ignore[return-value]


def triops_cli(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-m", "triops", "rag", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def cross_validate(docs: list[dict], queries: list[dict], qrels: dict, folds: int = 5) -> None:
    """Choose settings on 4/5 of the queries, score them on the held-out fifth."""
    from triops.llm.rag import chunking, index, retrievers
    from triops.llm.rag.lexical import LexicalSettings
    from triops.llm.rag.service import Hit, best_per_document
    from triops.store.repos.rag import ChunkRow

    rows = []
    for d in docs:
        for p in chunking.chunk(d["text"]) or [chunking.Piece("", d["title"], 0)]:
            rows.append(ChunkRow(len(rows), d["_id"], d["title"], p.heading, p.text, {}))
    # (model, feedback chunks, LSA dimensions, RRF k); wordllama's dimensions are fixed.
    grid = [("lsa", fb, dim, k) for fb in (0, 5, 10) for dim in (64, 128, 256)
            for k in (30, 60)]
    grid += [("wordllama", fb, 256, k) for fb in (0, 5, 10) for k in (30, 60)]
    per_query: dict[tuple, dict[str, float]] = {}
    for model, fb, dim, k in grid:
        built = index.build(rows, model, settings=LexicalSettings(feedback_docs=fb),
                            lsa_dim=dim)
        hybrid = retrievers.Hybrid(rrf_k=k)
        out = {}
        for q in queries:
            found = hybrid.rank(built, retrievers.Query(q["text"]), 400)
            hits = [Hit(0, s, 0, rows[p].doc_id, "", "", "", {})
                    for p, s in zip(found.positions.tolist(), found.scores.tolist(), strict=True)]
            ranked = [h.doc_id for h in best_per_document(hits, 100)]
            out[q["_id"]] = measures(ranked, qrels.get(q["_id"], {}))[0]
        per_query[(model, fb, dim, k)] = out
    qids = [q["_id"] for q in queries]
    for label, choices in (("any model", grid),
                           *((f"{m} only", [c for c in grid if c[0] == m])
                             for m in ("lsa", "wordllama"))):
        held = []
        for f in range(folds):
            test = qids[f::folds]
            train = [q for q in qids if q not in set(test)]
            best = max(choices, key=lambda c: sum(per_query[c][q] for q in train))
            held_out = sum(per_query[best][q] for q in test) / len(test)
            held.append((held_out, len(test)))
            print(f"[{label}] fold {f + 1}: chosen model={best[0]} feedback_docs={best[1]} "
                  f"dim={best[2]} rrf_k={best[3]} -> held-out nDCG@10 {held_out:.4f}")
        total = sum(h * n for h, n in held) / sum(n for _, n in held)
        print(f"[{label}] cross-validated nDCG@10 (each fold scored with settings chosen "
              f"without it): {total:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cv", action="store_true", help="also cross-validate the settings")
    args = parser.parse_args()
    docs, queries, qrels = load(args.data)
    qids = [q["_id"] for q in queries]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus, qfile = work / "corpus.jsonl", work / "queries.jsonl"
        corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
        qfile.write_text("".join(json.dumps(q) + "\n" for q in queries))
        store = f"sqlite:///{work / 'rag.db'}"
        subprocess.run([sys.executable, "-m", "triops", "db", "upgrade", "--store", store],
                       check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                       stdout=subprocess.DEVNULL)
        started = time.perf_counter()
        triops_cli("ingest", "--collection", "cranfield", "--input", str(corpus),
                   "--store", store)
        ingest_s = time.perf_counter() - started
        triops_cli("ingest", "--collection", "cranfield-wordllama", "--input", str(corpus),
                   "--embedding", "wordllama", "--store", store)
        results = {}
        for collection, retriever in (("cranfield", "hybrid"), ("cranfield", "lexical"),
                                      ("cranfield", "dense"), ("cranfield-wordllama", "hybrid"),
                                      ("cranfield-wordllama", "dense")):
            out = work / f"{collection}-{retriever}.txt"
            triops_cli("search", "--collection", collection, "--queries", str(qfile),
                       "--top-k", "100", "--output", str(out), "--retriever", retriever,
                       "--store", store)
            name = f"triops {retriever}" + (" wordllama" if "wordllama" in collection else "")
            results[name] = score(read_run(out), qrels, qids)
        python = peer_venv.ensure("bm25s", ["bm25s==0.3.16", "PyStemmer==3.1.0"])
        out = work / "bm25s.txt"
        subprocess.run([str(python), str(ROOT / "bench" / "peers" / "bm25s_run.py"),
                        str(corpus), str(qfile), str(out), "100"], check=True)
        results["bm25s 0.3.16"] = score(read_run(out), qrels, qids)
    print(f"Cranfield: {len(docs)} documents, {len(queries)} queries; "
          f"triops ingest {ingest_s:.1f} s (CLI, with start-up)")
    print(f"{'run':26s} {'nDCG@10':>8s} {'R@100':>8s} {'MRR@10':>8s}")
    for name, (ndcg, recall, mrr) in results.items():
        print(f"{name:26s} {ndcg:8.4f} {recall:8.4f} {mrr:8.4f}")
    ratio = results["triops hybrid"][0] / results["bm25s 0.3.16"][0]
    print(f"hybrid / bm25s nDCG@10: {ratio:.3f}")
    if args.cv:
        cross_validate(docs, queries, qrels)


if __name__ == "__main__":
    main()
