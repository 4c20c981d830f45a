"""Retention: how long each project keeps its telemetry, and the duty that enforces it.

A policy names ages (absent: kept for ever):

* ``metrics_raw``: raw samples older than this are folded into 5-minute rollups (min,
  max, sum, count per bucket and series) and deleted; reads over that range return the
  rollups' means (:func:`triops.ops.telemetry.read_series`);
* ``metrics_rollup``: rollups older than this are deleted;
* ``logs``: log lines older than this are deleted;
* ``traces``: spans that started, and traces (summary and scores) that ended, before
  this are deleted.

Enforcement is a duty of every server (:class:`Retention`, driven by the server's duty
loop): replicas over one store each find a policy due, and a compare-and-set on its
``last_run_ms`` gives each enforcement to exactly one of them. Each series is folded in
its own transaction, so a replica that dies mid-way leaves every series either folded
or untouched, never both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ops.capacity import parse_duration
from triops.ops.logs import LOG
from triops.ops.telemetry import ROLLUP, ROLLUP_MS, SAMPLE, fold_series
from triops.store import records
from triops.store.engine import Database
from triops.store.repos import llm_traces
from triops.store.repos import retention as repo

log = logging.getLogger("triops.ops.retention")

_FIELDS = ("metrics_raw", "metrics_rollup", "logs", "traces")


@dataclass(frozen=True)
class RetentionPolicy:
    """Ages in seconds; None keeps that data for ever."""

    metrics_raw: int | None = None
    metrics_rollup: int | None = None
    logs: int | None = None
    traces: int | None = None

    @classmethod
    def of(cls, spec: dict[str, Any]) -> RetentionPolicy:
        """A policy from durations such as ``"7d"``, ``"90d"`` or seconds.

        >>> RetentionPolicy.of({"metrics_raw": "7d", "metrics_rollup": "90d"}).metrics_raw
        604800
        """
        unknown = set(spec) - set(_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown retention field(s) {sorted(unknown)}; "
                               f"known: {', '.join(_FIELDS)}")
        ages = {name: None if spec.get(name) is None else parse_duration(spec[name])
                for name in _FIELDS}
        policy = cls(**ages)
        if policy.metrics_raw is not None and policy.metrics_raw < ROLLUP_MS // 1000:
            raise InvalidInput("metrics_raw must be at least 5m: raw samples are folded into "
                               "5-minute rollups")
        if (policy.metrics_rollup is not None and policy.metrics_raw is not None
                and policy.metrics_rollup < policy.metrics_raw):
            raise InvalidInput(f"metrics_rollup ({policy.metrics_rollup} s) must not be "
                               f"shorter than metrics_raw ({policy.metrics_raw} s)")
        return policy

    def spec(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class Report:
    samples_folded: int = 0
    rollups_written: int = 0
    rollups_deleted: int = 0
    logs_deleted: int = 0
    spans_deleted: int = 0


def enforce(db: Database, project: str, policy: RetentionPolicy, at_ms: int) -> Report:
    """Apply ``policy`` to ``project`` as of ``at_ms``; one transaction per series and
    per kind, so the store stays usable while a long backlog is worked through."""
    report = Report()
    if policy.metrics_raw is not None:
        cutoff = at_ms - policy.metrics_raw * 1000
        cutoff -= cutoff % ROLLUP_MS  # whole buckets only: a bucket is folded once
        with db.read() as session:
            keys = records.streams(session, project, SAMPLE)
        for key in keys:
            with db.write() as session:
                folded, written = fold_series(session, project, key, cutoff)
            report.samples_folded += folded
            report.rollups_written += written
    if policy.metrics_rollup is not None:
        with db.write() as session:
            report.rollups_deleted = records.delete_before(
                session, project, ROLLUP, at_ms - policy.metrics_rollup * 1000)
    if policy.logs is not None:
        with db.write() as session:
            report.logs_deleted = records.delete_before(
                session, project, LOG, at_ms - policy.logs * 1000)
    if policy.traces is not None:
        with db.write() as session:
            report.spans_deleted = llm_traces.delete_before(
                session, project, at_ms - policy.traces * 1000)
    return report


class Retention:
    """The duty: enforce each project's policy at most once per ``every_s`` across all
    replicas. ``clock`` returns epoch seconds (tests pass a fake one)."""

    def __init__(self, db: Database, every_s: float = 3600.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.db, self.every_ms = db, int(every_s * 1000)
        self.clock = clock

    def _now_ms(self) -> int:
        return now_ms() if self.clock is None else int(self.clock() * 1000)

    def run_due(self) -> int:
        """Enforce the due policies this process claimed; returns how many."""
        at = self._now_ms()
        with self.db.read() as session:
            due = [(r.project, r.last_run_ms, r.spec) for r in repo.due(session, at, self.every_ms)]
        done = 0
        for project, seen, spec in due:
            with self.db.write() as session:
                if not repo.claim(session, project, seen, at):
                    continue
            error, report = "", Report()
            try:
                report = enforce(self.db, project, RetentionPolicy.of(spec), at)
            except Exception as exc:
                # A policy that failed once is tried again next period; the error is
                # shown with the policy, and the other projects still get enforced.
                log.exception("retention of project %s failed", project)
                error = f"{type(exc).__name__}: {exc}"[:2000]
            with self.db.write() as session:
                repo.finish(session, project, {**asdict(report), "at_ms": at}, error)
            done += 1
        return done

    def close(self) -> None:
        """Nothing to release: every enforcement opens and closes its own sessions."""
