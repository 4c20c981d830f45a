"""Writes gateway spans and signals off the request path, in batches, from one thread.

Requests only put a finished span on a queue (no I/O). A background thread writes
what has queued every ``interval_s`` in one transaction per project, feeds each call
to the route-health check, and ingests the signals it raises. ``close()`` drains the
queue, so spans acknowledged to clients are written before the server exits.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from triops.core.signals import Signal
from triops.llm.spans import Span
from triops.llm.tracing import record_spans
from triops.ops import ingest
from triops.store.batch_writer import BatchWriter
from triops.store.engine import Database


class Recorder(BatchWriter[Span]):
    """Gateway spans, each also fed to the route-health check as one call."""

    def __init__(self, db: Database, *, interval_s: float = 0.25,
                 observe: Callable[[str, Span], list[Signal]] | None = None) -> None:
        self._observe = observe
        super().__init__(db, name="triops-gateway-recorder", interval_s=interval_s)

    def record(self, project: str, span: Span) -> None:
        self.enqueue(project, span)

    def prepare(self, project: str, spans: list[Span]) -> list[Signal]:
        if self._observe is None:
            return []
        return [signal for span in spans for signal in self._observe(project, span)]

    def persist(self, session: Session, project: str, spans: list[Span],
                signals: list[Signal]) -> None:
        record_spans(session, project, spans)
        for signal in signals:
            ingest(session, project, signal)
