"""Response caches: exact match (hash of model, messages and parameters) and semantic.

Both live in the server process, bounded in size and time. The semantic cache is
opt-in: it embeds the prompt through an embeddings route and answers from the most
similar cached prompt of the same model when the cosine similarity reaches the
threshold.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import orjson

#: Fields that do not change the answer and so stay out of the cache key.
_IGNORED = frozenset({"stream", "stream_options", "user", "metadata", "store"})


def cache_key(model: str, body: dict[str, Any]) -> str:
    kept = {k: v for k, v in body.items() if k not in _IGNORED}
    kept["model"] = model
    return hashlib.sha256(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ExactCache:
    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return hit[1]

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock:
            now = time.monotonic()
            # Expired answers go from the front (least recently used) on every put: were
            # they dropped only when asked for again, unique prompts (most traffic) would
            # keep max_entries answers whatever the TTL, and a server's memory would grow
            # for as long as filling them takes (10,000 at a few calls a second: half an
            # hour). An entry lingers past its expiry at most until everything used before
            # it has expired too, within one more TTL.
            while self._entries:
                expires, _ = next(iter(self._entries.values()))
                if expires >= now:
                    break
                self._entries.popitem(last=False)
            self._entries[key] = (now + self.ttl_s, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def prompt_text(body: dict[str, Any]) -> str:
    """The text a semantic cache compares: every message's role and text."""
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        parts.append(f"{message.get('role', '')}: {content or ''}")
    return "\n".join(parts)


class SemanticCache:
    def __init__(self, threshold: float, ttl_s: float, max_entries: int) -> None:
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        # model -> (unit vectors [n, d], expiry times, responses)
        self._by_model: dict[str, tuple[np.ndarray, list[float], list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _unit(vector: list[float]) -> np.ndarray:
        v = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(v))
        return v / norm if norm else v

    def get(self, model: str, vector: list[float]) -> tuple[dict[str, Any], float] | None:
        with self._lock:
            entry = self._by_model.get(model)
            if entry is None or not len(entry[2]):
                return None
            matrix, expires, responses = entry
            query = self._unit(vector)
            if matrix.shape[1] != query.shape[0]:
                return None
            scores = matrix @ query
            now = time.monotonic()
            for index in np.argsort(-scores):
                score = float(scores[index])
                if score < self.threshold:
                    return None
                if expires[index] >= now:
                    return responses[index], score
            return None

    def put(self, model: str, vector: list[float], response: dict[str, Any]) -> None:
        unit = self._unit(vector)
        with self._lock:
            now = time.monotonic()
            matrix, expires, responses = self._by_model.get(
                model, (np.zeros((0, unit.shape[0]), dtype=np.float32), [], []))
            if matrix.shape[1] != unit.shape[0]:
                matrix, expires, responses = (np.zeros((0, unit.shape[0]), np.float32), [], [])
            keep = [i for i, t in enumerate(expires) if t >= now][-(self.max_entries - 1):]
            matrix = np.vstack([matrix[keep], unit[None, :]])
            self._by_model[model] = (matrix, [expires[i] for i in keep] + [now + self.ttl_s],
                                     [responses[i] for i in keep] + [response])
