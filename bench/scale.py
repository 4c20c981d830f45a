"""Past one process: OTLP metrics ingest on 1 and 3 replicas, and a soak under failure.

  PYTHONPATH=src .venv/bin/python bench/scale.py [--minutes 10] [--skip-ingest]
      [--skip-soak] [--replicas 1 3] [--work DIR]

**Ingest.** Pre-encoded OTLP/HTTP protobuf ``ExportMetricsServiceRequest`` batches are
POSTed to ``/v1/metrics`` by ``--senders`` client processes of ``--connections``
HTTP/1.1 keep-alive connections each. Every connection owns its series and moves their
timestamps forward, so every point is new. Three shapes (:func:`ingest_plan`): gauges,
``--series`` x ``--points`` per request, stored and scored by each series' streaming
detector, against one ``triops up`` on SQLite, one on PostgreSQL and three on one
PostgreSQL database; the same as counters (stored, not scored: the storage path alone)
on one and three PostgreSQL replicas; and 2,000 series x 1 point per request on one.
With three replicas the clients do the round-robin themselves: every connection holds
one socket per replica and sends each request to the next replica in turn (no proxy
process in between to compete for the CPU). Each replica first gets one small warm-up
request of its own (:func:`warm_up`). The clock runs from the first request
until the last batch is acknowledged (a 200, sent after its commit); the replicas' CPU
time comes from ``/proc``.

**Soak.** Three replicas on one PostgreSQL database, a fake OpenAI upstream
(``triops.llm.gateway.local_upstream`` in its own process) and one served model, for
``--minutes``, with four kinds of paced load, each from its own client process, each
request to the next live replica in turn: MLflow REST tracking (``runs/log-metric`` and
``runs/log-batch``), gateway chat completions, OTLP metrics, predictions on the
endpoint. A monitor on the endpoint runs every ``MONITOR_INTERVAL_S``, scheduled by
whichever replica claims it. Half-way through, one replica is killed with SIGKILL; a
client that cannot reach a replica counts an error and leaves that replica out for
``DOWN_S`` (a load balancer's passive health check). Every client records the writes
that got a 2xx; afterwards each one is looked up through a surviving replica's API
(metric history, series samples, the prediction log), and the monitor's results are
checked for two runs in one schedule slot. RSS of every replica is sampled every
``RSS_EVERY_S``; its slope after the warm-up is a least-squares fit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_cluster import (
    KEY,
    STEP_MS,
    Replicas,
    collect_worker,
    cpu_s,
    drop_pg_database,
    loadavg,
    log,
    metrics_request,
    new_pg_database,
    rss_mb,
    series_of,
    spawn_worker,
    start_replicas,
    stop_replicas,
)
from scale_soak import SOAK_RATES, report_soak, run_soak, soak_worker

ROOT = Path(__file__).resolve().parents[1]
#: Ingest measures how long a batch takes, however long: no client-side give-up.
INGEST_TIMEOUT_S = 600.0

class Shape:
    """What the ingest clients send: ``series`` x ``points`` per request, gauges
    (scored) or counters (stored only), ``samples`` in all from senders x connections."""

    def __init__(self, name: str, series: int, points: int, counter: bool, samples: int,
                 senders: int, connections: int) -> None:
        self.name, self.series, self.points, self.counter = name, series, points, counter
        self.samples, self.senders, self.connections = samples, senders, connections

    @property
    def per_request(self) -> int:
        return self.series * self.points

    def describe(self) -> str:
        kind = "counters (stored, not scored)" if self.counter else "gauges (stored and scored)"
        return (f"{self.name}: {kind}, {self.series} series x {self.points} points per "
                f"request, {self.senders} sender processes x {self.connections} connections")

    def write(self, folder: Path) -> list[list[str]]:
        """Every sender's connections' batches, one file a connection, length-prefixed;
        encoded once, before any clock runs, and sent to every configuration."""
        folder.mkdir()
        per_conn = max(1, self.samples // self.per_request // (self.senders * self.connections))
        base = int(time.time() * 1000) - 86_400_000
        senders = []
        for s in range(self.senders):
            files = []
            for c in range(self.connections):
                labels = series_of(s, c, self.series)
                path = folder / f"{s}-{c}.bin"
                with open(path, "wb") as out:
                    for j in range(per_conn):
                        body = metrics_request(labels, base + j * self.points * STEP_MS,
                                               self.points, "bench-ingest", self.counter)
                        out.write(len(body).to_bytes(4, "big") + body)
                files.append(str(path))
            senders.append(files)
        return senders


def read_frames(data: bytes) -> list[bytes]:
    frames, at = [], 0
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        frames.append(data[at + 4:at + 4 + size])
        at += 4 + size
    return frames


def ingest_worker(spec: dict) -> dict:
    """One sender process: its connections send their pre-encoded batches in order."""
    files = spec["files"]
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-protobuf"}
    acked = [0]
    failures: list[str] = []

    async def caller(path: str) -> None:
        bodies = read_frames(Path(path).read_bytes())
        replicas = Replicas(spec["urls"], down, timeout_s=INGEST_TIMEOUT_S)
        try:
            for body in bodies:
                status, data, _ = await replicas.request("POST", "/v1/metrics", body, headers)
                if status == 200:
                    acked[0] += 1
                else:
                    failures.append(f"{status} {data[:200]!r}")
        finally:
            replicas.close()

    async def run() -> float:
        while time.time() < spec["start_at"]:
            await asyncio.sleep(0.005)
        t0 = time.perf_counter()
        await asyncio.gather(*[caller(f) for f in files])
        return time.perf_counter() - t0

    down = [0.0] * len(spec["urls"])
    seconds = asyncio.run(run())
    return {"acked": acked[0], "failures": failures[:5], "failed": len(failures),
            "seconds": seconds, "finished_at": time.time()}


def warm_up(urls: list[str]) -> None:
    """One small scored request to each replica before the clock starts, on a series of
    its own: a process's one-time costs (imports, loading the detectors' compiled loops)
    are not the ingest's."""
    body = metrics_request([{"host": "warm-up", "core": "0"}], 1_600_000_000_000, 40,
                           "bench-warm-up")
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-protobuf"}
    for url in urls:
        httpx.post(f"{url}/v1/metrics", content=body, headers=headers,
                   timeout=120).raise_for_status()


def run_ingest(work: Path, shape: Shape, payloads: list[list[str]], backend: str, store: str,
               n_replicas: int) -> dict:
    name = f"{shape.name}-{backend}-{n_replicas}"
    replicas = start_replicas(work / name, store, n_replicas, {})
    try:
        urls = [r["url"] for r in replicas]
        per_request = shape.per_request
        specs = [{"urls": urls, "files": files} for files in payloads]
        warm_up(urls)
        start_at = time.time() + 2.0
        load_before = loadavg()
        cpu_before = sum(cpu_s(r["proc"].pid) for r in replicas)
        procs = [spawn_worker("ingest", {**spec, "start_at": start_at}, work / name / f"w{i}")
                 for i, spec in enumerate(specs)]
        results = [collect_worker(p) for p in procs]
        server_cpu = sum(cpu_s(r["proc"].pid) for r in replicas) - cpu_before
        load_after = loadavg()
        acked = sum(r["acked"] for r in results)
        failed = sum(r["failed"] for r in results)
        seconds = max(r["finished_at"] for r in results) - start_at
        rss = [rss_mb(r["proc"].pid) for r in replicas]
        out = {"name": name, "shape": shape.name, "backend": backend, "replicas": n_replicas,
               "requests": acked, "failed": failed,
               "samples": acked * per_request, "seconds": seconds,
               "samples_per_s": acked * per_request / seconds, "rss_mb": rss,
               "server_cpu_s": server_cpu, "samples_per_cpu_s": acked * per_request / server_cpu,
               "load_before": load_before, "load_after": load_after,
               "failures": [f for r in results for f in r["failures"]][:3]}
        log(f"ingest {name}: {out}")
        return out
    finally:
        stop_replicas(replicas)


# -- replicas ---------------------------------------------------------------------------


def ingest_plan(args: argparse.Namespace) -> list[tuple[Shape, list[tuple[str, int]]]]:
    """Gauges on every configuration; counters, to see the storage path without the
    detectors; and many series of one point each (a collector's usual batch), short."""
    both = [("postgresql", 1), ("postgresql", 3)]
    plan = [(Shape("gauges", args.series, args.points, False, args.ingest_samples,
                   args.senders, args.connections), [("sqlite", 1), *both]),
            (Shape("counters", args.series, args.points, True, args.ingest_samples,
                   args.senders, args.connections), both)]
    if args.wide_samples:
        plan.append((Shape("wide", 2000, 1, False, args.wide_samples, 1, 2),
                     [("postgresql", 1)]))
    return plan


def report_ingest(ingest: list[dict], args: argparse.Namespace) -> None:
    print("\nOTLP metrics ingest (samples acknowledged after commit)\n")
    for shape, _ in ingest_plan(args):
        print(f"* {shape.describe()}")
    print("\n| shape | store | replicas | samples | seconds | samples/s "
          "| samples per server CPU-s | failed requests | RSS per replica MB "
          "| loadavg before → after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in ingest:
        print(f"| {r['shape']} | {r['backend']} | {r['replicas']} | {r['samples']:,} | "
              f"{r['seconds']:.1f} | {r['samples_per_s']:,.0f} | "
              f"{r['samples_per_cpu_s']:,.0f} | {r['failed']} | "
              f"{' / '.join(f'{m:.0f}' for m in r['rss_mb'])} | "
              f"{r['load_before'].split()[0]} → {r['load_after'].split()[0]} |")
    for shape in ("gauges", "counters"):
        one, three = (next((r for r in ingest if r["name"] == f"{shape}-postgresql-{n}"),
                           None) for n in (1, 3))
        if one and three:
            print(f"\n{shape}: 3 replicas / 1 replica (PostgreSQL): "
                  f"{three['samples_per_s'] / one['samples_per_s']:.2f}x samples/s")


def worker_main(kind: str, spec: dict, out: Path) -> None:
    result = ingest_worker(spec) if kind == "ingest" else asyncio.run(soak_worker(kind, spec))
    out.write_text(json.dumps(result))


# -- soak load ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length")
    parser.add_argument("--ingest-samples", type=int, default=160_000,
                        help="samples sent to each ingest configuration")
    parser.add_argument("--series", type=int, default=50, help="series per request")
    parser.add_argument("--points", type=int, default=40, help="points per series per request")
    parser.add_argument("--senders", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=4, help="connections per sender")
    parser.add_argument("--wide-samples", type=int, default=8_000,
                        help="samples of the 2000-series x 1-point shape (0: skip it)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 3],
                        help="replica counts of the ingest configurations to run")
    parser.add_argument("--soak-kinds", nargs="+", choices=sorted(SOAK_RATES),
                        default=list(SOAK_RATES),
                        help="the soak's kinds of load (default: all; one alone shows which "
                             "one a replica's memory grows with)")
    parser.add_argument("--no-kill", dest="kill", action="store_false",
                        help="keep all three replicas up through the soak")
    parser.add_argument("--gateway-cache-ttl", type=float,
                        help="the gateway's answer cache TTL, s (default: the server's, 300); "
                             "a shorter one reaches its steady size within the warm-up")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--work", type=Path,
                        help="keep servers' homes and logs here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "scale.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker.removeprefix("soak-") if args.worker != "ingest" else "ingest",
                    json.loads(args.spec), args.worker_out)
        return
    log(f"loadavg {loadavg()}")
    ingest: list[dict] = []
    soak = None
    with tempfile.TemporaryDirectory(prefix="triops-scale-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not args.skip_ingest:
            for shape, configs in ingest_plan(args):
                payloads = shape.write(work / f"payloads-{shape.name}")
                for backend, n in configs:
                    if n not in args.replicas:
                        continue
                    if backend == "sqlite":
                        ingest.append(run_ingest(work, shape, payloads, backend,
                                                 f"sqlite:///{work / f'{shape.name}.db'}", n))
                        continue
                    db_name, store = new_pg_database()
                    try:
                        ingest.append(run_ingest(work, shape, payloads, backend, store, n))
                    finally:
                        drop_pg_database(db_name)
        if not args.skip_soak:
            soak_dir = work / "soak-run"
            soak_dir.mkdir()
            soak = run_soak(args, soak_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"ingest": ingest, "soak": soak}, indent=1))
    if ingest:
        report_ingest(ingest, args)
    if soak:
        report_soak(soak)


if __name__ == "__main__":
    main()
