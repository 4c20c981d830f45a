"""Loop 3 (infrastructure): a PetShop issue replayed as OTLP traces and metrics; the
incident names the component where the issue was injected and reaches the on-call channel.

The bundled data is a trimmed issue of the PetShop root-cause dataset (Hardt et al.,
arXiv 2311.04806; CC-BY-4.0): the call graph's edges, 8 h of normal 5-minute rows and the
issue window, for the target metric and the request counts. The replay is moved in time so
that the issue ends now. Traces whose client/server spans cross ``service.name`` teach the
topology the call graph; the metrics arrive as OTLP/HTTP protobuf gauges; the SLO violation
PetShop labels as the symptom is posted as an SLO alert would post it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import time
from importlib import resources

import pandas as pd

from triops.demo._context import DemoContext, LoopResult
from triops.demo._llm import free_port
from triops.demo._receiver import Receiver
from triops.demo.otlp_replay import call_graph_traces, metrics_request
from triops.llm.gateway.local_upstream import Served

NAME = "infra"
PB = {"Content-Type": "application/x-protobuf"}
STEP_S = 300
HOOK, RUNBOOK_HOOK = "/oncall", "/oncall/runbook"


def _runbook(url: str) -> str:
    return f"""\
description: tell on-call which component the ranking puts first for an SLO violation
trigger: {{kind: slo_violation, source: ops, min_severity: error}}
steps:
  - action: webhook.call
    params:
      url: "{url}"
      body:
        incident: "{{{{ incident.id }}}}"
        symptom: "{{{{ incident.subject }}}}"
        first_cause: "{{{{ causes[0].entity }}}}"
        evidence: "{{{{ causes[0].evidence }}}}"
approval: auto
limits: {{max_runs_per_hour: 5, max_concurrent: 1}}
"""


def _read(name: str) -> str:
    return resources.files("triops.demo").joinpath(f"data/{name}").read_text()


def _metrics_table(name: str) -> pd.DataFrame:
    raw = resources.files("triops.demo").joinpath(f"data/{name}").read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    frame = pd.read_csv(io.BytesIO(raw), header=[0, 1, 2], index_col=0)
    return frame.astype(float)


def play(ctx: DemoContext) -> LoopResult:
    target = json.loads(_read("petshop_target.json"))
    edges = [tuple(row) for row in list(csv.reader(_read("petshop_edges.csv").splitlines()))[1:]]
    issue, normal = _metrics_table("petshop_issue.csv"), _metrics_table("petshop_normal.csv.gz")
    # The normal rows are from another day: they become the hours just before the issue,
    # and the whole replay moves so that the labelled symptom happens now.
    normal.index = issue.index[0] - STEP_S * (len(normal) - pd.RangeIndex(len(normal)))
    symptom_s = float(target["target"]["timestamp"])
    shift = math.floor(time.time() / STEP_S) * STEP_S - math.ceil(symptom_s / STEP_S) * STEP_S
    replay = pd.concat([normal, issue[normal.columns]])
    replay.index = replay.index + shift

    receiver = Receiver()
    served = Served(receiver.app(), free_port()).start()
    try:
        ctx.call("PUT", "/api/v1/notifications/channels/oncall",
                 json={"kind": "webhook", "config": {"url": f"{served.url}{HOOK}"}})
        ctx.call("PUT", "/api/v1/notifications/routes/ops-errors",
                 json={"channel": "oncall", "matchers": ['source="ops"', 'severity=~"error|critical"'],
                       "group_wait_s": 0, "repeat_interval_s": 0})
        ctx.put_runbook("name-the-cause", _runbook(f"{served.url}{RUNBOOK_HOOK}"))
        ctx.say(NAME, f"on-call channel: a signed-webhook receiver at {served.url}; "
                      "runbook name-the-cause applied")
        traces = call_graph_traces(edges, int((time.time() - 3600) * 1e9))
        ctx.call("POST", "/v1/traces", content=traces.SerializeToString(), headers=PB)
        for start in range(0, len(replay), 15):
            body = metrics_request(replay.iloc[start:start + 15]).SerializeToString()
            ctx.call("POST", "/v1/metrics", content=body, headers=PB)
        ctx.say(NAME, f"PetShop replayed as OTLP: {len(edges)} calls of the call graph as "
                      f"traces, {len(replay)} five-minute rows of {len(replay.columns)} series")
        node, metric, stat = (target["target"][k] for k in ("node", "metric", "agg"))
        symptom = f'series:{metric}{{service_name="{node}",statistic="{stat}"}}'
        posted_ms = int((symptom_s + shift) * 1000)
        folded = ctx.call("POST", "/api/v1/signals", json={
            "source": "ops", "kind": "slo_violation", "subject": symptom, "severity": "error",
            "time_ms": posted_ms, "summary": f"{node} {metric} {stat} above its SLO"})
        signalled_ms = int(time.time() * 1000)
        incident_id = folded["incident_id"]
        ctx.say(NAME, f"[red]signal[/] {node} {metric} {stat} above its SLO → incident "
                      f"{incident_id}")
        causes = ctx.call("GET", f"/api/v1/incidents/{incident_id}/causes")
        for cause in causes[:3]:
            ctx.say(NAME, f"cause {cause['entity']} ({cause['kind']}, {cause['score']:.3f})")
        run = ctx.see_run_through(NAME, incident_id)
        notified = ctx.wait_for("the on-call notification", lambda: [
            r for r in receiver.on(HOOK)
            if incident_id in [i["id"] for i in r.body.get("incidents", [])]] or None)
        told = receiver.on(RUNBOOK_HOOK)
        ctx.say(NAME, f"on-call got the incident ({notified[0].body['status']}) and the "
                      f"runbook's message: first cause {told[0].body['first_cause'] if told else '—'}")
    finally:
        served.stop()
    root = f"service:{target['root_cause']['node']}"
    first = (causes[0]["entity"], causes[0]["kind"]) if causes else ("", "")
    closed = first == (root, "metric_anomaly") and run["status"] == "succeeded" \
        and bool(told) and told[0].body.get("first_cause") == root
    remediated = max(notified[0].at_ms, told[0].at_ms) if told else None
    summary = (f"first cause {first[0]} ({first[1]}), injected at {root}; on-call notified; "
               f"run {run['status']}")
    return LoopResult(NAME, closed, summary, signalled_ms, remediated,
                      facts={"incident_id": incident_id, "run_id": run["id"],
                             "causes": [c["entity"] for c in causes[:3]]})
