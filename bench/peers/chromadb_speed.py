"""chromadb (embedded, persistent) given the same documents and vectors as triops: ingest
rate and query latency (runs in chromadb's own venv).

    python chromadb_speed.py corpus.jsonl vectors.npy queries.npy TOP_K

Prints one JSON line: {"ingest_s", "query_ms": [...], "ids": [[...], ...]} (each query's
ids, best first).
"""

import json
import sys
import tempfile
import time

import chromadb
import numpy as np

corpus_path, vectors_path, queries_path, top_k = sys.argv[1:5]
with open(corpus_path, encoding="utf-8") as f:
    docs = [json.loads(line) for line in f]
vectors = np.load(vectors_path)
queries = np.load(queries_path)
with tempfile.TemporaryDirectory() as home:
    client = chromadb.PersistentClient(path=home)
    collection = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
    batch = client.get_max_batch_size()
    started = time.perf_counter()
    for i in range(0, len(docs), batch):
        part = docs[i:i + batch]
        collection.add(ids=[d["_id"] for d in part], documents=[d["text"] for d in part],
                       embeddings=vectors[i:i + batch].tolist())
    ingest_s = time.perf_counter() - started
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        result = collection.query(query_embeddings=[q.tolist()], n_results=int(top_k))
        times.append((time.perf_counter() - t) * 1000)
        found.append(result["ids"][0])
print(json.dumps({"ingest_s": ingest_s, "query_ms": times, "ids": found}))
