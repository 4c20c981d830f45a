"""Writes gateway spans and signals off the request path, in batches, from one thread.

Requests only put a finished span on a queue (no I/O). A background thread writes
what has queued every ``interval_s`` in one transaction per project, feeds each call
to the anomaly monitor, and ingests the signals it raises. ``close()`` drains the
queue, so spans acknowledged to clients are written before the server exits.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

from sqlalchemy.orm import Session

from triops.core.signals import Signal
from triops.llm.spans import Span
from triops.store.engine import Database

log = logging.getLogger("triops.llm.gateway")

_BATCH = 2_000


def persist_spans(session: Session, project: str, spans: list[Span]) -> None:
    """Hand spans to the trace store; until it exists, write the same records it reads."""
    try:
        from triops.llm.tracing import record_spans
    except ImportError:
        record_spans = None
    if record_spans is not None:
        record_spans(session, project, spans)
        return
    from triops.store import records

    rows = []
    for span in spans:
        data = dataclasses.asdict(span)
        data["kind"], data["status"] = span.kind.value, span.status.value
        rows.append(records.RecordRow(stream=span.trace_id, ts_ms=span.start_ns // 1_000_000,
                                      data=data))
    records.append(session, project, "span", rows)


def ingest_signal(session: Session, project: str, signal: Signal) -> None:
    from triops.ops import ingest

    ingest(session, project, signal)


class Recorder:
    def __init__(self, db: Database, *, interval_s: float = 0.25,
                 observe: Callable[[str, Span], list[Signal]] | None = None) -> None:
        self._db = db
        self._interval_s = interval_s
        self._observe = observe
        # A deque, not a queue.Queue: appending takes no lock and wakes no thread, so
        # the request path never hands the GIL to the writer. The writer wakes on its
        # own clock and takes everything that queued meanwhile in one transaction.
        self._pending: deque[tuple[str, Span]] = deque()
        self._queued = 0
        self._written = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="triops-gateway-recorder",
                                        daemon=True)
        self._thread.start()

    def record(self, project: str, span: Span) -> None:
        self._pending.append((project, span))
        self._queued += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (tests and shutdown use it)."""
        target = self._queued
        deadline = time.monotonic() + timeout
        self._wake.set()
        while self._written < target:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(30)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            stopping = self._stopping
            while self._pending:
                batch = []
                while self._pending and len(batch) < _BATCH:
                    batch.append(self._pending.popleft())
                self._write(batch)
                self._written += len(batch)
            if stopping:
                return

    def _write(self, batch: list[tuple[str, Span]]) -> None:
        by_project: dict[str, list[Span]] = defaultdict(list)
        for project, span in batch:
            by_project[project].append(span)
        for project, spans in by_project.items():
            signals: list[Signal] = []
            if self._observe is not None:
                for span in spans:
                    signals.extend(self._observe(project, span))
            for attempt in range(3):
                try:
                    with self._db.write() as session:
                        persist_spans(session, project, spans)
                        for signal in signals:
                            ingest_signal(session, project, signal)
                    break
                except Exception:
                    # A locked or restarting database gets two more chances; after that
                    # the log says what was lost rather than the writer stopping.
                    if attempt == 2:
                        log.exception("could not write %d gateway spans for project %s",
                                      len(spans), project)
                    else:
                        time.sleep(0.5 * (attempt + 1))
