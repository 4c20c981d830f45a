"""The prediction log's writer: group commit from one background thread.

The contract: a prediction is acknowledged (its response sent) only after the log batch
holding it is committed. So a crash at any moment loses no logged prediction that a
caller saw answered; a caller whose request was in flight gets no answer and retries.

Cost is kept low by group commit: one thread writes, and every row that arrives while a
commit is in progress goes into the next one, so many concurrent requests share one
transaction. Under load a batch waits for at most one commit in progress plus its own,
which bounds it by the store's commit latency (well under the ~200 ms the log is allowed
to lag); when idle a row is committed at once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from dataclasses import dataclass

from sqlalchemy import Connection

from triops.core.errors import Conflict, UpstreamError
from triops.store import records
from triops.store.engine import Database
from triops.store.records import RecordRow

log = logging.getLogger("triops.serving")

#: Rows per transaction at most; a larger backlog is written in several commits.
_MAX_BATCH = 2_000


@dataclass
class _Pending:
    project: str
    kind: str
    row: RecordRow
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[None] | None


class LogWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.commits = 0
        self.rows_written = 0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._writer = db.kept_writer()  # the thread's alone
        self._thread = threading.Thread(target=self._run, name="triops-prediction-log",
                                        daemon=True)
        self._thread.start()

    async def write(self, project: str, kind: str, row: RecordRow) -> None:
        """Return once ``row`` is committed; raise if it could not be."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._closed:
                raise Conflict("the server is shutting down; the prediction was not logged")
            self._queue.put(_Pending(project, kind, row, loop, future))
        await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True  # write what came before the stop, then leave
                    break
                batch.append(item)
            self._flush(batch)
        self._writer.close()

    def _flush(self, batch: list[_Pending]) -> None:
        groups: dict[tuple[str, str], list[RecordRow]] = {}
        for item in batch:
            groups.setdefault((item.project, item.kind), []).append(item.row)

        def append_all(conn: Connection) -> None:
            for (project, kind), rows in groups.items():
                records.append(conn, project, kind, rows)

        error: BaseException | None = None
        try:
            self._writer.write(append_all)
            self.commits += 1
            self.rows_written += len(batch)
        except Exception as exc:
            log.exception("prediction log batch of %d rows failed", len(batch))
            error = exc
        # One wake-up per event loop for the whole batch: each call_soon_threadsafe
        # writes to the loop's wake-up pipe, and a batch under load holds dozens of rows.
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for item in batch:
            if item.loop is not None and item.future is not None:
                by_loop.setdefault(item.loop, []).append(item.future)
        for loop, futures in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, futures, error)

    def close(self) -> None:
        """Write every queued row, then stop. Called on server shutdown."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout=30)


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(UpstreamError(
                f"the prediction log could not be written ({type(error).__name__}); the "
                "prediction is not acknowledged, retry the request"))
