"""Adaptive micro-batching: concurrent requests for one model version share one model call.

Each loaded model version has one ``Batcher``: an asyncio queue feeding one worker task
that runs the model in a thread. While the model runs, new requests queue up; the next
call takes all of them at once (up to ``max_batch_size`` rows). That alone batches under
load without adding latency when idle. On top of it the worker waits up to
``max_wait_ms`` for more rows, but only while traffic is concurrent (its last batch held
more than one request): a lone caller is never made to wait for company that is not
coming.

A model whose calls cost little CPU (under ``INLINE_BELOW_MS``, e.g. a compiled tree
ensemble) runs on the event loop itself: handing a 1 ms call to a thread and back costs
two thread wake-ups, which on a busy machine take longer than the call. Slower models
run in a thread so the server keeps reading requests (and forming the next batch) while
they compute. The cost is measured as CPU time of the call, which a busy machine does
not inflate, and kept as a moving average.

A request may bring a second model to run on its rows (``predict_also``: an explainer):
the rows of every such request in a batch go through it in the same call, right after
the model, so that it adds no queue, no wait for company and no thread hop of its own.
Its failure fails only the requests that asked for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from triops.ml.serving.inputs import Table, to_frame, to_matrix
from triops.ml.serving.loaders import ModelHandle

#: Model calls cheaper than this (CPU time, moving average) run on the event loop.
INLINE_BELOW_MS = 3.0


@dataclass
class _Item:
    table: Table
    future: asyncio.Future[Any]
    also: ModelHandle | None = None


@dataclass
class BatchStats:
    calls: int = 0
    requests: int = 0
    rows: int = 0
    largest: int = 0


class Batcher:
    def __init__(self, handle: ModelHandle, *, max_batch_size: int = 32,
                 max_wait_ms: float = 2.0) -> None:
        self.handle = handle
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait_s = max(0.0, float(max_wait_ms)) / 1000
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._concurrent = False
        #: Moving average of a call's CPU seconds; None until the first call is measured.
        self.cpu_s: float | None = None

    def configure(self, *, max_batch_size: int, max_wait_ms: float) -> None:
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait_s = max(0.0, float(max_wait_ms)) / 1000

    def _ensure_worker(self) -> asyncio.Queue[_Item]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            # A new event loop (a restarted test client) gets its own queue and worker.
            self._loop = loop
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._work())
        assert self._queue is not None
        return self._queue

    async def predict(self, table: Table) -> list[Any]:
        """Outputs for the table's rows (one per row), computed in a batch with concurrent
        callers."""
        outputs: list[Any] = await self._submit(_Item(table, self._future()))
        return outputs

    async def predict_also(self, table: Table, also: ModelHandle
                           ) -> tuple[list[Any], list[Any]]:
        """The model's outputs for the table's rows and ``also``'s, from the same batch
        call."""
        both: tuple[list[Any], list[Any]] = await self._submit(
            _Item(table, self._future(), also))
        return both

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, item: _Item) -> Any:
        self._ensure_worker().put_nowait(item)
        return await item.future

    async def _collect(self, queue: asyncio.Queue[_Item]) -> list[_Item]:
        batch = [await queue.get()]
        size = len(batch[0].table)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._company_wait_s() if self._concurrent else 0.0)
        while size < self.max_batch_size:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(item)
            size += len(item.table)
        self._concurrent = len(batch) > 1
        return batch

    def _company_wait_s(self) -> float:
        """How long a batch waits for more requests: ``max_wait_s``, but no longer than
        one model call costs (its measured CPU). A request that joins saves at most one
        call; waiting longer than the call it saves delays every request in the batch
        by more than serving the latecomer in a call of its own would (a compiled linear
        model's call is microseconds; the 2 ms default wait was most of such a
        request's latency at concurrency 8)."""
        if self.cpu_s is None:
            return self.max_wait_s
        return min(self.max_wait_s, self.cpu_s)

    async def _work(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._collect(queue)
            # Requests with the same columns (the usual case: all were put in signature
            # order) go in one call; a different column set gets a call of its own.
            groups: dict[tuple[str, ...], list[_Item]] = {}
            for item in batch:
                groups.setdefault(tuple(item.table.columns), []).append(item)
            for columns, items in groups.items():
                n_rows = sum(len(item.table) for item in items)
                try:
                    call = self._calls(list(columns), items)
                    if self.cpu_s is not None and self.cpu_s * 1000 < INLINE_BELOW_MS:
                        outputs, extra = self._timed(call)
                    else:
                        outputs, extra = await loop.run_in_executor(None, self._timed, call)
                    if len(outputs) != n_rows:
                        raise RuntimeError(f"the model returned {len(outputs)} outputs for "
                                           f"{n_rows} rows")
                except Exception as exc:  # noqa: BLE001 - delivered to each waiting caller
                    for item in items:
                        if not item.future.done():
                            item.future.set_exception(exc)
                    continue
                self._count(len(items), n_rows)
                start = 0
                for i, item in enumerate(items):
                    end = start + len(item.table)
                    if not item.future.done():
                        got = extra.get(i)
                        if isinstance(got, BaseException):
                            item.future.set_exception(got)
                        else:
                            item.future.set_result(outputs[start:end] if got is None
                                                   else (outputs[start:end], got))
                    start = end

    def _calls(self, columns: list[str], items: list[_Item]
               ) -> Callable[[], tuple[list[Any], dict[int, Any]]]:
        """One call for the batch: the model on every row, then each second model on
        the rows of the requests that brought it (its outputs, or its error, per item)."""
        model = self._prepare(self.handle, columns, [item.table for item in items])
        seconds: dict[int, list[int]] = {}  # by id of the second model: item positions
        for i, item in enumerate(items):
            if item.also is not None:
                seconds.setdefault(id(item.also), []).append(i)
        if not seconds:
            return lambda: (model(), {})
        plans = []
        for members in seconds.values():
            also = items[members[0]].also
            assert also is not None
            try:
                plans.append((members, self._prepare(
                    also, columns, [items[i].table for i in members]), None))
            except Exception as exc:  # noqa: BLE001 - fails only its own requests
                plans.append((members, None, exc))

        def run() -> tuple[list[Any], dict[int, Any]]:
            outputs = model()
            extra: dict[int, Any] = {}
            for members, call, error in plans:
                try:
                    got = call() if call is not None else None
                except Exception as exc:  # noqa: BLE001 - fails only its own requests
                    error = exc
                start = 0
                for i in members:
                    if error is not None or got is None:
                        extra[i] = error
                        continue
                    end = start + len(items[i].table)
                    extra[i] = got[start:end]
                    start = end
            return outputs, extra

        return run

    @staticmethod
    def _prepare(handle: ModelHandle, columns: list[str], tables: list[Table]
                 ) -> Callable[[], list[Any]]:
        """The model call for the tables' rows, all in ``columns`` order: the handle's
        matrix path when it has one and every value is a finite number, its DataFrame
        path otherwise. Tables that all came as float64 matrices are stacked as they are,
        and their rows are made only for the DataFrame path."""
        matrices = [table.matrix for table in tables]
        given = None
        if all(m is not None for m in matrices):
            given = matrices[0] if len(matrices) == 1 else np.concatenate(matrices)
        if handle.predict_matrix is not None:
            order = handle.matrix_columns or columns
            matrix = given if given is not None and columns == order \
                else to_matrix(columns, _rows(tables), order)
            if matrix is not None and np.isfinite(matrix).all():
                fast = handle.predict_matrix
                return lambda: fast(matrix)
        frame = to_frame(columns, _rows(tables), handle.columns)
        return lambda: handle.predict(frame)

    def _timed(self, call: Callable[[], Any]) -> Any:
        started = time.thread_time()
        try:
            return call()
        finally:
            spent = time.thread_time() - started
            self.cpu_s = spent if self.cpu_s is None else 0.8 * self.cpu_s + 0.2 * spent

    def _count(self, requests: int, rows: int) -> None:
        s = self.stats
        s.calls += 1
        s.requests += requests
        s.rows += rows
        s.largest = max(s.largest, rows)

    def close(self) -> None:
        if self._task is not None and not self._task.done() and self._loop is not None \
                and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._task = None


def _rows(tables: list[Table]) -> list[list[Any]]:
    return [row for table in tables for row in table.rows]
