"""Prompt and eval pages in headless Chromium: list, versions, diff, label Undo, runs, compare."""

from __future__ import annotations

import pytest

from tests.e2e.browser import browser_page, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BACKENDS_UNDER_TEST = ("sqlite",)


def _seed(http) -> tuple[str, str]:
    for i, (content, message) in enumerate([
            ("You are the support desk of {{ company }}.\nBe kind.", "first"),
            ("You are the support desk of {{ company }}.\nAnswer in one line.", "shorter"),
            ("You are the support desk of {{ company }}.\nAnswer in one line.\nCite the policy.",
             "cite policy")]):
        r = http.post("/api/v1/prompts/support/versions", json={
            "messages": [{"role": "system", "content": content},
                         {"role": "user", "content": "{{ question }}"}],
            "model": "chat", "params": {"temperature": 0.1 * i}, "message": message,
            "labels": ["production"] if i == 0 else []})
        assert r.status_code == 201, r.text
    for version in (2, 3):
        http.put("/api/v1/prompts/support/labels/production", json={"version": version})
    http.put("/api/v1/prompts/support/labels/staging", json={"version": 3})
    runs = []
    for name, version, values in (("v2 golden", 2, [1, 0, 1, 0]), ("v3 golden", 3, [1, 1, 1, 0])):
        run = http.post("/api/v1/evals/runs", json={
            "name": name, "prompt_name": "support", "prompt_version": version,
            "prompt_label": "production", "model": "chat", "dataset": "golden", "case_count": 4,
            "config": {"scorer_names": ["contains"]}}).json()
        http.post(f"/api/v1/evals/runs/{run['id']}/results", json={"results": [
            {"case_index": i, "inputs": {"question": f"q{i}"}, "expected": f"a{i}",
             "output": f"answer {i}" if v else "", "latency_ms": 100 + i,
             "error": "" if i != 3 or version == 3 else "HTTP 503: upstream down",
             "scores": {"contains": {"value": float(v)}}} for i, v in enumerate(values)]})
        http.post(f"/api/v1/evals/runs/{run['id']}/finish", json={})
        runs.append(run["id"])
    return runs[0], runs[1]


def test_prompt_and_eval_pages(server):
    with server.http() as http:
        _seed(http)
    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.goto("/ui/llm")
        page.click("a.tile >> text=Prompts")
        assert "production → v3" in page.inner_text("#prompts")
        shot(page, "prompts-list")

        page.click("#prompts >> text=support")
        assert page.locator("#versions tbody tr").count() == 3
        assert page.locator("#history tbody tr").count() == 4
        shot(page, "prompt-detail")

        page.select_option("select[name=from]", "1")
        page.select_option("select[name=to]", "3")
        page.click("button:has-text('Show diff')")
        assert page.locator("#diff span.add").count() >= 2
        assert "-Be kind." in page.inner_text("#diff")
        shot(page, "prompt-diff")

        page.goto("/ui/llm/prompts/support")
        page.click("button.undo[data-label=production]")
        page.wait_for_url("**/ui/llm/prompts/support#labels")
        row = page.locator("#label-table tr", has_text="production")
        assert "v2" in row.inner_text()
        assert "undo" in page.inner_text("#history tbody tr:first-child")
        shot(page, "prompt-after-undo")

        page.goto("/ui/llm/evals")
        assert page.locator("#runs tbody tr").count() == 2
        shot(page, "eval-runs")
        page.click("#runs >> text=v2 golden")
        assert page.locator("#results tr.failed").count() == 1
        shot(page, "eval-run")

        page.goto("/ui/llm/evals")
        page.click("button:has-text('Compare')")
        assert "+0.250" in page.inner_text("#deltas")
        assert page.locator("#cases tbody tr.diff").count() == 1  # case 1: 0 → 1
        shot(page, "eval-compare")
