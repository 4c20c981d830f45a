"""Store bytes before and after retention, on SQLite.

Loads ``--days`` of synthetic telemetry ending now into a fresh store — samples on
``--series`` series every ``--step-s`` seconds, log lines and single-span traces — then
enforces a policy (raw samples ``--raw``, rollups ``--rollup``, logs and traces
``--raw``). Sizes are the file after ``VACUUM`` (page count × page size); each kind's
share is the growth its load caused, and the samples' share after enforcement is what
remains once the empty store and the logs and spans are taken away.

    .venv/bin/python bench/retention.py --days 14 --series 20 --step-s 15
"""

from __future__ import annotations

import argparse
import math
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from triops.llm.spans import Span
from triops.llm.tracing import record_spans
from triops.ops import logs as ops_logs
from triops.ops.capacity import parse_duration
from triops.ops.retention import RetentionPolicy, enforce
from triops.ops.telemetry import MetricSample, append_samples
from triops.store.engine import Database
from triops.store.migrate import upgrade

DAY_MS = 86_400_000
BATCH = 50_000


def size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        conn.execute("VACUUM")
        pages, page = conn.execute("PRAGMA page_count").fetchone()[0], conn.execute(
            "PRAGMA page_size").fetchone()[0]
    return pages * page


def load_samples(db: Database, start_ms: int, end_ms: int, series: int, step_ms: int) -> int:
    n, batch = 0, []
    for ts in range(start_ms, end_ms, step_ms):
        for s in range(series):
            # A daily cycle plus a little per-series wobble: realistic float digits.
            value = 50 + 20 * math.sin(2 * math.pi * ts / DAY_MS + s) + (ts // step_ms % 7) * 0.37
            batch.append(MetricSample("http_latency_ms", ts, round(value, 3),
                                      {"service": f"svc-{s:02d}", "route": "/api/orders"}))
        if len(batch) >= BATCH:
            with db.write() as session:
                n += append_samples(session, "default", batch)
            batch = []
    with db.write() as session:
        n += append_samples(session, "default", batch)
    return n


def load_logs(db: Database, start_ms: int, end_ms: int, every_ms: int) -> int:
    lines = [ops_logs.LogLine(stream="api", ts_ms=ts, severity="INFO",
                              body=f"GET /api/orders/{ts % 9973} 200 in {ts % 170} ms")
             for ts in range(start_ms, end_ms, every_ms)]
    for i in range(0, len(lines), BATCH):
        with db.write() as session:
            ops_logs.ingest_lines(session, "default", lines[i:i + BATCH])
    return len(lines)


def load_spans(db: Database, start_ms: int, end_ms: int, every_ms: int) -> int:
    spans = [Span(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", name="chat gpt-4o-mini",
                  start_ns=ts * 1_000_000, end_ns=(ts + 850) * 1_000_000,
                  attributes={"gen_ai.request.model": "gpt-4o-mini",
                              "gen_ai.usage.input_tokens": 412, "gen_ai.usage.output_tokens": 96},
                  service_name="support-bot")
             for i, ts in enumerate(range(start_ms, end_ms, every_ms))]
    for i in range(0, len(spans), BATCH):
        with db.write() as session:
            record_spans(session, "default", spans[i:i + BATCH])
    return len(spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--step-s", type=int, default=15)
    parser.add_argument("--log-every-s", type=int, default=10)
    parser.add_argument("--span-every-s", type=int, default=30)
    parser.add_argument("--raw", default="7d")
    parser.add_argument("--rollup", default="90d")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="triops-retention-"))
    path = home / "triops.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    now = int(time.time() * 1000)
    start = now - args.days * DAY_MS
    empty = size(path)

    began = time.perf_counter()
    samples = load_samples(db, start, now, args.series, args.step_s * 1000)
    with_samples = size(path)
    lines = load_logs(db, start, now, args.log_every_s * 1000)
    with_logs = size(path)
    spans = load_spans(db, start, now, args.span_every_s * 1000)
    loaded = size(path)
    load_s = time.perf_counter() - began
    sample_bytes = with_samples - empty
    log_bytes, span_bytes = with_logs - with_samples, loaded - with_logs

    began = time.perf_counter()
    metrics = enforce(db, "default", RetentionPolicy.of(
        {"metrics_raw": args.raw, "metrics_rollup": args.rollup}), now)
    metrics_s = time.perf_counter() - began
    metrics_done = size(path)
    began = time.perf_counter()
    others = enforce(db, "default", RetentionPolicy.of(
        {"logs": args.raw, "traces": args.raw}), now)
    others_s = time.perf_counter() - began
    done = size(path)
    db.dispose()

    kept_raw = samples - metrics.samples_folded
    samples_after = metrics_done - empty - log_bytes - span_bytes
    print(f"{args.days} days, {args.series} series every {args.step_s} s, a log line every "
          f"{args.log_every_s} s, a span every {args.span_every_s} s; policy raw {args.raw} "
          f"(= {parse_duration(args.raw) // 86400} d), rollups {args.rollup}")
    print(f"loaded {samples:,} samples, {lines:,} log lines, {spans:,} spans in {load_s:.1f} s")
    print(f"store after VACUUM: empty {empty:,} B; loaded {loaded:,} B "
          f"(samples {sample_bytes:,}, logs {log_bytes:,}, spans {span_bytes:,})")
    print(f"bytes per raw sample {sample_bytes / samples:.1f}, per log line "
          f"{log_bytes / lines:.1f}, per span {span_bytes / spans:.1f}")
    print(f"metrics retention: {metrics.samples_folded:,} samples folded into "
          f"{metrics.rollups_written:,} 5-minute rollups in {metrics_s:.1f} s; logs and traces: "
          f"{others.logs_deleted:,} lines, {others.spans_deleted:,} spans deleted in "
          f"{others_s:.1f} s")
    print(f"samples after: {samples_after:,} B for {kept_raw:,} raw + "
          f"{metrics.rollups_written:,} rollups = {samples_after / samples:.1f} B per loaded "
          f"sample ({sample_bytes / samples_after:.2f}x smaller)")
    rollup_bytes = samples_after - kept_raw * sample_bytes / samples
    if metrics.rollups_written:
        print(f"a rollup row: {rollup_bytes / metrics.rollups_written:.1f} B, "
              f"{rollup_bytes / metrics.samples_folded:.1f} B per sample it stands for")
    print(f"store after enforcement: {done:,} B ({loaded / done:.2f}x smaller than loaded)")


if __name__ == "__main__":
    main()
