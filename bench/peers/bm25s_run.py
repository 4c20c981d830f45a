"""bm25s on a jsonl corpus and queries, written as a TREC run (runs in bm25s' own venv).

    python bm25s_run.py corpus.jsonl queries.jsonl run.txt TOP_K

Settings of the anchor in ../shared/datasets/ir/README.md: English stop words, the
Snowball stemmer (PyStemmer), title + text, bm25s' defaults (Lucene BM25, k1 1.5, b 0.75).
"""

import json
import sys

import bm25s
import Stemmer

corpus_path, queries_path, out_path, top_k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


docs, queries = read_jsonl(corpus_path), read_jsonl(queries_path)
stemmer = Stemmer.Stemmer("english")
retriever = bm25s.BM25()
retriever.index(bm25s.tokenize([f"{d.get('title', '')} {d['text']}" for d in docs],
                               stopwords="en", stemmer=stemmer, show_progress=False),
                show_progress=False)
tokens = bm25s.tokenize([q["text"] for q in queries], stopwords="en", stemmer=stemmer,
                        show_progress=False)
results, scores = retriever.retrieve(tokens, k=min(top_k, len(docs)), show_progress=False)
with open(out_path, "w", encoding="utf-8") as out:
    for q, ids, ss in zip(queries, results, scores, strict=True):
        out.writelines(f"{q['_id']} Q0 {docs[int(i)]['_id']} {rank} {float(s):.6f} bm25s\n"
                       for rank, (i, s) in enumerate(zip(ids, ss, strict=True), 1))
