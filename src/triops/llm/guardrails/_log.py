"""Writes guardrail spans and check records off the request path, in batches.

An engine inside a gateway hands its checks to the gateway's own recorder (one writer,
one transaction with the call's span); an engine on its own takes this writer, which
feeds each check to the block-rate spike check and ingests the signals it raises.
``close()`` drains.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from triops.core.signals import Signal
from triops.llm.guardrails.spikes import BlockRateSpikes
from triops.llm.spans import Span
from triops.llm.tracing import record_spans
from triops.ops import ingest
from triops.store.batch_writer import BatchWriter
from triops.store.engine import Database
from triops.store.records import RecordRow
from triops.store.repos import guardrails as repo


def observe(spikes: BlockRateSpikes, project: str, row: RecordRow) -> list[Signal]:
    """Count one check record in its rule's block rate; the signals of windows it closed."""
    return spikes.observe(project, row.stream, row.ts_ms / 1000,
                          row.data.get("outcome") == "blocked")


class CheckLog(BatchWriter[tuple[Span, RecordRow]]):
    """Guardrail spans and check records, each check fed to the block-rate spike check."""

    def __init__(self, db: Database, spikes: BlockRateSpikes, interval_s: float = 0.25
                 ) -> None:
        self._spikes = spikes
        super().__init__(db, name="triops-guardrail-log", interval_s=interval_s)

    def record(self, project: str, span: Span, row: RecordRow) -> None:
        self.enqueue(project, (span, row))

    def prepare(self, project: str, items: list[tuple[Span, RecordRow]]) -> list[Signal]:
        return [signal for _, row in items for signal in observe(self._spikes, project, row)]

    def persist(self, session: Session, project: str, items: list[tuple[Span, RecordRow]],
                signals: list[Signal]) -> None:
        record_spans(session, project, [span for span, _ in items])
        repo.append_checks(session, project, [row for _, row in items])
        for signal in signals:
            ingest(session, project, signal)
