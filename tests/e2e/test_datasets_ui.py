"""Scores and eval datasets in headless Chromium: filter the trace list by a categorical
score, add the selected traces to a new dataset, correct a case, delete one, read an
older version."""

from __future__ import annotations

import pytest

from tests.e2e.browser import browser_page, login, shot
from tests.llm.chat_traces import post_chat

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BACKENDS_UNDER_TEST = ("sqlite",)


def test_trace_list_to_dataset_versions(server):
    with server.http() as http:
        http.put("/api/v1/score-configs/verdict", json={
            "data_type": "categorical", "categories": ["wrong", "right"]})
        wrong = [post_chat(http, q, a) for q, a in (("capital of France?", "Lyon"),
                                                    ("2+2?", "5"))]
        right = post_chat(http, "capital of Italy?", "Rome")
        for trace_id in wrong:
            http.post(f"/api/v1/traces/{trace_id}/scores", json={"name": "verdict",
                                                                 "value": "wrong"})
        http.post(f"/api/v1/traces/{right}/scores", json={"name": "verdict", "value": "right"})

    with browser_page(server.url) as page:
        page.set_viewport_size({"width": 1400, "height": 900})
        login(page, server.admin_key)
        page.goto("/ui/llm/traces")
        page.fill("input[name=score]", "verdict=wrong")
        page.click("button:has-text('Filter')")
        rows = page.locator("table.traces tbody tr")
        assert rows.count() == 2
        for box in page.locator("input[name=trace_id]").all():
            box.check()
        page.fill("#to-dataset input[name=dataset]", "corrections")
        shot(page, "traces-score-filter")
        page.click("#to-dataset button")
        page.wait_for_url("**/ui/llm/datasets/corrections")
        assert page.locator("table.cases tbody tr").count() == 2
        assert "trace " in page.inner_text("table.cases")

        case = page.locator("table.cases tbody tr").filter(has_text="Lyon")
        case.locator("summary").click()
        case.locator("textarea[name=expected]").fill("Paris")
        case.locator("input[name=message]").fill("corrected by review")
        case.locator("button:has-text('Save')").click()
        page.wait_for_load_state()
        text = page.inner_text("table.cases")
        assert "Paris" in text and "Lyon" not in text
        # The question, not the answer "5": a trace id or a time in the row may hold a 5.
        page.locator("table.cases tbody tr").filter(has_text="2+2?").locator(
            "button:has-text('Delete')").click()
        page.wait_for_load_state()
        assert page.locator("table.cases tbody tr").count() == 1
        assert "corrected by review" in page.inner_text("h2:has-text('Versions') + table")
        shot(page, "dataset-detail")

        page.click("a:has-text('v1')")
        assert "older version" in page.inner_text("main")
        assert "Lyon" in page.inner_text("table.cases")
        page.set_viewport_size({"width": 390, "height": 844})
        shot(page, "dataset-old-version-phone")
