"""LLM gateway overhead and throughput: triops vs the LiteLLM proxy and Portkey's gateway,
same upstream.

    .venv/bin/python bench/gateway.py [--seconds 8] [--concurrency 32] [--rounds 2] [--stream]
                                      [--guardrails] [--message-chars 1000]
                                      [--skip-litellm] [--skip-portkey]
    .venv/bin/python bench/gateway.py --profile bench/out/gateway.pyspy [--stream]

One local OpenAI-compatible upstream (``triops.llm.gateway.local_upstream``, answering
at once with a short completion) runs in its own process. In front of it run a
``triops up`` (auth on, traces written, caching off, its default log level with the
access log) and a LiteLLM proxy (``litellm[proxy]`` from PyPI in ``bench/.venvs/litellm``,
``--num_workers 1``, its defaults otherwise) and Portkey's open-source gateway
(``@portkey-ai/gateway`` from npm in ``bench/.venvs/portkey``, run by ``node`` with
``--headless``, its defaults otherwise; it is told where to send each call by the
``x-portkey-provider: openai`` and ``x-portkey-custom-host`` headers, the only bytes
its requests have that the others' do not): one server process each, on this machine.

The load comes from a separate process (asyncio, one HTTP/1.1 keep-alive connection per
caller, the same request bytes to every target), so the generator's own CPU is not
charged to any server. For each target and round: a warm-up, then ``--seconds`` at
concurrency 1 (latency: p50/p95/p99) and ``--seconds`` at ``--concurrency`` (requests
per second, p50/p99 under load, and the CPU time the server's process tree spent per
request, read from ``/proc`` at the window's edges). The targets take turns within each
round so that the shared machine's load falls on all of them alike; the load average
before and after each window is printed so a reader can judge the noise.

With ``--guardrails`` a second ``triops up`` with the same configuration plus the text
checks a gateway turns on with their default options (``pii`` and ``credentials``
redacting, ``injection`` blocking, ``toxicity`` flagging, on every route's input) runs
beside the first, in the same rounds: the difference of the two is what the rules add.
With ``--baseline-src`` too, the baseline runs with and without the rules as well, so a
change to the rules' path is measured before and after in the same rounds.
``--message-chars`` pads the user message with ordinary prompts (the held-out Dolly
instructions of ``bench/data``) to that length, so the rules have text to read.

With ``--profile FILE`` no peers run: py-spy (``bench/.venvs/pyspy``) samples the
triops server (and, with ``--guardrails``, the one with the rules) for ``--seconds``
while the load generator holds ``--concurrency`` callers on it, and writes the
collapsed stacks (one line per stack, its sample count last) to ``FILE``, and prints
where the CPU went per stage (``STAGES``): each stage's share of the busy samples times
the CPU the server's process tree spent per request in that window.

The figures that answer the gateway's goals:
- added latency: triops p50 minus the upstream's own p50, both at concurrency 1;
- the guardrails' added latency: "triops+rules" p50 minus triops p50, at concurrency 1;
- throughput: triops req/s over a peer's req/s at the same concurrency;
- requests per core (requests per CPU-second of the server's process tree, i.e. 1000 /
  CPU ms per request): the steadier figure on a busy machine, since wall-clock numbers
  there mostly measure how much CPU the scheduler handed out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_venv
from raw_http import read_response

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "tri_bench_admin_key_0123456789abcdef"
LITELLM = ["litellm[proxy]==1.83.14"]
# Portkey adds its headers to the response it relays; from @hono/node-server 1.14 on, a
# streamed response's headers are then the upstream fetch's own, which may not be
# changed, and every streamed call fails with "TypeError: immutable" (the same class
# as Portkey-AI/gateway#1389). 1.13.8 is the last version that copies them.
PORTKEY = ["@portkey-ai/gateway@1.15.2"]
PY_SPY = ["py-spy==0.4.3"]
PORTKEY_PINS = {"@hono/node-server": "1.13.8"}
#: The peers, by target name, as the report names them.
PEERS = {"litellm": "LiteLLM", "portkey": "Portkey"}


#: The rules of ``triops+rules``: every text check, default options (as ``bench/guardrails.py``).
DEFAULT_RULES = """
[[gateway.guardrails.rules]]
name = "default-pii"
check = "pii"
mode = "redact"

[[gateway.guardrails.rules]]
name = "default-credentials"
check = "credentials"
mode = "redact"

[[gateway.guardrails.rules]]
name = "default-injection"
check = "injection"
mode = "block"

[[gateway.guardrails.rules]]
name = "default-toxicity"
check = "toxicity"
mode = "flag"
"""


def message(chars: int) -> str:
    """The user message: a short request, or ordinary prompts up to ``chars`` characters.
    (Not "Say hello to the bench", the message of earlier runs: the injection model, on by
    default, blocks it — a false positive docs/guardrails.md lists — and a blocked call
    never reaches the upstream, which is not the path this measures. The toxicity model
    flags this one, 0.44, but its rule here only flags.)"""
    text = "Write a haiku about autumn"
    if chars <= len(text):
        return text
    lines = (ROOT / "bench" / "data" / "dolly_instructions.jsonl").read_text().splitlines()
    prompts = [json.loads(line) for line in lines[1::2] if line.strip()]
    while len(text) < chars:
        text += " " + prompts[len(text) % len(prompts)]
    return text[:chars]


def request_body(stream: bool, chars: int = 0) -> bytes:
    body: dict = {"model": "bench", "messages": [{"role": "user", "content": message(chars)}]}
    if stream:  # server-sent events; the latency is then the whole stream's
        body["stream"] = True
    return json.dumps(body).encode()


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


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process and all its descendants, from /proc."""
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


# -- the load generator (runs in its own process) --------------------------------------
# A minimal HTTP/1.1 keep-alive client on asyncio streams, one connection per caller:
# httpx's async pool spends more CPU per request than the upstream does to answer, so
# with it on this 2-core machine the benchmark would measure the client.

async def _load(url: str, headers: dict[str, str], concurrency: int, seconds: float,
                warmup: float, pid: int, stream: bool = False, chars: int = 0) -> dict:
    body = request_body(stream, chars)
    parsed = urlsplit(url)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n{extra}"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    latencies: list[float] = []
    errors: list[str] = []
    done = 0
    start_at = time.perf_counter()
    measure_from = start_at + warmup
    stop_at = measure_from + seconds
    edges: dict[str, tuple[float, int, float]] = {}

    async def caller() -> None:
        nonlocal done
        reader = writer = None
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                break
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
                writer.write(request)
                status, _ = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                reader = writer = None  # a closed keep-alive connection: open another
                continue
            t1 = time.perf_counter()
            if status != 200:
                errors.append(f"HTTP {status}")
            elif t1 > measure_from and t1 <= stop_at:
                done += 1
                if t0 >= measure_from:
                    latencies.append(t1 - t0)
        if writer is not None:
            writer.close()

    async def edge(name: str, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        edges[name] = (time.perf_counter(), done, cpu_seconds(pid))

    load_before = os.getloadavg()[0]
    await asyncio.gather(edge("from", measure_from), edge("to", stop_at),
                         *[caller() for _ in range(concurrency)])
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:  # nothing answered in the window: the errors say why
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    (w0, n0, c0), (w1, n1, c1) = edges["from"], edges["to"]
    count = n1 - n0
    return {"concurrency": concurrency, "requests": count, "rps": count / (w1 - w0),
            "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
            "cpu_ms_per_request": (c1 - c0) * 1000 / count if count else float("nan"),
            "errors": len(errors), "first_errors": errors[:3],
            "load_before": load_before, "load_after": os.getloadavg()[0]}


def measure(url: str, headers: dict[str, str], concurrency: int, seconds: float,
            warmup: float, pid: int, stream: bool = False, chars: int = 0) -> dict:
    spec = {"url": url, "headers": headers, "concurrency": concurrency, "seconds": seconds,
            "warmup": warmup, "pid": pid, "stream": stream, "chars": chars}
    out = subprocess.run([sys.executable, __file__, "--load", json.dumps(spec)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the servers --------------------------------------------------------------------------

def start_triops(work: Path, port: int, env: dict[str, str] | None = None,
                 config_name: str = "triops.toml") -> subprocess.Popen:
    """``triops up`` at its defaults (log level included) on the config in ``work``'s parent."""
    work.mkdir(parents=True, exist_ok=True)
    config = str(work.parent / config_name)
    return start([sys.executable, "-m", "triops", "up", "--port", str(port), "--home",
                  str(work)], work / "triops.log",
                 env={"TRIOPS_ADMIN_KEY": ADMIN_KEY, "TRIOPS_CONFIG": config, **(env or {})},
                 cwd=work)


def start_portkey(work: Path, port: int) -> subprocess.Popen:
    """Portkey's gateway, one Node process, as its ``start:node`` script runs it."""
    modules = peer_venv.ensure_npm("portkey", PORTKEY, PORTKEY_PINS)
    server = modules / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    return start(["node", str(server), f"--port={port}", "--headless"], work / "portkey.log")


def start_servers(work: Path, procs: list[subprocess.Popen], with_litellm: bool,
                  baseline_src: str | None = None, guardrails: bool = False,
                  with_portkey: bool = False) -> dict[str, tuple[str, dict[str, str], int]]:
    python = sys.executable
    up_port, tri_port, lite_port = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{up_port}"
    procs.append(start([python, "-m", "triops.llm.gateway.local_upstream", "--port",
                        str(up_port), "--name", "bench"], work / "upstream.log"))
    config = f"""
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
"""
    (work / "triops.toml").write_text(config)
    procs.append(start_triops(work / "triops", tri_port))
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    targets = {
        "direct": (f"{upstream}/v1/chat/completions", {}, procs[0].pid),
        "triops": (f"http://127.0.0.1:{tri_port}/v1/chat/completions", auth, procs[1].pid),
    }
    # Another checkout's triops (e.g. before a change) is measured alike, and so is the
    # same server plus the default rules (both checkouts' when both run).
    more: list[tuple[str, str | None, str]] = []
    if baseline_src:
        more.append(("baseline", baseline_src, "triops.toml"))
    if guardrails:
        (work / "triops-rules.toml").write_text(config + DEFAULT_RULES)
        more.append(("triops+rules", None, "triops-rules.toml"))
        if baseline_src:
            more.append(("baseline+rules", baseline_src, "triops-rules.toml"))
    for name, src, config_name in more:
        port = free_port()
        proc = start_triops(work / name, port, {"PYTHONPATH": src} if src else None,
                            config_name)
        procs.append(proc)
        targets[name] = (f"http://127.0.0.1:{port}/v1/chat/completions", auth, proc.pid)
        wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    lite_proc = None
    if with_litellm:
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
        lite_proc = start(
            [str(lite_python.parent / "litellm"), "--config", str(work / "litellm.yaml"),
             "--port", str(lite_port), "--num_workers", "1"], work / "litellm.log",
            env={"LITELLM_LOG": "ERROR", "DISABLE_SCHEMA_UPDATE": "true", "PYTHONPATH": ""})
        procs.append(lite_proc)
        targets["litellm"] = (f"http://127.0.0.1:{lite_port}/v1/chat/completions", {},
                              lite_proc.pid)
    if with_portkey:
        portkey_port = free_port()
        portkey = start_portkey(work, portkey_port)
        procs.append(portkey)
        targets["portkey"] = (
            f"http://127.0.0.1:{portkey_port}/v1/chat/completions",
            {"Authorization": "Bearer sk-bench", "x-portkey-provider": "openai",
             "x-portkey-custom-host": f"{upstream}/v1"}, portkey.pid)
        wait_ready(f"http://127.0.0.1:{portkey_port}/", portkey)
    wait_ready(f"{upstream}/_received", procs[0])
    wait_ready(f"http://127.0.0.1:{tri_port}/readyz", procs[1])
    if lite_proc is not None:
        wait_ready(f"http://127.0.0.1:{lite_port}/health/liveliness", lite_proc)
    return targets


def merge(runs: list[dict]) -> dict:
    """One figure per target and level from its rounds: medians of the rounds' figures."""
    def median(key: str) -> float:
        values = sorted(r[key] for r in runs)
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    merged = {k: median(k) for k in ("rps", "p50_ms", "p95_ms", "p99_ms",
                                     "cpu_ms_per_request")}
    merged["cpu_ms_min"] = min(r["cpu_ms_per_request"] for r in runs)
    merged["requests"] = sum(r["requests"] for r in runs)
    merged["errors"] = sum(r["errors"] for r in runs)
    return merged


def report(results: dict[str, dict[str, dict]], args: argparse.Namespace,
           load: tuple[float, float]) -> dict:
    c = args.concurrency
    print(f"\n{'streamed' if args.stream else 'whole'} completions, a "
          f"{len(message(args.message_chars))}-character user message; "
          f"{args.rounds} round(s) of {args.seconds:g} s per target and level; "
          f"load average {load[0]:.1f} before, {load[1]:.1f} after (2-core machine)\n")
    print(f"| path | p50 (c=1) | p95 | p99 | req/s at {c} | p50 / p99 at {c} "
          "| CPU ms / request | req/s per core | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, levels in results.items():
        one, many = levels["latency"], levels["throughput"]
        print(f"| {name} | {one['p50_ms']:.2f} ms | {one['p95_ms']:.2f} ms | "
              f"{one['p99_ms']:.2f} ms | {many['rps']:.0f} | {many['p50_ms']:.1f} / "
              f"{many['p99_ms']:.1f} ms | {many['cpu_ms_per_request']:.3f} "
              f"(min {many['cpu_ms_min']:.3f}) | {1000 / many['cpu_ms_per_request']:.0f} | "
              f"{one['errors'] + many['errors']} |")
    summary: dict = {"concurrency": c, "seconds": args.seconds, "rounds": args.rounds,
                     "stream": args.stream,
                     "load_average": load, "results": results}
    direct, triops = results["direct"], results["triops"]
    added = triops["latency"]["p50_ms"] - direct["latency"]["p50_ms"]
    summary["triops_added_p50_ms"] = added
    print(f"\ntriops added latency (p50 at c=1, over the upstream alone): {added:.2f} ms "
          f"(goal: under 2 ms)")
    for name in ("triops", "baseline"):
        if f"{name}+rules" not in results:
            continue
        plain, ruled = results[name], results[f"{name}+rules"]
        rules_added = ruled["latency"]["p50_ms"] - plain["latency"]["p50_ms"]
        summary["rules_added_p50_ms" if name == "triops" else "baseline_rules_added_p50_ms"
                ] = rules_added
        print(f"default guardrail rules added latency (p50 at c=1, {name}+rules over {name}): "
              f"{rules_added:.2f} ms (goal: under 2 ms); CPU per request "
              f"{ruled['throughput']['cpu_ms_per_request']:.3f} / "
              f"{plain['throughput']['cpu_ms_per_request']:.3f} ms "
              f"(+{ruled['throughput']['cpu_ms_per_request'] - plain['throughput']['cpu_ms_per_request']:.3f})")
    if "baseline" in results:
        base = results["baseline"]
        print(f"baseline added latency: "
              f"{base['latency']['p50_ms'] - direct['latency']['p50_ms']:.2f} ms; CPU per "
              f"request triops / baseline: {triops['throughput']['cpu_ms_per_request']:.3f} / "
              f"{base['throughput']['cpu_ms_per_request']:.3f} ms; requests/s "
              f"{triops['throughput']['rps']:.0f} / {base['throughput']['rps']:.0f}")
    for peer, label in PEERS.items():
        if peer not in results:
            continue
        other = results[peer]
        peer_added = other["latency"]["p50_ms"] - direct["latency"]["p50_ms"]
        rps_ratio = triops["throughput"]["rps"] / other["throughput"]["rps"]
        cpu_ratio = (other["throughput"]["cpu_ms_per_request"]
                     / triops["throughput"]["cpu_ms_per_request"])
        print(f"{label} added latency (same measure): {peer_added:.2f} ms")
        print(f"requests/s triops / {label} at concurrency {c}: {rps_ratio:.2f}x")
        print(f"requests per CPU-second (per core) triops / {label}: {cpu_ratio:.2f}x")
        summary.update({f"{peer}_added_p50_ms": peer_added, f"{peer}_rps_ratio": rps_ratio,
                        f"{peer}_cpu_ratio": cpu_ratio})
    return summary


#: Where a sampled stack's CPU goes: the first stage one of whose functions is on the
#: stack (most specific first); stacks of threads waiting for work are left out.
STAGES = [
    ("guardrail checks (the rules' scans)", ("GuardrailEngine.run_check",)),
    ("writer thread: spans, trace summaries, check and spend records to the store",
     ("BatchWriter._write",)),
    ("upstream call (aiohttp: request out, answer in)",
     ("Gateway._attempt", "ClientRequest.write_bytes", "ResponseHandler.data_received",
      "_openai_chunks", "sse_batches")),
    ("response out (uvicorn writes, per frame when streamed)",
     ("Response.__call__", "RequestMiddleware.__call__.<locals>.tracking_send")),
    ("guardrail bookkeeping (spans and records built, redaction)",
     ("GuardrailEngine.check_input",)),
    ("gateway bookkeeping (admission, metering, token counts, the call's span)",
     ("Gateway.chat", "Gateway._relay")),
    ("auth (key lookup, role check)", ("authorize",)),
    ("body read and checks", ("_json_body", "check_chat")),
    ("server: HTTP parsing, middleware (request id, metrics, access log)",
     ("RequestResponseCycle.run_asgi", "HttpToolsProtocol")),
]
_WAITING = ("Event.wait", "Condition.wait", "select (selectors.py", "_run_once")


def stages(path: str, cpu_ms: float) -> list[tuple[str, float, float]]:
    """(stage, share of the busy samples, µs per request) from py-spy's collapsed stacks."""
    counts: dict[str, int] = {}
    busy = 0
    for line in Path(path).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith(_WAITING) or not n.isdigit():
            continue
        busy += int(n)
        functions = {frame.split(" (", 1)[0] for frame in frames}
        name = next((stage for stage, marks in STAGES if functions.intersection(marks)),
                    "event loop and other threads")
        counts[name] = counts.get(name, 0) + int(n)
    return [(name, n / busy, n / busy * cpu_ms * 1000)
            for name, n in sorted(counts.items(), key=lambda kv: -kv[1])]


def profile(targets: dict[str, tuple[str, dict[str, str], int]], args: argparse.Namespace
            ) -> None:
    """Sample the triops server under load with py-spy; collapsed stacks to ``args.profile``."""
    py_spy = peer_venv.ensure("pyspy", PY_SPY).parent / "py-spy"
    name = "triops+rules" if "triops+rules" in targets else "triops"
    url, headers, pid = targets[name]
    # Sampling starts after the load generator's warm-up, so that start-up work (the
    # first call building the gateway, the tokenizers loading) stays out of the profile.
    spy = subprocess.Popen(["sh", "-c", f'sleep {args.warmup}; exec "$0" "$@"', str(py_spy),
                            "record", "--pid", str(pid), "--rate", "500", "--format", "raw",
                            "--nonblocking", "--duration", str(int(args.seconds)),
                            "--output", args.profile],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    run = measure(url, headers, args.concurrency, args.seconds, args.warmup, pid,
                  args.stream, args.message_chars)
    spy.wait(60)
    print(f"[bench] profiled {name}: {run['rps']:.0f} req/s, {run['cpu_ms_per_request']:.3f} "
          f"CPU ms/request, load {run['load_before']:.1f}->{run['load_after']:.1f}; "
          f"stacks in {args.profile}", file=sys.stderr)
    print(f"\n| stage ({name}, {'streamed' if args.stream else 'whole'}, c={args.concurrency}) "
          "| share of CPU samples | µs / request |\n|---|---|---|")
    for stage, share, micros in stages(args.profile, run["cpu_ms_per_request"]):
        print(f"| {stage} | {share:.0%} | {micros:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per window")
    parser.add_argument("--warmup", type=float, default=2.0, help="before each window")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--skip-portkey", action="store_true")
    parser.add_argument("--stream", action="store_true",
                        help="streamed completions (SSE) instead of whole answers")
    parser.add_argument("--baseline-src", metavar="DIR",
                        help="also measure the triops in this source tree (its src/ folder, "
                             "e.g. from `git archive`) as 'baseline', in the same rounds")
    parser.add_argument("--guardrails", action="store_true",
                        help="also measure a triops with the default guardrail rules")
    parser.add_argument("--message-chars", type=int, default=0,
                        help="pad the user message with ordinary prompts to this length")
    parser.add_argument("--profile", metavar="FILE",
                        help="py-spy the triops server under load instead of comparing")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:  # the load generator's own process
        spec = json.loads(args.load)
        print(json.dumps(asyncio.run(_load(spec["url"], spec["headers"], spec["concurrency"],
                                           spec["seconds"], spec["warmup"], spec["pid"],
                                           spec["stream"], spec["chars"]))))
        return

    work = Path(tempfile.mkdtemp(prefix="triops-bench-gateway-"))
    procs: list[subprocess.Popen] = []
    try:
        peers = not args.profile
        targets = start_servers(work, procs, peers and not args.skip_litellm,
                                args.baseline_src, args.guardrails,
                                peers and not args.skip_portkey)
        if args.profile:
            profile(targets, args)
            return
        load_start = os.getloadavg()[0]
        runs: dict[str, dict[str, list[dict]]] = {
            name: {"latency": [], "throughput": []} for name in targets}
        names = list(targets)
        for round_no in range(args.rounds):
            # Alternate the order per round: no target always runs first or last.
            order = names if round_no % 2 == 0 else names[::-1]
            for name in order:
                url, headers, pid = targets[name]
                for level, concurrency in (("latency", 1), ("throughput", args.concurrency)):
                    run = measure(url, headers, concurrency, args.seconds, args.warmup, pid,
                                  args.stream, args.message_chars)
                    runs[name][level].append(run)
                    print(f"[bench] round {round_no + 1} {name:8s} c={concurrency:<3d} "
                          f"{run['rps']:7.1f} req/s p50 {run['p50_ms']:6.2f} ms p99 "
                          f"{run['p99_ms']:6.2f} ms {run['cpu_ms_per_request']:6.3f} CPU ms/req "
                          f"errors {run['errors']} load {run['load_before']:.1f}->"
                          f"{run['load_after']:.1f} {run['first_errors'] or ''}",
                          file=sys.stderr, flush=True)
        results = {name: {level: merge(rs) for level, rs in levels.items()}
                   for name, levels in runs.items()}
        summary = report(results, args, (load_start, os.getloadavg()[0]))
        summary["runs"] = runs
        out = ROOT / "bench" / "out"
        out.mkdir(exist_ok=True)
        name = "gateway-stream.json" if args.stream else "gateway.json"
        (out / name).write_text(json.dumps(summary, indent=2))
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
