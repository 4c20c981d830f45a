"""Micro-batching: concurrent requests share model calls; each caller gets its own rows;
a lone caller never waits, and no batch waits longer than a model call costs; a failing
batch fails only its callers; a second model runs in the same call on the rows of the
requests that bring it; the log group-commits."""

from __future__ import annotations

import asyncio
import threading
import time

import pandas as pd
import pytest

from tests.ml import serving_models as sm
from triops.core.errors import UpstreamError
from triops.ml.serving.batching import Batcher
from triops.ml.serving.inputs import Table
from triops.ml.serving.loaders import Column, ModelHandle
from triops.ml.serving.logwriter import LogWriter
from triops.ml.serving.predictions import PREDICTION_KIND, prediction_row
from triops.store import records

BACKENDS_UNDER_TEST = ("sqlite",)
COLUMNS = [Column("age", "double"), Column("visits", "long")]
NAMES = [c.name for c in COLUMNS]


class SlowModel:
    """A real model behind a delay, so that requests pile up while it runs."""

    def __init__(self, delay_s: float = 0.02, fail_on: float | None = None) -> None:
        self.model = sm.regressor()
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, frame: pd.DataFrame) -> list[float]:
        with self.lock:
            self.batches.append(len(frame))
        time.sleep(self.delay_s)
        if self.fail_on is not None and (frame["age"] == self.fail_on).any():
            raise ValueError("cannot score this row")
        return [float(v) for v in self.model.predict(frame)]


def _handle(model: SlowModel) -> ModelHandle:
    return ModelHandle(predict=model, columns=COLUMNS, format="test")


def test_concurrent_requests_share_model_calls():
    model = SlowModel()
    batcher = Batcher(_handle(model), max_batch_size=64, max_wait_ms=5)

    async def main() -> list[list[float]]:
        calls = [batcher.predict(Table(NAMES, [[float(i), i % 5]])) for i in range(40)]
        return await asyncio.gather(*calls)

    results = asyncio.run(main())
    # Each caller gets the prediction for its own row (age * 2), in order.
    assert [r for r in results] == [pytest.approx([2.0 * i]) for i in range(40)]
    assert sum(model.batches) == 40
    assert len(model.batches) < 10, model.batches
    assert batcher.stats.calls == len(model.batches) and batcher.stats.requests == 40


def test_batches_respect_max_batch_size():
    model = SlowModel(delay_s=0.005)
    batcher = Batcher(_handle(model), max_batch_size=4, max_wait_ms=1)

    async def main() -> None:
        await asyncio.gather(*[batcher.predict(Table(NAMES, [[1.0, 1]])) for _ in range(20)])

    asyncio.run(main())
    assert max(model.batches) <= 4 and sum(model.batches) == 20


def test_a_lone_caller_does_not_wait_for_company():
    model = SlowModel(delay_s=0.0)
    batcher = Batcher(_handle(model), max_batch_size=64, max_wait_ms=500)

    async def main() -> float:
        started = time.perf_counter()
        for _ in range(3):
            await batcher.predict(Table(NAMES, [[1.0, 1]]))
        return time.perf_counter() - started

    assert asyncio.run(main()) < 0.5  # three sequential calls, none waited 500 ms
    assert model.batches == [1, 1, 1]


def test_a_batch_waits_for_company_no_longer_than_a_model_call_costs():
    model = SlowModel(delay_s=0.0)  # a call of a millisecond or so of CPU
    batcher = Batcher(_handle(model), max_batch_size=64, max_wait_ms=500)

    async def main() -> float:
        # Two at once: traffic is concurrent, so the next batch may wait for company...
        await asyncio.gather(*[batcher.predict(Table(NAMES, [[1.0, 1]])) for _ in range(2)])
        started = time.perf_counter()
        await batcher.predict(Table(NAMES, [[1.0, 1]]))
        return time.perf_counter() - started

    # ...but not 500 ms for a call that costs a small fraction of that.
    assert asyncio.run(main()) < 0.25
    assert model.batches == [2, 1] and batcher.cpu_s is not None and batcher.cpu_s < 0.25


def test_a_failing_batch_fails_its_callers_and_the_worker_goes_on():
    model = SlowModel(delay_s=0.0, fail_on=13.0)
    batcher = Batcher(_handle(model), max_batch_size=1, max_wait_ms=0)

    async def main() -> list[object]:
        calls = [batcher.predict(Table(NAMES, [[age, 1]])) for age in (1.0, 13.0, 2.0)]
        return await asyncio.gather(*calls, return_exceptions=True)

    ok1, failed, ok2 = asyncio.run(main())
    assert ok1 == pytest.approx([2.0]) and ok2 == pytest.approx([4.0])
    assert isinstance(failed, ValueError)


def test_a_second_model_runs_in_the_same_call_on_its_requests_rows_alone():
    model = SlowModel(delay_s=0.05)
    second = SlowModel(delay_s=0.0, fail_on=13.0)
    batcher = Batcher(_handle(model), max_batch_size=64, max_wait_ms=20)
    also = _handle(second)

    async def main() -> list[object]:
        calls = [batcher.predict(Table(NAMES, [[1.0, 1]])),
                 batcher.predict_also(Table(NAMES, [[2.0, 1], [3.0, 1]]), also),
                 batcher.predict(Table(NAMES, [[4.0, 1]])),
                 batcher.predict_also(Table(NAMES, [[5.0, 1]]), also)]
        first = await asyncio.gather(*calls, return_exceptions=True)
        failing = [batcher.predict(Table(NAMES, [[6.0, 1]])),
                   batcher.predict_also(Table(NAMES, [[13.0, 1]]), also)]
        return first + list(await asyncio.gather(*failing, return_exceptions=True))

    plain1, both2, plain3, both4, plain5, failed = asyncio.run(main())
    assert plain1 == pytest.approx([2.0]) and plain3 == pytest.approx([8.0])
    assert both2[0] == pytest.approx([4.0, 6.0]) and both2[1] == pytest.approx([4.0, 6.0])
    assert both4[0] == pytest.approx([10.0]) and both4[1] == pytest.approx([10.0])
    # One model call per batch, and the second model saw only the rows that asked for it.
    assert model.batches == [5, 2] and second.batches == [3, 1]
    # Its failure failed only the request that brought it.
    assert plain5 == pytest.approx([12.0]) and isinstance(failed, ValueError)


def test_log_writer_group_commits_and_flushes_on_close(db):
    writer = LogWriter(db)

    async def main() -> None:
        rows = [prediction_row(endpoint="e", time_ms=i, request_id=f"r{i}", model="m",
                               version=1, served_by="primary", latency_ms=1.0,
                               columns=["a"], rows=[[i]], outputs=[i]) for i in range(200)]
        await asyncio.gather(*[writer.write("p", PREDICTION_KIND, r) for r in rows])

    asyncio.run(main())
    # Every write returned only after its commit: all rows are there now.
    with db.read() as session:
        assert len(list(records.scan(session, "p", PREDICTION_KIND))) == 200
    assert writer.rows_written == 200 and writer.commits < 200
    writer.close()
    with pytest.raises(Exception, match="shutting down"):
        asyncio.run(writer.write("p", PREDICTION_KIND, prediction_row(
            endpoint="e", time_ms=1, request_id="late", model="m", version=1,
            served_by="primary", latency_ms=1.0, columns=["a"], rows=[[1]], outputs=[1])))


def test_a_failed_log_commit_fails_every_request_it_held(db, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(records, "append", refuse)
    writer = LogWriter(db)

    async def main() -> list:
        rows = [prediction_row(endpoint="e", time_ms=i, request_id=f"r{i}", model="m",
                               version=1, served_by="primary", latency_ms=1.0,
                               columns=["a"], rows=[[i]], outputs=[i]) for i in range(50)]
        return await asyncio.gather(*[writer.write("p", PREDICTION_KIND, r) for r in rows],
                                    return_exceptions=True)

    got = asyncio.run(main())
    writer.close()
    # Not one of them is acknowledged: each waiter gets the error, none a result.
    assert len(got) == 50 and all(isinstance(e, UpstreamError) for e in got)
    assert writer.rows_written == 0
