"""Step cache in the artifact store, keyed by content hash of inputs and step code.

Outputs are stored as JSON when they are plain data, as ``.npy`` for numpy arrays
(pickle disabled) and otherwise with pickle. Pickle is acceptable here, unlike for model
files: cache entries are written only by this executor, under the project's own
artifact root, from values the same pipeline code produced, so reading one back crosses
no trust boundary the code itself did not.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from typing import Any

import numpy as np
import orjson
import pandas as pd

from triops.store.artifacts import ArtifactStore

_JSON_TYPES = (str, int, float, bool, type(None))


def _is_plain(value: Any) -> bool:
    if isinstance(value, _JSON_TYPES):
        return True
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def content_hash(value: Any) -> str:
    """A hash of what a value holds (not of its identity)."""
    h = hashlib.sha256()
    if isinstance(value, np.ndarray):
        h.update(f"ndarray{value.dtype.str}{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes() if value.dtype != object
                 else pickle.dumps(value.tolist(), protocol=5))
    elif isinstance(value, pd.DataFrame):
        h.update(("frame" + "\x1f".join(map(str, value.columns))).encode())
        h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
    elif isinstance(value, bytes):
        h.update(b"bytes" + value)
    elif _is_plain(value):
        h.update(b"json" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    else:
        h.update(b"pickle" + pickle.dumps(value, protocol=5))
    return h.hexdigest()


def step_key(code_hash: str, inputs: dict[str, str]) -> str:
    parts = [code_hash] + [f"{k}={v}" for k, v in sorted(inputs.items())]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _encode(value: Any) -> tuple[str, bytes]:
    if isinstance(value, np.ndarray) and value.dtype != object:
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        return "npy", buf.getvalue()
    if _is_plain(value):
        return "json", orjson.dumps(value)
    return "pickle", pickle.dumps(value, protocol=5)


def _decode(fmt: str, data: bytes) -> Any:
    if fmt == "npy":
        return np.load(io.BytesIO(data), allow_pickle=False)
    if fmt == "json":
        return orjson.loads(data)
    return pickle.loads(data)


class StepCache:
    def __init__(self, artifacts: ArtifactStore, project: str) -> None:
        self.artifacts = artifacts
        self.root = f"pipelines/{project}/cache"

    def get(self, key: str) -> dict[str, Any] | None:
        base = f"{self.root}/{key}"
        try:
            manifest = orjson.loads(self.artifacts.read_bytes(f"{base}/manifest.json"))
        except Exception:  # noqa: BLE001 - a missing or torn entry is simply a miss
            return None
        out = {}
        for name, fmt in manifest.items():
            out[name] = _decode(fmt, self.artifacts.read_bytes(f"{base}/{name}.{fmt}"))
        return out

    def put(self, key: str, outputs: dict[str, Any]) -> None:
        base = f"{self.root}/{key}"
        manifest = {}
        for name, value in outputs.items():
            fmt, data = _encode(value)
            self.artifacts.write_bytes(f"{base}/{name}.{fmt}", data)
            manifest[name] = fmt
        # The manifest goes last: an entry without one is never read back.
        self.artifacts.write_bytes(f"{base}/manifest.json", orjson.dumps(manifest))
