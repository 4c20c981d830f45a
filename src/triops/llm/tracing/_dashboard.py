"""Dashboard figures over a time window: per time bucket, per model and per key."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from triops.store.repos import llm_traces as repo

#: Dashboards read at most this many traces of the window; the page says when it is cut.
MAX_TRACES = 200_000


@dataclass(frozen=True)
class Stats:
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    tokens: int
    cost: float


@dataclass(frozen=True)
class Dashboard:
    start_ms: int
    end_ms: int
    bucket_ms: int
    #: One ``Stats`` per bucket, oldest first; bucket i starts at start_ms + i * bucket_ms.
    buckets: list[Stats]
    by_model: dict[str, Stats]
    by_key: dict[str, Stats]
    #: Per model, one ``Stats`` per bucket, for the per-model lines of the charts.
    model_buckets: dict[str, list[Stats]]
    total: Stats
    truncated: bool


def _stats(rows: list[tuple]) -> Stats:  # type: ignore[type-arg]
    if not rows:
        return Stats(0, 0, 0.0, 0.0, 0, 0.0)
    durations = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows)) / 1e6
    p50, p95 = np.percentile(durations, [50, 95])
    return Stats(
        requests=len(rows),
        errors=sum(1 for r in rows if r[2]),
        p50_ms=float(p50), p95_ms=float(p95),
        tokens=int(sum(r[5] for r in rows)),
        cost=float(sum(r[6] for r in rows)),
    )


def _group(rows: list[tuple], column: int) -> dict[str, list[tuple]]:  # type: ignore[type-arg]
    groups: dict[str, list[tuple]] = {}  # type: ignore[type-arg]
    for r in rows:
        groups.setdefault(r[column] or "(none)", []).append(r)
    return groups


def dashboard(session: Session, project: str, start_ms: int, end_ms: int,
              buckets: int = 24) -> Dashboard:
    buckets = max(1, buckets)
    bucket_ms = max(1, -(-(end_ms - start_ms) // buckets))
    rows = repo.window(session, project, start_ms * 1_000_000, end_ms * 1_000_000, MAX_TRACES)

    def split(part: list[tuple]) -> list[Stats]:  # type: ignore[type-arg]
        slots: list[list[tuple]] = [[] for _ in range(buckets)]  # type: ignore[type-arg]
        for r in part:
            slots[min(buckets - 1, (r[0] // 1_000_000 - start_ms) // bucket_ms)].append(r)
        return [_stats(s) for s in slots]

    models = _group(rows, 3)
    return Dashboard(
        start_ms=start_ms, end_ms=end_ms, bucket_ms=bucket_ms,
        buckets=split(rows),
        by_model={k: _stats(v) for k, v in sorted(models.items())},
        by_key={k: _stats(v) for k, v in sorted(_group(rows, 4).items())},
        model_buckets={k: split(v) for k, v in sorted(models.items())},
        total=_stats(rows),
        truncated=len(rows) >= MAX_TRACES,
    )
