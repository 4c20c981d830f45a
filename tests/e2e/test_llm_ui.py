"""The LLM pages in headless Chromium: trace list, filters, a trace's waterfall, dashboard."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.e2e.browser import browser_page, login, shot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))
from otlp_payloads import rag_trace, request_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BACKENDS_UNDER_TEST = ("sqlite",)


def test_trace_list_trace_view_and_dashboard(server):
    now = time.time_ns()
    ids = []
    with server.http() as http:
        for i in range(8):
            tid, spans = rag_trace(now - i * 400_000_000_000, model=["gpt-4o", "llama3"][i % 2],
                                   error=i == 3, latency_ms=150 + 90 * i, user=f"user-{i % 3}",
                                   session=f"s-{i % 2}", cost=0.001 * (i + 1))
            r = http.post("/v1/traces", content=request_of(spans).SerializeToString(),
                          headers={"Content-Type": "application/x-protobuf"})
            assert r.status_code == 200
            ids.append(tid)

    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.click("nav.sections >> text=LLM")
        assert "Last 24 hours" in page.inner_text("main")
        shot(page, "llm-home")

        page.click("a.tile >> text=Traces")
        assert page.locator("table.traces tbody tr").count() == 8
        page.select_option("select[name=status]", "error")
        page.click("button:has-text('Filter')")
        assert page.locator("table.traces tbody tr").count() == 1
        page.select_option("select[name=status]", "")
        page.select_option("select[name=model]", "llama3")
        page.fill("input[name=min_latency_ms]", "400")
        page.click("button:has-text('Filter')")
        rows = page.locator("table.traces tbody tr")
        assert rows.count() == 3  # llama3 traces 1, 3, 5, 7 take 240, 420, 600, 780 ms
        shot(page, "llm-traces-filtered")

        page.goto(f"/ui/llm/traces/{ids[3]}")
        assert page.locator(".wf-row").count() == 3
        assert page.locator(".wf-row.failed").count() == 1
        page.click(".wf-row.failed summary")
        assert "gen_ai.usage.input_tokens" in page.inner_text(".wf-row.failed .wf-detail")
        page.fill("input[name=name]", "helpfulness")
        page.fill("input[name=value]", "0")
        page.fill("input[name=comment]", "wrong answer")
        page.click("button:has-text('Add score')")
        assert "wrong answer" in page.inner_text("main")
        page.click(".wf-row.failed summary")
        shot(page, "llm-trace")

        page.goto("/ui/llm/dashboard?window=1h")
        assert page.locator("div.chart").count() >= 10
        shot(page, "llm-dashboard")
