"""Writes guardrail spans and check records off the request path, in batches.

The gateway's own span recorder feeds every span it writes to the route monitor as a
call; guardrail spans are not calls, so they take this writer, which feeds the
block-rate monitor instead and ingests the signals it raises. ``close()`` drains.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque

from triops.core.signals import Signal
from triops.llm.guardrails.monitor import BlockRateMonitor
from triops.llm.spans import Span
from triops.store.engine import Database
from triops.store.records import RecordRow
from triops.store.repos import guardrails as repo

log = logging.getLogger("triops.llm.guardrails")


class CheckLog:
    def __init__(self, db: Database, monitor: BlockRateMonitor, interval_s: float = 0.25
                 ) -> None:
        self._db = db
        self._monitor = monitor
        self._interval_s = interval_s
        self._pending: deque[tuple[str, Span, RecordRow]] = deque()  # appends take no lock
        self._queued = self._written = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="triops-guardrail-log",
                                        daemon=True)
        self._thread.start()

    def record(self, project: str, span: Span, row: RecordRow) -> None:
        self._pending.append((project, span, row))
        self._queued += 1

    def flush(self, timeout: float = 10.0) -> bool:
        target, deadline = self._queued, time.monotonic() + timeout
        self._wake.set()
        while self._written < target:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.01)
        return True

    def close(self) -> None:
        if not self._stopping:
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
                while self._pending and len(batch) < 2000:
                    batch.append(self._pending.popleft())
                self._write(batch)
                self._written += len(batch)
            if stopping:
                return

    def _write(self, batch: list[tuple[str, Span, RecordRow]]) -> None:
        from triops.llm.tracing import record_spans
        from triops.ops import ingest

        by_project: dict[str, list[tuple[Span, RecordRow]]] = defaultdict(list)
        for project, span, row in batch:
            by_project[project].append((span, row))
        for project, items in by_project.items():
            signals: list[Signal] = []
            for _, row in items:
                signals += self._monitor.observe(project, row.stream, row.ts_ms / 1000,
                                                 row.data.get("outcome") == "blocked")
            for attempt in range(3):
                try:
                    with self._db.write() as session:
                        record_spans(session, project, [s for s, _ in items])
                        repo.append_checks(session, project, [r for _, r in items])
                        for signal in signals:
                            ingest(session, project, signal)
                    break
                except Exception:
                    if attempt == 2:  # the log says what was lost rather than the writer dying
                        log.exception("could not write %d guardrail checks for project %s",
                                      len(items), project)
                    else:
                        time.sleep(0.5 * (attempt + 1))
