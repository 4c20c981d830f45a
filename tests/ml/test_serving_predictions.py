"""The prediction log read that monitors build on: window, limit, label join."""

from __future__ import annotations

import doctest

from triops.ml.serving import ShadowResult, append_labels, predictions_window
from triops.ml.serving import predictions as predictions_module
from triops.ml.serving.predictions import PREDICTION_KIND, prediction_row
from triops.store import records


def _log(db, endpoint: str, times: list[int], version: int = 1) -> None:
    with db.write() as s:
        records.append(s, "p", PREDICTION_KIND, [
            prediction_row(endpoint=endpoint, time_ms=t, request_id=f"r{t}", model="m",
                           version=version, served_by="primary", latency_ms=0.5,
                           columns=["a", "b"], rows=[[t, "x"]], outputs=[t % 2],
                           shadow=ShadowResult(version=version + 1, outputs=[0],
                                               agree=t % 2 == 0))
            for t in times])


def test_window_bounds_limit_and_labels(db):
    _log(db, "churn", [100, 200, 300, 400])
    _log(db, "other", [250])
    with db.write() as s:
        append_labels(s, "p", "churn", 900, [("r200", 1), ("r300", 0)])
        append_labels(s, "p", "churn", 950, [("r300", 1)])  # a correction: last one wins
        append_labels(s, "p", "other", 960, [("r400", 7)])  # other endpoint: ignored
    with db.read() as s:
        all_ = predictions_window(s, "p", "churn")
        window = predictions_window(s, "p", "churn", start_ms=200, end_ms=400)
        newest = predictions_window(s, "p", "churn", limit=2)
        other_project = predictions_window(s, "q", "churn")
    assert [r.request_id for r in all_] == ["r100", "r200", "r300", "r400"]
    assert [r.label for r in all_] == [None, 1, 1, None]
    assert all_[2].label_time_ms == 950
    assert all_[1].inputs == [{"a": 200, "b": "x"}] and all_[1].outputs == [0]
    assert all_[1].shadow == ShadowResult(version=2, outputs=[0], agree=True)
    assert [r.time_ms for r in window] == [200, 300]
    assert [r.time_ms for r in newest] == [300, 400]
    assert other_project == []


def test_docstring_example_runs():
    failures, tried = doctest.testmod(predictions_module)
    assert tried > 0 and failures == 0


def test_a_float_matrix_is_stored_compactly_and_read_back_as_the_same_rows(db):
    import numpy as np

    matrix = np.array([[0.1, -2.5e-300, 1e17], [3.0, 0.00012345678901234567, -0.0]])
    common = {"endpoint": "oip", "request_id": "m", "model": "m", "version": 1,
              "served_by": "primary", "latency_ms": 0.5, "columns": ["a", "b", "c"],
              "rows": matrix.tolist(), "outputs": [1, 0]}
    with db.write() as s:
        records.append(s, "p", PREDICTION_KIND, [
            prediction_row(time_ms=1, **common, matrix=matrix),
            prediction_row(time_ms=2, **{**common, "request_id": "r"})])
    with db.read() as s:
        stored = [r.data for r in records.scan(s, "p", PREDICTION_KIND, streams=["oip"])]
        compact, plain = predictions_window(s, "p", "oip")
    assert "matrix" in stored[0] and "rows" not in stored[0] and "rows" in stored[1]
    assert compact.inputs == plain.inputs == [dict(zip("abc", r)) for r in matrix.tolist()]
    assert np.signbit(compact.inputs[1]["c"])  # bit for bit: -0.0 stays -0.0
