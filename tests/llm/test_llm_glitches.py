"""Small things that read wrong: a label's first move, a run where no call answered,
quotes in span attributes."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

from triops.cli.prompts import _moved
from triops.ui.rendering import templates


def test_a_labels_first_move_comes_from_no_version():
    assert _moved({"from_version": None, "to_version": 1}) == "(new label) → v1"
    assert _moved({"from_version": 1, "to_version": 2}) == "v1 → v2"


def test_a_run_where_every_call_failed_has_no_latency():
    run = SimpleNamespace(name="r", status="finished", prompt_name=None, model="m",
                          dataset="d", created_by="x",
                          summary={"cases": 2, "errors": 2, "metrics": {},
                                   "latency_p50_ms": None, "cost_usd": 0.0})
    html = templates.get_template("eval_run.html").render(
        run=run, results=[], scorers=[], caller=None, request=None)
    assert "None" not in html and "<b>—</b>" in html
    run.summary["latency_p50_ms"] = 812.4
    html = templates.get_template("eval_run.html").render(
        run=run, results=[], scorers=[], caller=None, request=None)
    assert "<b>812 ms</b>" in html


def test_quotes_in_attributes_show_as_written(client):
    tid, now = os.urandom(16).hex(), time.time_ns()
    span = {"trace_id": tid, "span_id": os.urandom(8).hex(), "name": "chat",
            "start_ns": now, "end_ns": now + 10**6, "attributes": {
                "openinference.span.kind": "LLM",
                "llm.input_messages": [{"role": "user", "content": "I'm <here> & \"there\""}]}}
    assert client.post("/api/v1/traces/spans", json={"spans": [span]}).status_code == 201
    page = client.get(f"/ui/llm/traces/{tid}").text
    assert "\\u0027" not in page and "\\u003c" not in page
    assert "I&#39;m &lt;here&gt; &amp; \\&#34;there\\&#34;" in page
