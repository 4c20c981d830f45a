"""The soak of ``bench/scale.py``: three replicas on one PostgreSQL database under mixed,
paced load, one of them killed with SIGKILL half-way; then every acknowledged write is
looked up and the monitor's runs are checked for a slot run twice."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from scale_cluster import (
    KEY,
    STEP_MS,
    Replicas,
    collect_worker,
    drop_pg_database,
    free_port,
    loadavg,
    log,
    metrics_request,
    new_pg_database,
    rss_mb,
    series_keys,
    series_of,
    spawn_worker,
    start_replicas,
    stop_replicas,
)

MONITOR_INTERVAL_S = 5
RSS_EVERY_S = 5.0
ENDPOINT = "soak"
CHAT_MODEL = "soak-chat"
# Requests per second offered by each kind (paced, not flat out: a soak measures
# behaviour over time at a steady load, not the ceiling).
SOAK_RATES = {"tracking": 20.0, "gateway": 20.0, "otlp": 1.0, "predict": 20.0}
SOAK_CALLERS = {"tracking": 8, "gateway": 8, "otlp": 2, "predict": 8}
SOAK_OTLP_SERIES, SOAK_OTLP_POINTS = 20, 10
BATCH_METRICS = 10


class Kind:
    """What one kind of soak request sends and what it counts as an acknowledged write."""

    def __init__(self, kind: str, spec: dict, caller: int) -> None:
        self.kind, self.spec, self.caller, self.n = kind, spec, caller, 0
        self.auth = {"Authorization": f"Bearer {KEY}"}
        if kind == "otlp":
            self.labels = series_of(100 + caller, 0, SOAK_OTLP_SERIES)
            self.first_ts = spec["otlp_base_ms"]

    def next(self) -> tuple[str, bytes, dict[str, str], list]:
        """(path, body, headers, the writes an acknowledgement stands for)."""
        n = self.n
        self.n += 1
        json_headers = {**self.auth, "Content-Type": "application/json"}
        if self.kind == "tracking":
            run_id = self.spec["runs"][self.caller]
            if n % 2 == 0:
                body = {"run_id": run_id, "key": "loss", "value": 1.0 / (n + 1),
                        "timestamp": int(time.time() * 1000), "step": n}
                return "/api/2.0/mlflow/runs/log-metric", json.dumps(body).encode(), \
                    json_headers, [[run_id, "loss", n]]
            now = int(time.time() * 1000)
            metrics = [{"key": f"m{k}", "value": float(n + k), "timestamp": now, "step": n}
                       for k in range(BATCH_METRICS)]
            return "/api/2.0/mlflow/runs/log-batch", json.dumps(
                {"run_id": run_id, "metrics": metrics}).encode(), json_headers, \
                [[run_id, f"m{k}", n] for k in range(BATCH_METRICS)]
        if self.kind == "gateway":
            body = {"model": CHAT_MODEL, "messages": [
                {"role": "user", "content": f"soak question {self.caller}-{n}"}]}
            return "/v1/chat/completions", json.dumps(body).encode(), json_headers, []
        if self.kind == "otlp":
            first = self.first_ts + n * SOAK_OTLP_POINTS * STEP_MS
            body = metrics_request(self.labels, first, SOAK_OTLP_POINTS, "bench-soak")
            return "/v1/metrics", body, {**self.auth, "Content-Type": "application/x-protobuf"}, \
                [[self.caller, n]]
        request_id = f"soak-{self.caller}-{n}"
        row = {"f0": float(n % 7), "f1": float(n % 3)}
        return f"/api/v1/endpoints/{ENDPOINT}/predict", json.dumps({"records": [row]}).encode(), \
            {**json_headers, "X-Request-ID": request_id}, [request_id]


async def soak_worker(kind: str, spec: dict) -> dict:
    """Paced callers of one kind until ``stop_at``; what each request got, per second."""
    callers, rate = spec["callers"], spec["rate"]
    start_at, stop_at = spec["start_at"], spec["stop_at"]
    down = [0.0] * len(spec["urls"])
    latencies: list[tuple[float, float]] = []  # (seconds since start, latency s)
    outcomes: dict[str, int] = defaultdict(int)
    per_second: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    per_replica: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    acked: list = []

    async def caller(c: int) -> None:
        make = Kind(kind, spec, c)
        replicas = Replicas(spec["urls"], down)
        gap = callers / rate
        due = start_at + c * gap / callers
        try:
            while True:
                now = time.time()
                if now >= stop_at:
                    return
                if due > now:
                    await asyncio.sleep(due - now)
                due += gap
                path, body, headers, record = make.next()
                t0 = time.perf_counter()
                status, _, replica = await replicas.request("POST", path, body, headers)
                latency = time.perf_counter() - t0
                second = int(time.time() - start_at)
                ok = isinstance(status, int) and 200 <= status < 300
                outcome = "ok" if ok else str(status)
                outcomes[outcome] += 1
                per_second[second][outcome] += 1
                if replica is not None:
                    per_replica[str(replica)][outcome] += 1
                if ok:
                    latencies.append((time.time() - start_at, latency))
                    acked.extend(record)
        finally:
            replicas.close()

    while time.time() < start_at:
        await asyncio.sleep(0.01)
    await asyncio.gather(*[caller(c) for c in range(callers)])
    return {"kind": kind, "outcomes": dict(outcomes), "latencies": latencies,
            "per_second": {s: dict(v) for s, v in per_second.items()},
            "per_replica": {r: dict(v) for r, v in per_replica.items()}, "acked": acked}


# -- soak setup and verification ----------------------------------------------------------


def write_gateway_config(path: Path, upstream: str, cache_ttl_s: float | None) -> None:
    # Every soak prompt is new, so the answer cache holds one answer per call for its TTL.
    cache = "" if cache_ttl_s is None else f"\n[gateway.cache]\nttl_s = {cache_ttl_s}\n"
    path.write_text(f"""
[gateway]
retries = 0
{cache}
[[gateway.upstreams]]
name = "alpha"
base_url = "{upstream}/v1"

[[gateway.routes]]
alias = "{CHAT_MODEL}"
deployments = [{{ upstream = "alpha", model = "gpt-4o-mini" }}]
""")


def setup_soak(url: str) -> dict:
    """A model served as ``ENDPOINT``, a reference window of its predictions, a monitor
    on it, and one MLflow run per tracking caller."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    os.environ["MLFLOW_TRACKING_TOKEN"] = KEY
    mlflow.set_tracking_uri(url)
    x = pd.DataFrame({"f0": np.arange(60.0) % 7, "f1": np.arange(60.0) % 3})
    y = (x.f0 > 3).astype(int)
    model = LogisticRegression().fit(x, y)
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="soak-model",
                                 signature=infer_signature(x, model.predict(x)),
                                 serialization_format="skops", pip_requirements=["scikit-learn"])
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"},
                      timeout=60) as http:
        http.post("/api/v1/endpoints", json={"name": ENDPOINT, "model": "soak-model/1"}
                  ).raise_for_status()
        ref_start = int(time.time() * 1000)
        for n in range(200):
            http.post(f"/api/v1/endpoints/{ENDPOINT}/predict",
                      json={"records": [{"f0": float(n % 7), "f1": float(n % 3)}]},
                      headers={"X-Request-ID": f"reference-{n}"}).raise_for_status()
        ref_end = int(time.time() * 1000) + 1
        http.post("/api/v1/monitors", json={
            "name": "soak-drift", "endpoint": ENDPOINT, "interval_s": MONITOR_INTERVAL_S,
            "spec": {"window": {"kind": "count", "size": 500},
                     "reference": {"kind": "window", "start_ms": ref_start,
                                   "end_ms": ref_end}}}).raise_for_status()
        experiment = http.post("/api/2.0/mlflow/experiments/create",
                               json={"name": "soak"}).json()["experiment_id"]
        runs = [http.post("/api/2.0/mlflow/runs/create",
                          json={"experiment_id": experiment,
                                "start_time": int(time.time() * 1000)}
                          ).json()["run"]["info"]["run_id"]
                for _ in range(SOAK_CALLERS["tracking"])]
    return {"runs": runs, "ref_end": ref_end}


def checked(response: httpx.Response) -> Any:
    """The JSON of a 200: a failed lookup must not pass for lost data."""
    response.raise_for_status()
    return response.json()


def verify_soak(url: str, results: dict[str, dict], spec: dict) -> dict:
    """Look up every acknowledged write through ``url``; check the monitor's slots."""
    lost: dict[str, int] = {}
    acked: dict[str, int] = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"},
                      timeout=120) as http:
        # Tracking: every acknowledged (run, key, step).
        want: dict[tuple[str, str], set[int]] = defaultdict(set)
        for run_id, key, step in results.get("tracking", {}).get("acked", []):
            want[(run_id, key)].add(step)
        missing = 0
        for (run_id, key), steps in want.items():
            history = checked(http.get("/api/2.0/mlflow/metrics/get-history",
                                       params={"run_id": run_id, "metric_key": key}))
            have = {m["step"] for m in history.get("metrics", [])}
            missing += len(steps - have)
        acked["tracking"] = sum(len(s) for s in want.values())
        lost["tracking"] = missing

        # OTLP: every point of every acknowledged request.
        missing = 0
        have_ts: dict[str, set[int]] = {}
        otlp_acked = results.get("otlp", {}).get("acked", [])
        for caller, n in otlp_acked:
            keys = series_keys(series_of(100 + caller, 0, SOAK_OTLP_SERIES), "bench-soak")
            first = spec["otlp_base_ms"] + n * SOAK_OTLP_POINTS * STEP_MS
            for key in keys:
                if key not in have_ts:
                    points = checked(http.get("/api/v1/ops/samples", params={
                        "series": key, "limit": 1_000_000}))["points"]
                    have_ts[key] = {p["ts_ms"] for p in points}
                missing += sum(first + p * STEP_MS not in have_ts[key]
                               for p in range(SOAK_OTLP_POINTS))
        acked["otlp"] = len(otlp_acked) * SOAK_OTLP_SERIES * SOAK_OTLP_POINTS
        lost["otlp"] = missing

        # Predictions: every acknowledged request id, read back in 2-second slices.
        logged: set[str] = set()
        t = spec["ref_end"]
        end = int(time.time() * 1000) + 1
        slice_ms = 2000
        while t < end:
            page = checked(http.get(f"/api/v1/endpoints/{ENDPOINT}/predictions", params={
                "start_ms": t, "end_ms": t + slice_ms, "limit": 10_000}))["predictions"]
            if len(page) >= 10_000:
                raise RuntimeError("prediction slice full: make slice_ms smaller")
            logged.update(p["request_id"] for p in page)
            t += slice_ms
        predict_acked = results.get("predict", {}).get("acked", [])
        acked["predict"] = len(predict_acked)
        lost["predict"] = sum(r not in logged for r in predict_acked)

        # Duties: the monitor ran at most once per slot.
        runs = checked(http.get("/api/v1/monitors/soak-drift/results",
                                params={"limit": 10_000}))
    times = sorted(r["time_ms"] for r in runs)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    twice = sum(g < MONITOR_INTERVAL_S * 1000 for g in gaps)
    return {"acked": acked, "lost": lost, "monitor_runs": len(times),
            "monitor_statuses": sorted({r["status"] for r in runs}),
            "monitor_min_gap_s": min(gaps) / 1000 if gaps else None, "duties_twice": twice}


def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (v - my) for t, v in points) / var * 60 if var else None


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def run_soak(args: argparse.Namespace, work: Path) -> dict:
    seconds = args.minutes * 60
    warmup = min(120.0, seconds / 5)
    kill_at = seconds / 2 if args.kill else float("inf")
    db_name, store = new_pg_database()
    upstream_port = free_port()
    with open(work / "upstream.log", "wb") as upstream_log:
        upstream = subprocess.Popen(
            [sys.executable, "-m", "triops.llm.gateway.local_upstream", "--port",
             str(upstream_port), "--name", "alpha"],
            stdout=subprocess.DEVNULL, stderr=upstream_log)
    config = work / "triops.toml"
    write_gateway_config(config, f"http://127.0.0.1:{upstream_port}", args.gateway_cache_ttl)
    replicas: list[dict] = []
    try:
        replicas = start_replicas(work / "soak", store, 3, {"TRIOPS_CONFIG": str(config)})
        urls = [r["url"] for r in replicas]
        setup = setup_soak(urls[0])
        spec = {"urls": urls, "runs": setup["runs"], "ref_end": setup["ref_end"],
                "otlp_base_ms": int(time.time() * 1000) - 30 * 86_400_000}
        start_at = time.time() + 3.0
        stop_at = start_at + seconds
        load_before = loadavg()
        handles = {kind: spawn_worker("soak-" + kind, {
            **spec, "callers": SOAK_CALLERS[kind], "rate": SOAK_RATES[kind],
            "start_at": start_at, "stop_at": stop_at}, work / f"soak-{kind}")
            for kind in args.soak_kinds}
        rss: list[list[tuple[float, float]]] = [[] for _ in replicas]
        killed = None
        while time.time() < stop_at + 1:
            t = time.time() - start_at
            for i, r in enumerate(replicas):
                if r["proc"].poll() is None and t >= 0:
                    rss[i].append((t, rss_mb(r["proc"].pid)))
            if killed is None and t >= kill_at:
                victim = replicas[-1]["proc"]
                victim.send_signal(signal.SIGKILL)
                victim.wait(10)
                killed = t
                log(f"soak: killed replica 2 (pid {victim.pid}) at {t:.1f}s")
            time.sleep(min(RSS_EVERY_S, max(0.05, kill_at - t) if killed is None
                           else RSS_EVERY_S))
        results = {kind: collect_worker(h, timeout=120) for kind, h in handles.items()}
        load_after = loadavg()
        verified = verify_soak(urls[0], results, spec)
        summary = summarise(results, rss, seconds, warmup, killed)
        out = {**summary, **verified, "minutes": args.minutes, "warmup_s": warmup,
               "killed_at_s": killed, "load_before": load_before, "load_after": load_after,
               "rates": {kind: SOAK_RATES[kind] for kind in args.soak_kinds}}
        log(f"soak: {json.dumps(out)}")
        return out
    finally:
        stop_replicas(replicas)
        upstream.terminate()
        upstream.wait(10)
        drop_pg_database(db_name)


def summarise(results: dict[str, dict], rss: list[list[tuple[float, float]]], seconds: float,
              warmup: float, killed: float | None) -> dict:
    kinds = {}
    for kind, r in results.items():
        total = sum(r["outcomes"].values())
        ok = r["outcomes"].get("ok", 0)
        lat = [latency * 1000 for _, latency in r["latencies"]]
        kinds[kind] = {"requests": total, "ok": ok, "req_per_s": ok / seconds,
                       "errors": total - ok, "error_rate": (total - ok) / total if total else 0,
                       "errors_by_kind": {k: v for k, v in r["outcomes"].items() if k != "ok"},
                       # Answers other than 2xx; the rest are transport errors (the
                       # killed replica: requests in flight, then refused connections).
                       "http_errors": sum(v for k, v in r["outcomes"].items() if k.isdigit()),
                       "p50_ms": percentile(lat, 0.50), "p99_ms": percentile(lat, 0.99),
                       "per_replica": r["per_replica"]}
    memory = []
    for i, points in enumerate(rss):
        after = [(t, v) for t, v in points
                 if t >= warmup and (killed is None or i != 2 or t < killed)]
        memory.append({"replica": i, "start_mb": points[0][1] if points else None,
                       "after_warmup_mb": after[0][1] if after else None,
                       "end_mb": points[-1][1] if points else None,
                       "max_mb": max(v for _, v in points) if points else None,
                       "slope_mb_per_min": slope_mb_per_min(after), "samples": points})
    return {"kinds": kinds, "rss": memory}


# -- report ---------------------------------------------------------------------------------


def report_soak(soak: dict) -> None:
    killed = (f"replica 2 SIGKILLed at {soak['killed_at_s']:.0f} s"
              if soak["killed_at_s"] is not None else "no replica killed")
    print(f"\nSoak: {soak['minutes']:g} min on 3 replicas (PostgreSQL), {killed}; "
          f"load {', '.join(soak['rates'])}; warm-up {soak['warmup_s']:.0f} s\n")
    print("| kind | offered req/s | ok req/s | non-2xx answers | transport errors | error rate "
          "| p50 ms | p99 ms | acknowledged writes | lost |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind, k in soak["kinds"].items():
        transport = ", ".join(f"{n} {e}" for e, n in k["errors_by_kind"].items()
                              if not e.isdigit()) or "0"
        print(f"| {kind} | {SOAK_RATES[kind]:g} | {k['req_per_s']:.1f} | {k['http_errors']} | "
              f"{transport} | {k['error_rate']:.2%} | {k['p50_ms'] or 0:.1f} | "
              f"{k['p99_ms'] or 0:.1f} | {soak['acked'].get(kind, '—')} | "
              f"{soak['lost'].get(kind, '—')} |")
    print("\n| replica | RSS start MB | after warm-up | end | max | slope after warm-up "
          "MB/min |")
    print("|---|---|---|---|---|---|")
    for m in soak["rss"]:
        slope = m["slope_mb_per_min"]
        print(f"| {m['replica']} | {m['start_mb']:.0f} | {m['after_warmup_mb'] or 0:.0f} | "
              f"{m['end_mb']:.0f} | {m['max_mb']:.0f} | "
              f"{'—' if slope is None else f'{slope:+.2f}'} |")
    minutes = range(int(soak["minutes"]) + 1)
    print("\nRSS MB at each minute:\n")
    print("| replica | " + " | ".join(f"{m} min" for m in minutes) + " |")
    print("|---|" + "---|" * len(minutes))
    for m in soak["rss"]:
        marks = []
        for minute in minutes:
            near = [v for t, v in m["samples"] if abs(t - minute * 60) <= RSS_EVERY_S]
            marks.append(f"{near[0]:.0f}" if near else "—")
        print(f"| {m['replica']} | " + " | ".join(marks) + " |")
    print(f"\nmonitor runs: {soak['monitor_runs']} (every {MONITOR_INTERVAL_S} s, "
          f"statuses {soak['monitor_statuses']}), smallest gap "
          f"{soak['monitor_min_gap_s']} s, runs in a slot already run: "
          f"{soak['duties_twice']}")
    print(f"loadavg before: {soak['load_before']}; after: {soak['load_after']}")
