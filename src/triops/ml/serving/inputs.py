"""Request payloads -> one checked table (column names + rows), and the table -> DataFrame.

Every accepted shape (``records``, ``dataframe_split``, OIP tensors) becomes the same
``Table`` and is checked against the model's signature here, so a missing or unknown
column or a value of the wrong type is refused with a message that names the field,
before the model sees anything.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from triops.core.errors import InvalidInput
from triops.ml.serving.loaders import Column

#: Rows in one request: a guard against a single request starving every other caller.
MAX_ROWS = 10_000

_INT_TYPES = {"long", "integer"}
_FLOAT_TYPES = {"double", "float"}
_DTYPES = {"long": "int64", "integer": "int32", "double": "float64", "float": "float32",
           "boolean": "bool", "string": "object"}


class Table:
    """Column names and rows. The rows of a floating-point tensor of numbers (OIP) come
    as one float64 ``matrix``, which the checks, the model and the prediction log read
    as it is; ``rows`` are made from it on first read, by the readers that want lists
    (the DataFrame path, the explanations), so a request that needs none pays for none.
    """

    __slots__ = ("_rows", "columns", "matrix")

    def __init__(self, columns: list[str], rows: list[list[Any]] | None = None,
                 matrix: np.ndarray | None = None) -> None:
        if rows is None and matrix is None:
            raise ValueError("a table needs its rows or their matrix")
        self.columns = columns
        self.matrix = matrix
        self._rows = rows

    @property
    def rows(self) -> list[list[Any]]:
        if self._rows is None:
            assert self.matrix is not None
            self._rows = self.matrix.tolist()
        return self._rows

    def __len__(self) -> int:
        return len(self._rows if self._rows is not None else self.matrix)  # type: ignore[arg-type]


def _type_ok(kind: str | None, value: Any) -> bool:
    if value is None:
        return False
    if kind is None:  # no declared type: any JSON scalar
        return isinstance(value, (int, float, str, bool))
    if kind in _FLOAT_TYPES:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in _INT_TYPES:
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    return True  # datetime, binary...: left to the model


def _describe(value: Any) -> str:
    """A request value as the caller wrote it: its JSON type, then the value (``null``
    alone, since its type says it all)."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string",
             list: "array", dict: "object"}
    if value is None:
        return "null"
    try:
        shown = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        shown = repr(value)
    return f"{names.get(type(value), type(value).__name__)} {shown}"


def check(table: Table, signature: list[Column] | None) -> Table:
    """Validate ``table`` against ``signature`` and return it in the signature's order."""
    if not len(table):
        raise InvalidInput("the request holds no rows to predict")
    if len(table) > MAX_ROWS:
        raise InvalidInput(f"the request holds {len(table)} rows; at most {MAX_ROWS}")
    if len(set(table.columns)) != len(table.columns):
        raise InvalidInput("a column name appears twice in the request")
    if table.matrix is not None and signature is not None \
            and table.columns == [c.name for c in signature] \
            and all(c.type in _FLOAT_TYPES for c in signature):
        # Numbers for number fields, already floats, in the signature's order: what the
        # value-by-value check below would return.
        return table
    width = len(table.columns)
    for i, row in enumerate(table.rows):
        if len(row) != width:
            raise InvalidInput(f"row {i} has {len(row)} values but {width} columns are named")
    if signature is None:
        for i, row in enumerate(table.rows):
            for name, value in zip(table.columns, row, strict=True):
                if not _type_ok(None, value):
                    raise InvalidInput(f"field '{name}' (row {i}): expected a number, string or "
                                       f"boolean, got {_describe(value)}")
        return table
    known = {c.name for c in signature}
    unknown = [c for c in table.columns if c not in known]
    if unknown:
        raise InvalidInput(f"unknown field '{unknown[0]}'; the model takes "
                           f"{', '.join(c.name for c in signature)}")
    present = set(table.columns)
    missing = [c.name for c in signature if c.required and c.name not in present]
    if missing:
        raise InvalidInput(f"missing field '{missing[0]}' required by the model's signature")
    index = {name: i for i, name in enumerate(table.columns)}
    ordered = [c for c in signature if c.name in present or not c.required]
    rows: list[list[Any]] = []
    for r, row in enumerate(table.rows):
        out = []
        for col in ordered:
            value = row[index[col.name]] if col.name in index else None
            if value is None and not col.required:
                out.append(None)
                continue
            if isinstance(value, float) and not math.isfinite(value) and col.type in _FLOAT_TYPES:
                out.append(value)
                continue
            if not _type_ok(col.type, value):
                expected = col.type or "a scalar"
                raise InvalidInput(f"field '{col.name}' (row {r}): expected {expected}, "
                                   f"got {_describe(value)}"[:300])
            # Normalise JSON's loose numbers so the model and the log see the declared type.
            if col.type in _FLOAT_TYPES and isinstance(value, int):
                value = float(value)
            elif col.type in _INT_TYPES and isinstance(value, float):
                value = int(value)
            out.append(value)
        rows.append(out)
    return Table([c.name for c in ordered], rows)


def from_records(records: Any) -> Table:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidInput("'records' must be a list of objects, one per row")
    columns: list[str] = []
    seen: set[str] = set()
    for rec in records:
        for key in rec:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    # A field absent from one row is None there; the signature check names it if required.
    return Table(columns, [[rec.get(c) for c in columns] for rec in records])


def from_split(split: Any) -> Table:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list) \
            or not isinstance(split.get("data"), list):
        raise InvalidInput("'dataframe_split' must be an object with 'columns' and 'data' lists")
    if not all(isinstance(r, list) for r in split["data"]):
        raise InvalidInput("'dataframe_split.data' must be a list of rows (lists)")
    return Table([str(c) for c in split["columns"]], [list(r) for r in split["data"]])


def from_tensors(tensors: Sequence[Any], signature: list[Column] | None) -> Table:
    """OIP inputs: one tensor per column (shape [n] or [n, 1]), or one [n, k] tensor whose
    columns are the signature's in order."""
    names = {c.name for c in signature or []}
    if len(tensors) == 1 and tensors[0].name not in names and len(tensors[0].shape) == 2 \
            and signature is not None and tensors[0].shape[1] == len(signature):
        t = tensors[0]
        n, k = t.shape
        columns = [c.name for c in signature]
        matrix = _float_matrix(t)
        if matrix is not None:
            return Table(columns, matrix=matrix)
        flat = _flat(t)
        return Table(columns, [flat[i * k:(i + 1) * k] for i in range(n)])
    if len(tensors) == 1 and signature is None and len(tensors[0].shape) == 2 \
            and tensors[0].shape[1] > 1:
        # No named fields (an ONNX model, say): the columns are positions.
        t = tensors[0]
        n, k = t.shape
        flat = _flat(t)
        return Table([f"{t.name}_{j}" for j in range(k)],
                     [flat[i * k:(i + 1) * k] for i in range(n)])
    lengths = set()
    columns, values = [], []
    for t in tensors:
        if len(t.shape) == 2 and t.shape[1] != 1 or len(t.shape) not in (1, 2):
            raise InvalidInput(f"input '{t.name}': one tensor per field must have shape [n] or "
                               f"[n, 1], got {t.shape}")
        flat = _flat(t)
        lengths.add(len(flat))
        columns.append(t.name)
        values.append(flat)
    if len(lengths) > 1:
        raise InvalidInput("input tensors have different numbers of rows")
    n = lengths.pop() if lengths else 0
    return Table(columns, [[v[i] for v in values] for i in range(n)])


def _float_matrix(tensor: Any) -> np.ndarray | None:
    """A floating-point [n, k] tensor of flat numbers as a float64 matrix (None for any
    other: nested data, booleans, strings or nulls go value by value).

    The values are checked and converted in one C call: ``struct`` packs floats and
    integers as doubles and refuses anything else but booleans, which it packs as 0.0
    and 1.0, so only the values equal to those are looked at again."""
    data = tensor.data
    if tensor.datatype not in ("FP16", "FP32", "FP64"):
        return None
    n, k = tensor.shape
    if len(data) != n * k:
        return None  # _flat says what is wrong
    matrix = np.empty((n, k), dtype="<f8")
    try:
        struct.pack_into(f"<{len(data)}d", matrix, 0, *data)
    except (struct.error, TypeError, OverflowError):  # not a number, or beyond float64
        return None
    maybe_bool = np.flatnonzero((matrix == 0.0) | (matrix == 1.0)).tolist()
    if any(type(data[i]) is bool for i in maybe_bool):
        return None
    return matrix


def _flat(tensor: Any) -> list[Any]:
    data = tensor.data
    while data and isinstance(data[0], list):
        data = [x for part in data for x in part]
    expected = math.prod(tensor.shape)
    if len(data) != expected:
        raise InvalidInput(f"input '{tensor.name}': shape {tensor.shape} needs {expected} "
                           f"values, got {len(data)}")
    if tensor.datatype in ("FP16", "FP32", "FP64"):
        data = [float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x
                for x in data]
    return data


def to_frame(columns: list[str], rows: list[list[Any]],
             signature: list[Column] | None) -> pd.DataFrame:
    """The rows as a DataFrame with the signature's dtypes, built column-wise in one go
    (converting column by column after construction costs milliseconds per request)."""
    types = {c.name: c.type for c in signature or [] if c.required}
    dtypes = [_DTYPES.get(types.get(name) or "") for name in columns]
    if dtypes and all(d == "float64" for d in dtypes):
        return pd.DataFrame(np.asarray(rows, dtype=np.float64), columns=columns, copy=False)
    data = {}
    for j, name in enumerate(columns):
        values = [row[j] for row in rows]
        dtype = dtypes[j]
        data[name] = np.asarray(values, dtype=dtype) if dtype and dtype != "object" \
            else values
    return pd.DataFrame(data, columns=columns)


def to_matrix(columns: list[str], rows: list[list[Any]], order: list[str]) -> np.ndarray | None:
    """The rows as a float64 matrix with columns in ``order``, or None if not numeric."""
    if columns != order:
        try:
            index = [columns.index(name) for name in order]
        except ValueError:
            return None
        rows = [[row[i] for i in index] for row in rows]
    for row in rows:
        for value in row:
            if not isinstance(value, (int, float)):  # str, None, bool-as-text: pandas path
                return None
    return np.asarray(rows, dtype=np.float64)
