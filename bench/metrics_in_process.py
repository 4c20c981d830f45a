"""OTLP metrics intake in process: server CPU per sample, by step, without HTTP.

The gauge workload of ``bench/scale.py`` (8 connections x 50 series, 40 points a series a
request) run through what ``POST /v1/metrics`` runs — protobuf parse, ``translate``,
``store_samples`` in one write transaction, the commit — on a fresh store, one request
after another in one thread. CPU per sample (``time.process_time``) is taken over the
steady rounds only (by default rounds 26-33: points 1,040-1,359 of each series, the
discord's window full and the 1,000-point checkpoint behind), which a shared machine's
load disturbs far less than wall time.

    PYTHONPATH=src .venv/bin/python bench/metrics_in_process.py --store postgresql
    PYTHONPATH=src .venv/bin/python bench/metrics_in_process.py --store sqlite --profile out.prof
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_cluster import PG_ADMIN, STEP_MS, loadavg, metrics_request, series_of

CONNECTIONS, SERIES, POINTS = 8, 50, 40


def payloads(rounds: int) -> list[list[bytes]]:
    """Each round's requests, one per connection, every series moving forward."""
    base = int(time.time() * 1000) - 86_400_000
    labels = [series_of(0, c, SERIES) for c in range(CONNECTIONS)]
    return [[metrics_request(labels[c], base + r * POINTS * STEP_MS, POINTS, "bench-ingest")
             for c in range(CONNECTIONS)] for r in range(rounds)]


def run(store: str, rounds: list[list[bytes]], steady: range, profile: str | None) -> dict:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    from triops.core.settings import Settings
    from triops.ops import otlp_metrics
    from triops.ops.detection import DetectorCache
    from triops.ops.sample_intake import store_samples
    from triops.store import Database, upgrade_schema

    with tempfile.TemporaryDirectory() as home:
        url = store if store != "sqlite" else f"sqlite:///{home}/t.db"
        db = Database(url)
        upgrade_schema(db.engine)
        cache = DetectorCache()
        interval = Settings(home=Path(home)).capacity_interval_s * 1000
        clock = time.process_time
        steps = dict.fromkeys(("parse", "translate", "store", "commit"), 0.0)
        samples = 0
        profiler = cProfile.Profile(clock) if profile else None
        for r, requests in enumerate(rounds):
            counted = r in steady
            if counted and profiler is not None:
                profiler.enable()
            for body in requests:
                t0 = clock()
                message = ExportMetricsServiceRequest()
                message.ParseFromString(body)
                t1 = clock()
                batch = otlp_metrics.translate(message)
                t2 = clock()
                with db.write() as session:
                    store_samples(session, "default", batch.samples, unscored=batch.unscored,
                                  cache=cache, capacity_interval_ms=interval)
                    t3 = clock()
                t4 = clock()
                if counted:
                    steps["parse"] += t1 - t0
                    steps["translate"] += t2 - t1
                    steps["store"] += t3 - t2
                    steps["commit"] += t4 - t3
                    samples += len(batch.samples)
            if counted and profiler is not None:
                profiler.disable()
        db.dispose()
        if profiler is not None:
            profiler.dump_stats(profile)
    return {"samples": samples, **steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", default="postgresql",
                        help="'sqlite', 'postgresql' (a fresh database on the local "
                             "server) or a SQLAlchemy URL")
    parser.add_argument("--rounds", type=int, default=34)
    parser.add_argument("--steady-from", type=int, default=26)
    parser.add_argument("--profile", default=None,
                        help="write a cProfile of the steady rounds to this file")
    args = parser.parse_args()
    rounds = payloads(args.rounds)
    created = None
    store = args.store
    if store == "postgresql":
        created = f"triops_inproc_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{created}"')
        store = f"postgresql+psycopg://postgres@127.0.0.1:5432/{created}"
    before = loadavg()
    try:
        result = run(store, rounds, range(args.steady_from, args.rounds), args.profile)
    finally:
        if created:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
    n = result.pop("samples")
    total = sum(result.values())
    steps = ", ".join(f"{k} {v / n * 1e6:.1f}" for k, v in result.items())
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC {args.store}: {n} steady samples, "
          f"{total / n * 1e6:.1f} us CPU per sample ({steps}); "
          f"loadavg {before} -> {loadavg()}")


if __name__ == "__main__":
    main()
