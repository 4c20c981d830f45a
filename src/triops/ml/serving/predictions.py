"""The prediction log as stored records, and the window read that monitors build on.

One served request is one record of kind ``prediction`` in the endpoint's stream;
ground truth posted later is one record of kind ``label`` carrying the request id.
Both go through the append-only record interface (``triops.store.records``), so a
columnar backend can replace the relational one without touching serving.

Stored shape of a prediction record's ``data`` (kept compact: columns once, rows as
lists)::

    {"request_id": "...", "model": "churn", "version": 3, "served_by": "primary",
     "latency_ms": 1.7, "columns": ["age", "plan"], "rows": [[41, "pro"]],
     "outputs": [0.82],
     "shadow": {"version": 4, "outputs": [0.79], "agree": true} | null,
     "explanation": {"method": "tree-path-dependent", "features": [...],
                     "base_values": [...], "values": [[...]]}}   (only when asked for)

Rows that came as one float64 matrix (an OIP floating-point tensor) are kept as that
matrix instead of ``rows``: ``"matrix": {"shape": [64, 20], "f8": "<base64>"}``, its
little-endian float64 bytes in base64. The same numbers, bit for bit, in about half the
bytes of their JSON text and without writing 1,280 numbers as text per 64-row request;
``predictions_window`` reads both shapes back as the same rows.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from triops.store import records
from triops.store.records import RecordRow

PREDICTION_KIND = "prediction"
LABEL_KIND = "label"

@dataclass(frozen=True)
class ShadowResult:
    version: int
    outputs: list[Any]
    #: Whether the shadow's outputs equal the served ones (row by row, all rows).
    agree: bool
    #: Why the shadow gave no outputs (it failed to load or predict), if it did not.
    error: str | None = None


@dataclass(frozen=True)
class PredictionRecord:
    """One served request as the prediction log holds it.

    ``inputs`` holds one dict per row (column name -> value) and ``outputs`` one entry
    per row. ``label`` is the ground truth posted later for this request id (the last
    one posted wins), or ``None`` when none arrived yet; for a request of several rows
    post a list with one label per row.
    """

    request_id: str
    endpoint: str
    time_ms: int
    model: str
    version: int
    served_by: str
    latency_ms: float
    inputs: list[dict[str, Any]]
    outputs: list[Any]
    shadow: ShadowResult | None = None
    label: Any = None
    label_time_ms: int | None = None
    #: Attributions computed when the request asked for them (see ``explanations``).
    explanation: dict[str, Any] | None = None


def prediction_row(
    *, endpoint: str, time_ms: int, request_id: str, model: str, version: int,
    served_by: str, latency_ms: float, columns: Sequence[str],
    rows: Sequence[Sequence[Any]] = (), outputs: Sequence[Any],
    shadow: ShadowResult | None = None, explanation: dict[str, Any] | None = None,
    matrix: np.ndarray | None = None,
) -> RecordRow:
    """The record one served request is logged as; ``matrix``, when given, holds the
    rows as float64 and is stored in their place (see the module's doc): ``rows`` are
    then not read."""
    data: dict[str, Any] = {
        "request_id": request_id, "model": model, "version": int(version),
        "served_by": served_by, "latency_ms": round(float(latency_ms), 3),
        "columns": list(columns)}
    if matrix is not None and matrix.ndim == 2 and matrix.dtype == np.float64:
        data["matrix"] = {"shape": list(matrix.shape), "f8": base64.b64encode(
            np.ascontiguousarray(matrix, dtype="<f8").tobytes()).decode("ascii")}
    else:
        data["rows"] = [list(r) for r in rows]
    data.update({
        "outputs": list(outputs),
        "shadow": None if shadow is None else {
            "version": int(shadow.version), "outputs": list(shadow.outputs),
            "agree": bool(shadow.agree), "error": shadow.error},
    })
    if explanation is not None:
        data["explanation"] = explanation
    return RecordRow(stream=endpoint, ts_ms=time_ms, data=data)


def label_row(*, endpoint: str, time_ms: int, request_id: str, label: Any) -> RecordRow:
    return RecordRow(stream=endpoint, ts_ms=time_ms,
                     data={"request_id": request_id, "label": label})


def append_labels(session: Session, project: str, endpoint: str, time_ms: int,
                  labels: Sequence[tuple[str, Any]]) -> int:
    """Store ground truth for earlier requests, in the caller's transaction."""
    rows = [label_row(endpoint=endpoint, time_ms=time_ms, request_id=rid, label=label)
            for rid, label in labels]
    return records.append(session, project, LABEL_KIND, rows)


def _decode(endpoint: str, ts_ms: int, data: dict[str, Any]) -> PredictionRecord:
    columns = list(data.get("columns") or [])
    inputs = [dict(zip(columns, row, strict=False)) for row in _rows(data)]
    shadow = data.get("shadow")
    return PredictionRecord(
        request_id=str(data.get("request_id", "")), endpoint=endpoint, time_ms=ts_ms,
        model=str(data.get("model", "")), version=int(data.get("version", 0)),
        served_by=str(data.get("served_by", "primary")),
        latency_ms=float(data.get("latency_ms", 0.0)), inputs=inputs,
        outputs=list(data.get("outputs") or []),
        shadow=None if not shadow else ShadowResult(
            version=int(shadow["version"]), outputs=list(shadow["outputs"]),
            agree=bool(shadow["agree"]), error=shadow.get("error")),
        explanation=data.get("explanation") if isinstance(data.get("explanation"), dict)
        else None,
    )


def _rows(data: dict[str, Any]) -> list[list[Any]]:
    """A stored record's rows, from ``rows`` or from the float64 ``matrix``."""
    matrix = data.get("matrix")
    if isinstance(matrix, dict):
        values = np.frombuffer(base64.b64decode(matrix["f8"]), dtype="<f8")
        return values.reshape([int(n) for n in matrix["shape"]]).tolist()
    return list(data.get("rows") or [])


def predictions_window(
    session: Session, project: str, endpoint: str, start_ms: int | None = None,
    end_ms: int | None = None, limit: int | None = None,
) -> list[PredictionRecord]:
    """Logged predictions of ``endpoint`` in ``[start_ms, end_ms)``, oldest first, each
    joined with its latest label (labels posted at any time after ``start_ms``).

    ``limit`` keeps the *newest* ``limit`` predictions of the window (still returned
    oldest first), which is what a monitor looking at "the last N" wants.

    >>> import tempfile
    >>> from triops.store.engine import Database
    >>> from triops.store.migrate import upgrade
    >>> db = Database(f"sqlite:///{tempfile.mkdtemp()}/doc.db"); upgrade(db.engine)
    >>> with db.write() as s:
    ...     _ = records.append(s, "default", PREDICTION_KIND, [prediction_row(
    ...         endpoint="churn", time_ms=1_000, request_id="r1", model="churn", version=2,
    ...         served_by="primary", latency_ms=1.5, columns=["age"], rows=[[41]],
    ...         outputs=[1])])
    ...     _ = append_labels(s, "default", "churn", 5_000, [("r1", 0)])
    >>> with db.read() as s:
    ...     [(p.request_id, p.inputs, p.outputs, p.version, p.label)
    ...      for p in predictions_window(s, "default", "churn")]
    [('r1', [{'age': 41}], [1], 2, 0)]
    """
    stored = list(records.scan(session, project, PREDICTION_KIND, streams=[endpoint],
                               start_ms=start_ms, end_ms=end_ms, limit=limit,
                               newest_first=limit is not None))
    if limit is not None:
        stored.reverse()
    if not stored:
        return []
    wanted = {str(r.data.get("request_id", "")) for r in stored}
    labels: dict[str, tuple[Any, int]] = {}
    first_ms = stored[0].ts_ms
    for lab in records.scan(session, project, LABEL_KIND, streams=[endpoint],
                            start_ms=first_ms):
        rid = str(lab.data.get("request_id", ""))
        if rid in wanted:
            labels[rid] = (lab.data.get("label"), lab.ts_ms)
    out = []
    for r in stored:
        rec = _decode(endpoint, r.ts_ms, r.data)
        if rec.request_id in labels:
            label, label_ms = labels[rec.request_id]
            rec = PredictionRecord(**{**rec.__dict__, "label": label, "label_time_ms": label_ms})
        out.append(rec)
    return out
