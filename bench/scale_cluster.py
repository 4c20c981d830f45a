"""Replicas of ``triops up`` on one store, and the load side that talks to them: a
minimal HTTP/1.1 client with client-side round-robin, OTLP payloads, worker processes,
and the replicas' memory and CPU as ``/proc`` reports them. Used by ``bench/scale.py``
and ``bench/scale_soak.py``."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
from raw_http import read_response

KEY = "tri_bench_admin_key_0123456789abcdef"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: The script a load worker process runs (``--worker``).
SCRIPT = Path(__file__).with_name("scale.py")
#: The replicas run this repository's code, whatever the caller's PYTHONPATH (a relative
#: one would not reach them: they run in their own folders).
SRC = Path(__file__).resolve().parents[1] / "src"
#: How long a client leaves out a replica it could not reach (a load balancer's
#: passive health check).
DOWN_S = 2.0
#: A soak request unanswered this long counts as an error.
REQUEST_TIMEOUT_S = 30.0
#: Reopen a keep-alive socket idle longer than this, ahead of the server's 5 s timeout.
IDLE_S = 3.0
#: Points of one series in one request are this far apart (a 10 s scrape interval).
STEP_MS = 10_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


# -- OTLP payloads -------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[scale] {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def series_of(sender: int, conn: int, n_series: int) -> list[dict[str, str]]:
    return [{"host": f"h{sender}-{conn}", "core": str(s)} for s in range(n_series)]


def metrics_request(labels: list[dict[str, str]], first_ts_ms: int, points: int,
                    service: str, counter: bool = False) -> bytes:
    """One export request: a gauge ``bench.cpu`` for every label set, ``points`` points
    each from ``first_ts_ms`` on, a smooth curve so that detectors stay quiet; with
    ``counter``, a monotonic cumulative sum ``bench.requests`` instead (stored, not
    scored: the storage path alone)."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE

    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.append(KeyValue(key="service.name",
                                           value=AnyValue(string_value=service)))
    metric = rm.scope_metrics.add().metrics.add(name="bench.requests" if counter
                                                else "bench.cpu")
    if counter:
        metric.sum.is_monotonic = True
        metric.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
    points_of = metric.sum.data_points if counter else metric.gauge.data_points
    for n, attrs in enumerate(labels):
        kvs = [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items()]
        for p in range(points):
            ts = first_ts_ms + p * STEP_MS
            value = ts / 1000.0 if counter else 50 + 10 * math.sin(ts / 3_600_000 + n)
            point = points_of.add(time_unix_nano=ts * 1_000_000, as_double=value)
            point.attributes.extend(kvs)
    return req.SerializeToString()


def series_keys(labels: list[dict[str, str]], service: str) -> list[str]:
    from triops.ops.telemetry import series_key

    return [series_key("bench_cpu", {**attrs, "service_name": service}) for attrs in labels]


# -- a minimal HTTP/1.1 client over several replicas ------------------------------------
# The load generators speak HTTP/1.1 on asyncio streams: httpx costs ~10x more CPU per
# request than a trivial server route (see bench/serving.py), and on two cores the
# client would be what is measured.


class Replicas:
    """Round-robin over replica URLs, leaving out for ``DOWN_S`` one that refused a
    connection; one keep-alive socket per replica for the caller that owns it."""

    def __init__(self, urls: list[str], down_until: list[float],
                 timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.hosts = [urlsplit(u) for u in urls]
        self.timeout_s = timeout_s
        self.down_until = down_until  # shared by the callers of one process
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = (
            [None] * len(urls))
        self.used = [0.0] * len(urls)
        self.next = random.randrange(len(urls))

    def pick(self) -> int | None:
        now = time.monotonic()
        for _ in range(len(self.hosts)):
            i = self.next
            self.next = (self.next + 1) % len(self.hosts)
            if self.down_until[i] <= now:
                return i
        return None

    def drop(self, i: int) -> None:
        stream = self.streams[i]
        self.streams[i] = None
        if stream is not None:
            stream[1].close()

    async def send(self, i: int, method: str, path: str, body: bytes,
                   headers: dict[str, str]) -> tuple[int, bytes]:
        # A server closes a keep-alive connection idle past its timeout (uvicorn: 5 s);
        # such a socket is opened afresh instead of failing the request sent on it.
        if self.streams[i] is not None and (
                self.streams[i][0].at_eof() or time.monotonic() - self.used[i] > IDLE_S):
            self.drop(i)
        if self.streams[i] is None:
            host = self.hosts[i]
            self.streams[i] = await asyncio.open_connection(host.hostname, host.port)
        reader, writer = self.streams[i]
        host = self.hosts[i]
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host.netloc}\r\n{head}"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        response = await read_response(reader)
        self.used[i] = time.monotonic()
        return response

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]
                      ) -> tuple[int | str, bytes, int | None]:
        """(status or the transport error's name, body, replica index)."""
        i = self.pick()
        if i is None:
            await asyncio.sleep(0.1)
            return "no_live_replica", b"", None
        try:
            status, data = await asyncio.wait_for(self.send(i, method, path, body, headers),
                                                  self.timeout_s)
        except (OSError, asyncio.IncompleteReadError, TimeoutError,
                asyncio.LimitOverrunError, ValueError) as exc:
            self.drop(i)
            self.down_until[i] = time.monotonic() + DOWN_S
            return type(exc).__name__, b"", i
        return status, data, i

    def close(self) -> None:
        for i in range(len(self.streams)):
            self.drop(i)


# -- ingest ----------------------------------------------------------------------------


def new_pg_database() -> tuple[str, str]:
    name = f"triops_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_replica(home: Path, store: str, env: dict[str, str], artifacts: Path) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with open(home / "server.log", "ab") as log_file:  # the child keeps its own handle
        proc = subprocess.Popen(
            [sys.executable, "-m", "triops", "up", "--port", str(port), "--store", store,
             "--home", str(home), "--artifacts", str(artifacts), "--log-level", "warning"],
            env={**os.environ, "TRIOPS_ADMIN_KEY": KEY,
                 "PYTHONPATH": os.pathsep.join(
                     [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])]),
                 **env}, stdout=log_file,
            stderr=subprocess.STDOUT, cwd=home)
    return {"proc": proc, "url": f"http://127.0.0.1:{port}", "home": home}


def wait_ready(replica: dict, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replica["proc"].poll() is not None:
            tail = (replica["home"] / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"replica exited early:\n{tail}")
        try:
            if httpx.get(f"{replica['url']}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{replica['url']} not ready after {timeout}s")


def start_replicas(work: Path, store: str, n: int, env: dict[str, str]) -> list[dict]:
    """The first replica migrates the store; the others start once it is ready. All
    share one artifact folder, as replicas must (a model logged through one is served
    by all)."""
    artifacts = work / "artifacts"
    first = start_replica(work / "r0", store, env, artifacts)
    started = [first]
    try:
        wait_ready(first)
        started += [start_replica(work / f"r{i}", store, env, artifacts) for i in range(1, n)]
        for replica in started[1:]:
            wait_ready(replica)
    except BaseException:
        stop_replicas(started)
        raise
    return started


def stop_replicas(replicas: list[dict]) -> None:
    for r in replicas:
        if r["proc"].poll() is None:
            r["proc"].terminate()
    for r in replicas:
        try:
            r["proc"].wait(20)
        except subprocess.TimeoutExpired:
            r["proc"].kill()
            r["proc"].wait(10)


def process_tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    total = 0
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines()
                              if line.startswith("VmRSS:")))
        except (OSError, StopIteration):
            continue
    return total / 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children so far."""
    ticks = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


# -- worker processes ------------------------------------------------------------------


def spawn_worker(kind: str, spec: dict, out_base: Path) -> tuple[subprocess.Popen, Path]:
    out = out_base.with_suffix(".json")
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--worker", kind, "--spec",
                             json.dumps(spec), "--worker-out", str(out)])
    return proc, out


def collect_worker(handle: tuple[subprocess.Popen, Path], timeout: float | None = None) -> dict:
    proc, out = handle
    if proc.wait(timeout) != 0:
        raise RuntimeError(f"load worker failed with {proc.returncode}")
    return json.loads(out.read_text())
