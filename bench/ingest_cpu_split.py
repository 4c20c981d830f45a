"""OTLP gauges over HTTP on one PostgreSQL replica, the machine's CPU split by process.

The gauges configuration of ``bench/scale.py`` alone (``--senders`` x ``--connections``,
50 series x 40 points a request, ``--samples`` in all, one ``triops up`` on a fresh
PostgreSQL database), with the CPU seconds the run took from the replica, from the
PostgreSQL server's processes and from the load clients, the replica's context switches
a request and the machine's busy time (``/proc/stat``): on a small shared machine they
say which of them the wall clock waits for. ``--bare-requests N`` first sends N empty
exports from each connection at once and reports the replica's CPU a request: what the
HTTP and ASGI layers cost a request, apart from parsing, storing and scoring.

    PYTHONPATH=src .venv/bin/python bench/ingest_cpu_split.py
    PYTHONPATH=src .venv/bin/python bench/ingest_cpu_split.py --bare-requests 250
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import Shape, warm_up
from scale_cluster import (
    KEY,
    Replicas,
    collect_worker,
    cpu_s,
    drop_pg_database,
    loadavg,
    new_pg_database,
    spawn_worker,
    start_replicas,
    stop_replicas,
)

HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/x-protobuf"}
_TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> tuple[float, float]:
    """The machine's CPU seconds so far, all and not idle (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields) / _TICK
    return total, total - (fields[3] + fields[4]) / _TICK


def postgres_cpu_s() -> float:
    """CPU seconds so far of the PostgreSQL server's processes (backends included), each
    its own: ``cpu_s`` would count the backends again under the postmaster."""
    pids = subprocess.run(["pgrep", "-x", "postgres"], check=False, capture_output=True,
                          text=True).stdout
    ticks = 0
    for pid in pids.split():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended since pgrep listed it
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / _TICK


def context_switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches so far of all of a process's threads
    (the live ones: a thread pool's threads outlive the run)."""
    voluntary = involuntary = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # the thread ended
            continue
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary


def bare_requests(url: str, pid: int, per_connection: int, connections: int) -> None:
    """An empty export from every connection at once, ``per_connection`` each: the
    replica's CPU a request of everything but the parse, the samples and the store."""

    async def connection() -> None:
        client = Replicas([url], [0.0], timeout_s=60)
        try:
            for _ in range(per_connection):
                status, data, _ = await client.request("POST", "/v1/metrics", b"", HEADERS)
                if status != 200:
                    raise RuntimeError(f"{status} {data[:200]!r}")
        finally:
            client.close()

    async def run() -> None:
        await asyncio.gather(*[connection() for _ in range(connections)])

    before = cpu_s(pid)
    asyncio.run(run())
    spent = cpu_s(pid) - before
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC empty exports: "
          f"{spent / (per_connection * connections) * 1e3:.3f} ms replica CPU a request; "
          f"loadavg {loadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=480_000)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--connections", type=int, default=4, help="per sender")
    parser.add_argument("--bare-requests", type=int, default=0,
                        help="requests that store nothing, a connection, before the run")
    args = parser.parse_args()
    shape = Shape("gauges", 50, 40, False, args.samples, args.senders, args.connections)
    with tempfile.TemporaryDirectory(prefix="triops-cpu-split-") as tmp:
        work = Path(tmp)
        payloads = shape.write(work / "payloads")
        db_name, store = new_pg_database()
        replicas = start_replicas(work / "replica", store, 1, {})
        try:
            url, pid = replicas[0]["url"], replicas[0]["proc"].pid
            warm_up([url])
            if args.bare_requests:
                bare_requests(url, pid, args.bare_requests,
                              args.senders * args.connections)
            start_at = time.time() + 2.0
            load_before = loadavg()
            server, pg, clients = cpu_s(pid), postgres_cpu_s(), os.times()
            switches = context_switches(pid)
            machine = machine_busy_s()
            workers = [spawn_worker("ingest", {"urls": [url], "files": files,
                                               "start_at": start_at}, work / f"w{i}")
                       for i, files in enumerate(payloads)]
            results = [collect_worker(w) for w in workers]
            server, pg = cpu_s(pid) - server, postgres_cpu_s() - pg
            switches = tuple(b - a for a, b in zip(switches, context_switches(pid),
                                                    strict=True))
            after = os.times()  # the workers were waited for: their CPU is the children's
            clients_s = (after.children_user + after.children_system
                         - clients.children_user - clients.children_system)
            total, busy = (b - a for a, b in zip(machine, machine_busy_s(), strict=True))
        finally:
            stop_replicas(replicas)
            drop_pg_database(db_name)
    requests = sum(r["acked"] for r in results)
    samples = requests * shape.per_request
    seconds = max(r["finished_at"] for r in results) - start_at
    per = 1e6 / samples
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC {samples:,} samples in "
          f"{seconds:.1f} s: {samples / seconds:,.0f} samples/s; CPU-s (us a sample): replica "
          f"{server:.2f} ({server * per:.1f}), postgres {pg:.2f} ({pg * per:.1f}), clients "
          f"{clients_s:.2f} ({clients_s * per:.1f}); replica context switches a request "
          f"{switches[0] / requests:.1f} voluntary, {switches[1] / requests:.1f} involuntary; "
          f"machine busy {busy:.1f} of {total:.1f}; "
          f"failed {sum(r['failed'] for r in results)}; loadavg {load_before} -> {loadavg()}")


if __name__ == "__main__":
    main()
