"""LLM gateway overhead and throughput: triops vs the LiteLLM proxy, same upstream.

One local OpenAI-compatible upstream (``triops.llm.gateway.local_upstream``, answering
at once with a fixed-size completion) runs in its own process. In front of it run a
``triops up`` and a LiteLLM proxy (``litellm[proxy]`` from PyPI in
``bench/.venvs/litellm``), one uvicorn worker each, both with caching off. The same
load generator then measures:

- latency at concurrency 1: p50/p95 calling the upstream directly, through triops and
  through LiteLLM; the gateway's overhead is its p50 minus the direct p50;
- throughput at concurrency C: requests per second through each gateway, and the CPU
  time each gateway process spent per request (on a busy shared machine the second is
  the steadier measure of how many requests a core can carry).

    .venv/bin/python bench/gateway.py --requests 3000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_venv

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "tri_bench_admin_key_0123456789abcdef"
LITELLM = ["litellm[proxy]==1.83.14"]
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello to the bench"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}, cwd=cwd)


async def run_load(url: str, headers: dict[str, str], total: int, concurrency: int
                   ) -> tuple[list[float], float, int]:
    """Latencies (ms) of ``total`` requests from ``concurrency`` workers, wall time, errors."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    remaining = total
    async with httpx.AsyncClient(limits=limits, timeout=60, headers=headers) as client:
        async def worker() -> None:
            nonlocal remaining, errors
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                try:
                    response = await client.post(url, json=BODY)
                except httpx.HTTPError as exc:
                    errors += 1
                    if errors <= 3:
                        print(f"  {url}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    errors += 1
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return latencies, elapsed, errors


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process and all its descendants, from /proc.

    On a shared, busy machine requests per second mostly measure how much CPU the
    scheduler happened to give each server; CPU spent per request does not."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack += [child for child, parent in parents.items() if parent == pid]
    return total


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per throughput run")
    parser.add_argument("--latency-requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--skip-litellm", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="triops-bench-gateway-"))
    python = sys.executable
    procs: list[subprocess.Popen] = []
    try:
        up_port, tri_port, lite_port = free_port(), free_port(), free_port()
        upstream = f"http://127.0.0.1:{up_port}"
        procs.append(start([python, "-m", "triops.llm.gateway.local_upstream", "--port",
                            str(up_port), "--name", "bench"], work / "upstream.log"))
        (work / "triops.toml").write_text(f"""
[gateway]
retries = 0
[gateway.cache]
enabled = false
[[gateway.upstreams]]
name = "local"
base_url = "{upstream}/v1"
api_key = "sk-bench"
[[gateway.routes]]
alias = "bench"
deployments = [{{ upstream = "local", model = "gpt-4o-mini" }}]
""")
        procs.append(start(
            [python, "-m", "triops", "up", "--port", str(tri_port), "--home", str(work),
             "--log-level", "warning"], work / "triops.log",
            env={"TRIOPS_ADMIN_KEY": ADMIN_KEY, "TRIOPS_CONFIG": str(work / "triops.toml")},
            cwd=work))
        targets = {
            "direct": (f"{upstream}/v1/chat/completions", {}),
            "triops": (f"http://127.0.0.1:{tri_port}/v1/chat/completions",
                       {"Authorization": f"Bearer {ADMIN_KEY}"}),
        }
        if not args.skip_litellm:
            lite_python = peer_venv.ensure("litellm", LITELLM)
            (work / "litellm.yaml").write_text(f"""
model_list:
  - model_name: bench
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {upstream}/v1
      api_key: sk-bench
litellm_settings:
  telemetry: false
""")
            procs.append(start(
                [str(lite_python.parent / "litellm"), "--config", str(work / "litellm.yaml"),
                 "--port", str(lite_port), "--num_workers", "1"], work / "litellm.log",
                env={"LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true"}))
            targets["litellm"] = (f"http://127.0.0.1:{lite_port}/v1/chat/completions", {})
        wait_ready(f"{upstream}/_received", procs[0])
        wait_ready(f"http://127.0.0.1:{tri_port}/readyz", procs[1])
        if "litellm" in targets:
            wait_ready(f"http://127.0.0.1:{lite_port}/health/liveliness", procs[2])

        pids = {"direct": procs[0].pid, "triops": procs[1].pid}
        if "litellm" in targets:
            pids["litellm"] = procs[2].pid
        results: dict[str, dict[str, float]] = {}
        for name, (url, headers) in targets.items():
            asyncio.run(run_load(url, headers, 100, 4))  # warm-up: connections, imports
            lat, _, errors = asyncio.run(run_load(url, headers, args.latency_requests, 1))
            cpu_before = cpu_seconds(pids[name])
            _, elapsed, errors_c = asyncio.run(run_load(url, headers, args.requests,
                                                        args.concurrency))
            cpu_ms = (cpu_seconds(pids[name]) - cpu_before) * 1000 / args.requests
            results[name] = {"p50_ms": percentile(lat, 50), "p95_ms": percentile(lat, 95),
                             "rps": args.requests / elapsed, "cpu_ms_per_request": cpu_ms,
                             "errors": errors + errors_c}
            print(f"{name:8s} p50 {results[name]['p50_ms']:7.2f} ms  p95 "
                  f"{results[name]['p95_ms']:7.2f} ms  {results[name]['rps']:8.1f} req/s at "
                  f"concurrency {args.concurrency}  {cpu_ms:6.3f} CPU ms/request "
                  f"(own process)  errors {results[name]['errors']:.0f}", flush=True)
        overhead = results["triops"]["p50_ms"] - results["direct"]["p50_ms"]
        print(f"triops overhead over direct (p50): {overhead:.2f} ms")
        summary = {"concurrency": args.concurrency, "requests": args.requests,
                   "results": results, "triops_overhead_p50_ms": overhead}
        if "litellm" in results:
            lite_overhead = results["litellm"]["p50_ms"] - results["direct"]["p50_ms"]
            ratio = results["triops"]["rps"] / results["litellm"]["rps"]
            print(f"litellm overhead over direct (p50): {lite_overhead:.2f} ms")
            cpu_ratio = (results["litellm"]["cpu_ms_per_request"]
                         / results["triops"]["cpu_ms_per_request"])
            print(f"throughput ratio triops / litellm: {ratio:.2f}x")
            print(f"CPU per request ratio litellm / triops: {cpu_ratio:.2f}x "
                  "(requests per CPU-second, triops over litellm)")
            summary.update(litellm_overhead_p50_ms=lite_overhead, rps_ratio=ratio,
                           cpu_ratio=cpu_ratio)
        out = ROOT / "bench" / "out"
        out.mkdir(exist_ok=True)
        (out / "gateway.json").write_text(json.dumps(summary, indent=2))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
