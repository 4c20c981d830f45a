"""Writes gateway spans, guardrail check records and signals off the request path, in
batches, from one thread.

Requests only put a finished span on a queue (no I/O). A background thread writes
what has queued every ``interval_s`` in one transaction per project, feeds each call
to the route-health check (and each guardrail check to ``observe_check``, the block-rate
spike check), and ingests the signals they raise. A call's own span and the spans and
records of the checks its guardrails ran usually land in one batch: one transaction,
and one upsert of the trace's summary instead of one per writer. ``close()`` drains
the queue, so spans acknowledged to clients are written before the server exits.
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
from triops.store.records import RecordRow
from triops.store.repos import guardrails as checks_repo


class Recorder(BatchWriter[tuple[Span, RecordRow | None]]):
    """Gateway spans, each fed to the route-health check as one call, and guardrail
    checks (a span and a check record each), which are not calls."""

    def __init__(self, db: Database, *, interval_s: float = 0.25,
                 observe: Callable[[str, Span], list[Signal]] | None = None,
                 observe_check: Callable[[str, RecordRow], list[Signal]] | None = None
                 ) -> None:
        self._observe = observe
        self.observe_check = observe_check
        super().__init__(db, name="triops-gateway-recorder", interval_s=interval_s)

    def record(self, project: str, span: Span, check: RecordRow | None = None) -> None:
        """Queue a call's span, or (with ``check``) a guardrail check's span and record."""
        self.enqueue(project, (span, check))

    def prepare(self, project: str, items: list[tuple[Span, RecordRow | None]]
                ) -> list[Signal]:
        signals: list[Signal] = []
        for span, check in items:
            if check is None:
                if self._observe is not None:
                    signals += self._observe(project, span)
            elif self.observe_check is not None:
                signals += self.observe_check(project, check)
        return signals

    def persist(self, session: Session, project: str,
                items: list[tuple[Span, RecordRow | None]], signals: list[Signal]) -> None:
        record_spans(session, project, [span for span, _ in items])
        checks = [check for _, check in items if check is not None]
        if checks:
            checks_repo.append_checks(session, project, checks)
        for signal in signals:
            ingest(session, project, signal)
