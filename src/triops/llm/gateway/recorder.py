"""Writes gateway spans and signals off the request path, in batches, from one thread.

Requests only put a finished span on a queue (no I/O). A background thread writes
what has queued every ``interval_s`` in one transaction per project, feeds each call
to the anomaly monitor, and ingests the signals it raises. ``close()`` drains the
queue, so spans acknowledged to clients are written before the server exits.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from triops.core.signals import Signal
from triops.llm.spans import Span
from triops.store.engine import Database

log = logging.getLogger("triops.llm.gateway")

_BATCH = 2_000
_STOP = object()


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
    def __init__(self, db: Database, *, interval_s: float = 0.2,
                 observe: Callable[[str, Span], list[Signal]] | None = None) -> None:
        self._db = db
        self._interval_s = interval_s
        self._observe = observe
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="triops-gateway-recorder",
                                        daemon=True)
        self._thread.start()

    def record(self, project: str, span: Span) -> None:
        self._idle.clear()
        self._queue.put((project, span))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written (tests and shutdown use it)."""
        self._queue.put(None)  # wake the thread now rather than after the interval
        return self._idle.wait(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(30)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[str, Span]] = []
            try:
                item = self._queue.get(timeout=self._interval_s)
            except queue.Empty:
                self._idle.set()
                continue
            while True:
                if item is _STOP:
                    stopping = True
                elif item is not None:
                    batch.append(item)
                if len(batch) >= _BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)
            if self._queue.empty():
                self._idle.set()

    def _write(self, batch: list[tuple[str, Span]]) -> None:
        by_project: dict[str, list[Span]] = defaultdict(list)
        for project, span in batch:
            by_project[project].append(span)
        for project, spans in by_project.items():
            signals: list[Signal] = []
            if self._observe is not None:
                for span in spans:
                    signals.extend(self._observe(project, span))
            try:
                with self._db.write() as session:
                    persist_spans(session, project, spans)
                    for signal in signals:
                        ingest_signal(session, project, signal)
            except Exception:
                # One bad batch must not stop the writer; the log says what was lost.
                log.exception("could not write %d gateway spans for project %s",
                              len(spans), project)
