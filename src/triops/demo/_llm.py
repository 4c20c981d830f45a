"""Loop 2 (LLM): one of a route's two upstreams starts failing and slowing, the gateway's
route-health check opens an incident naming it, the runbook drains it, latency recovers.

Both upstreams are triops' local fake upstream, each on its own port; traffic is a thread
sending chat completions through the gateway with the OpenAI wire format.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np

from triops.demo._context import DemoContext, LoopResult
from triops.llm.gateway.local_upstream import Served, create_app

NAME = "llm"
ROUTE = "chat"
FAILING, HEALTHY = "upstream-a", "upstream-b"
FAULT = {"error_rate": 0.6, "delay_ms": 250}
#: The gateway settings the demo server runs with: short windows so the loop plays in
#: seconds, and routes re-read every second.
GATEWAY = {"refresh_s": 1.0, "breaker_failures": 50,
           "signals": {"window_s": 2.0, "min_calls": 5, "error_rate": 0.2}}

RUNBOOK = f"""\
description: drain an upstream of route {ROUTE} that fails its calls
trigger:
  kind: gateway.upstream_errors
  source: llm
  entity: "route:{ROUTE}"
  min_severity: error
steps:
  - action: gateway.drain_upstream
    params: {{route: {ROUTE}, upstream: "{{{{ incident.labels.upstream }}}}"}}
approval: required
limits: {{max_runs_per_hour: 2, max_concurrent: 1}}
cooldown: 10m
verification: {{clear_within: 10s, settle: 4s, on_fail: undo}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class _Traffic:
    """Chat calls in a loop; every call's end time, latency and outcome."""

    url: str
    headers: dict[str, str]
    calls: list[tuple[float, float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="demo-traffic")
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as http:
            while not self._stop.is_set():
                # Every question differs, so no answer comes from the gateway's cache.
                body = {"model": ROUTE, "messages": [
                    {"role": "user", "content": f"question {len(self.calls)}"}]}
                started = time.perf_counter()
                try:
                    ok = http.post("/v1/chat/completions", json=body).is_success
                except httpx.HTTPError:
                    ok = False
                self.calls.append((time.time(), (time.perf_counter() - started) * 1000, ok))
                time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(35)

    def since(self, start: float, end: float | None = None) -> tuple[float, float, int]:
        """p95 latency (ms), error rate and number of the calls that ended in a span."""
        chosen = [(ms, ok) for t, ms, ok in list(self.calls)
                  if t >= start and (end is None or t < end)]
        if not chosen:
            return 0.0, 0.0, 0
        p95 = float(np.percentile([ms for ms, _ in chosen], 95))
        return p95, sum(not ok for _, ok in chosen) / len(chosen), len(chosen)


def _incident(ctx: DemoContext) -> dict | None:
    for row in ctx.call("GET", "/api/v1/incidents", params={"status": "open"}):
        if row["kind"] == "gateway.upstream_errors" and row["subject"] == f"route:{ROUTE}":
            return row
    return None


def play(ctx: DemoContext) -> LoopResult:
    upstreams = {name: Served(create_app(name), free_port()).start()
                 for name in (FAILING, HEALTHY)}
    traffic = _Traffic(ctx.url, dict(ctx.http.headers))
    try:
        for name, served in upstreams.items():
            ctx.call("PUT", f"/api/v1/gateway/upstreams/{name}",
                     json={"provider": "openai", "base_url": f"{served.url}/v1",
                           "api_key": "demo"})
        ctx.call("PUT", f"/api/v1/gateway/routes/{ROUTE}", json={"deployments": [
            {"upstream": FAILING, "model": "echo", "weight": 1},
            {"upstream": HEALTHY, "model": "echo", "weight": 1}]})
        ctx.put_runbook("drain-failing-upstream", RUNBOOK)
        ctx.say(NAME, f"route {ROUTE} → {FAILING} + {HEALTHY} (local fake upstreams); runbook "
                      "drain-failing-upstream applied; traffic starts")
        time.sleep(1.5)  # the gateway re-reads stored routes every refresh_s
        healthy_from = time.time()
        traffic.start()
        time.sleep(8)  # a few windows, so that the route has a latency baseline
        p95_before, errors_before, n = traffic.since(healthy_from)
        ctx.say(NAME, f"healthy: {n} calls, p95 {p95_before:.0f} ms, errors {errors_before:.0%}")
        httpx.put(f"{upstreams[FAILING].url}/_fault", json=FAULT).raise_for_status()
        fault_from = time.time()
        ctx.say(NAME, f"[bold]{FAILING} starts failing and slowing[/] ({FAULT['error_rate']:.0%} "
                      f"errors, +{FAULT['delay_ms']} ms)")
        incident = ctx.wait_for("a route-health incident", lambda: _incident(ctx))
        ctx.say(NAME, f"[red]incident[/] {incident['id']}: {incident['title']} "
                      f"(upstream {incident['labels'].get('upstream')})")
        run = ctx.see_run_through(NAME, incident["id"])
        acted_s = run["acted_ms"] / 1000
        p95_fault, errors_fault, n_fault = traffic.since(fault_from, acted_s)
        time.sleep(3)
        p95_after, errors_after, n_after = traffic.since(acted_s + 2)
        ctx.say(NAME, f"during the fault: {n_fault} calls, p95 {p95_fault:.0f} ms, errors "
                      f"{errors_fault:.0%}; after the drain: {n_after} calls, p95 "
                      f"{p95_after:.0f} ms, errors {errors_after:.0%}")
        route = ctx.call("GET", "/api/v1/gateway/routes")
        kept = next(r for r in route if r["alias"] == ROUTE)["deployments"]
        upstreams_left = [d["upstream"] for d in kept]
    finally:
        traffic.stop()
        for served in upstreams.values():
            served.stop()
    named = incident["labels"].get("upstream") == FAILING
    recovered = n_after > 0 and errors_after == 0 and p95_after < max(2 * p95_before,
                                                                      p95_before + 50)
    closed = named and run["status"] == "succeeded" and upstreams_left == [HEALTHY] \
        and recovered
    summary = (f"incident names {incident['labels'].get('upstream')}; run {run['status']} "
               f"({run['reason']}); route {ROUTE} → {upstreams_left}; p95 {p95_before:.0f} → "
               f"{p95_fault:.0f} → {p95_after:.0f} ms")
    return LoopResult(NAME, closed, summary, incident["first_ms"], run["acted_ms"],
                      facts={"incident_id": incident["id"], "run_id": run["id"],
                             "p95_before_ms": p95_before, "p95_fault_ms": p95_fault,
                             "p95_after_ms": p95_after, "errors_after": errors_after})
