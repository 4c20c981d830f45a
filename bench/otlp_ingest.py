"""OTLP trace ingest: spans per second accepted *and queryable*, triops vs Arize Phoenix.

Both servers run here, one after the other, each on its own SQLite file, and receive the
same OTLP/HTTP protobuf payloads (batches of spans of LLM-app traces with GenAI and
OpenInference attributes) from the same number of concurrent senders. The clock stops
when every trace can be read back from the server's own query API: triops'
``GET /api/v1/traces``, Phoenix's GraphQL ``traceCount``. Phoenix runs from PyPI in
``bench/.venvs/phoenix``.

    .venv/bin/python bench/otlp_ingest.py --spans 51200 --batch 512 --concurrency 4
    .venv/bin/python bench/otlp_ingest.py --spans 32768 --in-process   # triops' CPU per stage

``--in-process`` skips HTTP and Phoenix: it runs the server's intake steps (protobuf
decode, conversion to spans, the JSON, summary deltas and topology pass made before the
write lock, then under it the span and summary writes, topology's upsert, the commit) on a fresh
SQLite store (or ``--triops-store``) and reports spans per CPU-second per stage, which
a shared machine's load disturbs far less than wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "llm"))
import peer_venv
from otlp_payloads import pb_span, request_of

VERBOSE = False
ADMIN_KEY = "tri_bench_admin_key_0123456789abcdef"
PHOENIX = ["arize-phoenix"]
SPANS_PER_TRACE = 4
#: How often the query API is asked whether every trace is there; slow enough not to
#: compete with the ingest it waits for.
POLL_S = 0.25


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_payloads(total_spans: int, batch: int) -> tuple[list[bytes], int]:
    """Serialized export requests, and how many traces they hold."""
    now = time.time_ns() - 3_600_000_000_000
    spans = []
    traces = total_spans // SPANS_PER_TRACE
    for i in range(traces):
        tid = os.urandom(16).hex()
        root, retr, llm, tool = (os.urandom(8).hex() for _ in range(4))
        t0 = now + i * 1_000_000
        spans += [
            pb_span(tid, root, "answer-question", t0, t0 + 900_000_000, attrs={
                "openinference.span.kind": "AGENT", "input.value": f"question {i}",
                "output.value": "an answer " * 20, "user.id": f"user-{i % 50}",
                "session.id": f"session-{i % 200}"}),
            pb_span(tid, retr, "retrieve", t0 + 1_000_000, t0 + 80_000_000, parent=root, attrs={
                "openinference.span.kind": "RETRIEVER", "input.value": f"question {i}",
                "retrieval.documents.0.document.content": "some retrieved passage " * 10,
                "retrieval.documents.0.document.score": 0.9}),
            pb_span(tid, llm, "chat gpt-4o-mini", t0 + 90_000_000, t0 + 850_000_000,
                    parent=root, attrs={
                        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                        "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                        "gen_ai.request.model": "gpt-4o-mini",
                        "llm.token_count.prompt": 420, "llm.token_count.completion": 60,
                        "gen_ai.usage.input_tokens": 420, "gen_ai.usage.output_tokens": 60}),
            pb_span(tid, tool, "get_weather", t0 + 860_000_000, t0 + 890_000_000,
                    parent=root, attrs={"openinference.span.kind": "TOOL",
                                        "tool.name": "get_weather"}),
        ]
    payloads = [request_of(spans[i:i + batch], service="bench-app").SerializeToString()
                for i in range(0, len(spans), batch)]
    return payloads, traces


def send_all(url: str, payloads: list[bytes], concurrency: int, headers: dict[str, str]) -> float:
    """POST every payload with ``concurrency`` senders; returns seconds until all accepted."""
    queue = list(enumerate(payloads))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        with httpx.Client(timeout=120, headers={**headers,
                                                "Content-Type": "application/x-protobuf"}) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop()
                r = http.post(url, content=body)
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} batches refused, first: {failures[0]}")
    return time.perf_counter() - started


def wait_until(count, expected: int, timeout: float = 900, verbose: bool = False
               ) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    seen = -1
    while time.monotonic() < deadline:
        try:
            seen = count()
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            seen = -1
        if verbose:
            print(f"  {time.monotonic() - started:6.1f}s {seen} traces", file=sys.stderr)
        if seen >= expected:
            return
        time.sleep(POLL_S)
    raise RuntimeError(f"only {seen} of {expected} traces queryable after {timeout}s")


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_triops(payloads: list[bytes], traces: int, concurrency: int, work: Path,
               store: str | None) -> tuple[float, float, float]:
    """Seconds until all requests were acknowledged, until all traces were queryable,
    and the server's CPU seconds over that time."""
    port = free_port()
    home = work / "triops"
    home.mkdir()
    store = store or f"sqlite:///{home / 'triops.db'}"
    with open(home / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "triops", "up", "--port", str(port), "--store", store,
             "--home", str(home), "--log-level", "warning"],
            env={**os.environ, "TRIOPS_ADMIN_KEY": ADMIN_KEY}, stdout=log,
            stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/readyz", proc)
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        cpu = cpu_seconds(proc.pid)
        started = time.perf_counter()
        accepted = send_all(f"{base}/v1/traces", payloads, concurrency, auth)
        with httpx.Client(base_url=base, headers=auth, timeout=30) as http:
            wait_until(lambda: http.get("/api/v1/traces", params={"limit": 1}).json()["total"],
                       traces)
        return accepted, time.perf_counter() - started, cpu_seconds(proc.pid) - cpu
    finally:
        proc.terminate()
        proc.wait(30)


_PHOENIX_COUNT = "{ projects { edges { node { name traceCount } } } }"


def run_phoenix(payloads: list[bytes], traces: int, concurrency: int, work: Path
                ) -> tuple[float, float]:
    python = peer_venv.ensure("phoenix", PHOENIX)
    port, grpc_port = free_port(), free_port()
    home = work / "phoenix"
    home.mkdir()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(home), "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(grpc_port), "PHOENIX_HOST": "127.0.0.1",
           "PHOENIX_TELEMETRY_ENABLED": "false"}
    with open(home / "server.log", "wb") as log:
        proc = subprocess.Popen([str(python), "-m", "phoenix.server.main", "serve"], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=home)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/healthz", proc)

        def count() -> int:
            data = httpx.post(f"{base}/graphql", json={"query": _PHOENIX_COUNT}, timeout=30).json()
            return sum(e["node"]["traceCount"] for e in data["data"]["projects"]["edges"])

        started = time.perf_counter()
        accepted = send_all(f"{base}/v1/traces", payloads, concurrency, {})
        wait_until(count, traces, verbose=VERBOSE)
        return accepted, time.perf_counter() - started
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def in_process(payloads: list[bytes], spans: int, store: str | None) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from triops.core.settings import Settings
    from triops.llm import PriceTable, prepare_span_data, span_data_from_otlp, write_spans
    from triops.ops import topology
    from triops.server.runtime import Runtime
    from triops.store import upgrade_schema

    with tempfile.TemporaryDirectory() as home:
        rt = Runtime.build(Settings(store=store or f"sqlite:///{home}/t.db",
                                    artifacts=f"{home}/artifacts", home=Path(home)))
        upgrade_schema(rt.db.engine)
        prices = PriceTable(rt.settings.gateway.prices).price
        stages = dict.fromkeys(("decode", "convert", "prepare", "store", "topology", "commit"),
                               0.0)
        clock = time.process_time
        for payload in payloads:
            t = clock()
            message = ExportTraceServiceRequest()
            message.ParseFromString(payload)
            t, stages["decode"] = clock(), stages["decode"] + clock() - t
            converted = span_data_from_otlp(message)
            t, stages["convert"] = clock(), stages["convert"] + clock() - t
            # As the intake does: before the write lock...
            prepared = prepare_span_data(converted, prices=prices)
            sightings = topology.trace_sightings(message)
            t, stages["prepare"] = clock(), stages["prepare"] + clock() - t
            with rt.db.write() as session:  # ...and under it.
                write_spans(session, "default", prepared)
                t, stages["store"] = clock(), stages["store"] + clock() - t
                topology.observe_sightings(session, "default", sightings)
                t, stages["topology"] = clock(), stages["topology"] + clock() - t
            stages["commit"] += clock() - t
        rt.close()
    total = sum(stages.values())
    print("CPU s per stage: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    print(f"triops in-process: {spans} spans in {total:.2f} CPU s "
          f"-> {spans / total:,.0f} spans per CPU-second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spans", type=int, default=51_200)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--triops-store", default=None,
                        help="SQLAlchemy URL for triops (default: a fresh SQLite file)")
    parser.add_argument("--skip-phoenix", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="show the wait for queryability")
    parser.add_argument("--in-process", action="store_true",
                        help="triops' intake steps without HTTP: CPU time per stage")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose

    payloads, traces = make_payloads(args.spans, args.batch)
    if args.in_process:
        in_process(payloads, traces * SPANS_PER_TRACE, args.triops_store)
        return
    spans = traces * SPANS_PER_TRACE
    mb = sum(map(len, payloads)) / 1e6
    print(f"{spans} spans in {traces} traces, {len(payloads)} OTLP protobuf requests "
          f"of {args.batch} spans ({mb:.1f} MB), {args.concurrency} concurrent senders")
    work = Path(tempfile.mkdtemp(prefix="otlp-bench-"))
    try:
        load = os.getloadavg()[0]
        acc, total, cpu = run_triops(payloads, traces, args.concurrency, work, args.triops_store)
        print(f"triops : accepted in {acc:6.2f}s, queryable in {total:6.2f}s "
              f"-> {spans / total:8.0f} spans/s; server CPU {cpu:.2f} s "
              f"({cpu / spans * 1e6:.0f} us per span, {spans / cpu:,.0f} spans per CPU-second); "
              f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
        if args.skip_phoenix:
            return
        try:
            p_acc, p_total = run_phoenix(payloads, traces, args.concurrency, work)
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            print(f"phoenix: could not be run here: {exc}")
            return
        print(f"phoenix: accepted in {p_acc:6.2f}s, queryable in {p_total:6.2f}s "
              f"-> {spans / p_total:8.0f} spans/s")
        print(f"ratio triops/phoenix (spans/s, queryable): {p_total / total:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
