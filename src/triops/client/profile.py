"""What a dataset version records about its content: hash, schema, rows, column profile.

Computed where the data is (the SDK, on the user's machine), so a dataset of any size
is registered by sending a few kilobytes; the server checks the profile's shape.

>>> import pandas as pd
>>> d = describe(pd.DataFrame({"x": [1.0, 2.0, None], "city": ["a", "b", "a"]}))
>>> d.row_count, d.profile["x"]["nulls"], d.profile["city"]["top"][0]
(3, 1, ['a', 2])
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Most frequent values kept per non-numeric column.
TOP_VALUES = 5
_TABULAR = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".json": "json",
            ".jsonl": "jsonl"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DatasetDescription:
    digest: str
    source_type: str
    source: str
    row_count: int
    columns: list[dict[str, str]] = field(default_factory=list)
    profile: dict[str, dict[str, Any]] = field(default_factory=dict)


def describe(data: Any) -> DatasetDescription:
    """Describe a pandas DataFrame, a file or a folder of files."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return _describe_frame(data, "pandas", "", _frame_digest(data))
    path = Path(data)
    if path.is_dir():
        return DatasetDescription(_folder_digest(path), "local", str(path.resolve()),
                                  row_count=sum(1 for p in path.rglob("*") if p.is_file()))
    if not path.is_file():
        raise FileNotFoundError(f"no file or folder at {path}")
    digest = _file_digest(path)
    kind = _TABULAR.get(path.suffix.lower())
    if kind is None:
        return DatasetDescription(digest, "local", str(path.resolve()), row_count=0)
    return _describe_frame(_read(path, kind), "local", str(path.resolve()), digest)


def _read(path: Path, kind: str) -> Any:
    import pandas as pd

    if kind == "parquet":
        return pd.read_parquet(path)
    if kind in ("json", "jsonl"):
        return pd.read_json(path, lines=kind == "jsonl")
    return pd.read_csv(path, sep="\t" if kind == "tsv" else ",")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _folder_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(p.relative_to(path).as_posix().encode() + b"\0")
        h.update(_file_digest(p).encode())
    return h.hexdigest()


def _frame_digest(df: Any) -> str:
    import pandas as pd

    h = hashlib.sha256()
    for name, dtype in df.dtypes.items():
        h.update(f"{name}\0{dtype}\0".encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()


def _num(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _describe_frame(df: Any, source_type: str, source: str, digest: str) -> DatasetDescription:
    import pandas as pd

    columns, profile = [], {}
    for name in df.columns:
        col = df[name]
        key = str(name)
        columns.append({"name": key, "dtype": str(col.dtype)})
        stats: dict[str, Any] = {"dtype": str(col.dtype), "nulls": int(col.isna().sum())}
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        present = col.dropna()
        if numeric and len(present):
            stats.update(min=_num(present.min()), max=_num(present.max()),
                         mean=_num(present.mean()),
                         std=_num(present.std()) if len(present) > 1 else 0.0)
        elif not numeric:
            counts = present.astype(str).value_counts().head(TOP_VALUES)
            stats["distinct"] = int(present.astype(str).nunique())
            stats["top"] = [[str(v), int(c)] for v, c in counts.items()]
        profile[key] = stats
    return DatasetDescription(digest, source_type, source, len(df), columns, profile)
