"""The LLM pages render real data server-side, filter, take scores, and refuse bad input."""

from __future__ import annotations

import re
import time

from otlp_payloads import rag_trace, request_of

PB = {"Content-Type": "application/x-protobuf"}


def _seed(client, n=3):
    ids = []
    now = time.time_ns()
    for i in range(n):
        tid, spans = rag_trace(now - i * 60_000_000_000, model=["gpt-4o", "llama3"][i % 2],
                               error=i == 1, latency_ms=100 * (i + 1), user=f"user-{i}")
        assert client.post("/v1/traces", content=request_of(spans).SerializeToString(),
                           headers=PB).status_code == 200
        ids.append(tid)
    return ids


def test_pages_render_traces_waterfall_and_dashboard(client):
    ids = _seed(client)
    home = client.get("/ui/llm")
    assert home.status_code == 200 and "answer-question" in home.text and ">3<" in home.text
    page = client.get("/ui/llm/traces", params={"model": "llama3"})
    assert page.status_code == 200
    assert ids[1] in page.text and ids[0] not in page.text and ids[2] not in page.text
    errors = client.get("/ui/llm/traces", params={"status": "error", "since": "24h"}).text
    assert ids[1] in errors and ids[0] not in errors
    bad = client.get("/ui/llm/traces", params={"min_latency_ms": "fast"})
    assert bad.status_code == 200 and "must be a number" in bad.text

    trace = client.get(f"/ui/llm/traces/{ids[0]}").text
    assert trace.count('class="wf-bar') == 3 and "retrieval.documents.0.document.content" in trace
    assert 'style="padding-left: 18px"' in trace  # children are indented under the root
    assert client.get(f"/ui/llm/traces/{'ab' * 16}").status_code == 404

    r = client.post(f"/ui/llm/traces/{ids[0]}/scores",
                    data={"name": "thumbs", "value": "1", "source": "human", "comment": "great"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "great" in client.get(f"/ui/llm/traces/{ids[0]}").text
    assert client.post(f"/ui/llm/traces/{ids[0]}/scores",
                       data={"name": "x", "value": "abc"}).status_code == 400

    dash = client.get("/ui/llm/dashboard", params={"window": "1h"})
    assert dash.status_code == 200
    assert dash.text.count('class="chart"') >= 6 + 2 + 2  # six panels, two bar charts, one per model
    assert "gpt-4o" in dash.text and "llama3" in dash.text and "admin" in dash.text
    for page_text in (dash.text, trace, home.text):
        # Scripts are triops' own static files, never fetched from elsewhere.
        scripts = set(re.findall(r'<script src="([^"]*)"', page_text))
        assert scripts == {"/static/triops-charts.js"}
        assert 'src="http' not in page_text and 'href="http' not in page_text


def test_pages_need_a_login(client):
    anonymous = client.get("/ui/llm/traces", headers={"Authorization": ""},
                           follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/ui/login?next=%2Fui%2Fllm%2Ftraces"
