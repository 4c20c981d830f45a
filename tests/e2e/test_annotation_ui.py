"""The review screen in headless Chromium, driven by its keyboard shortcuts: two
reviewers work through a queue, one answer corrected, one skipped; the corrections
become a dataset version from the queue page."""

from __future__ import annotations

import pytest

from tests.e2e.browser import browser_page, login, shot
from tests.llm.chat_traces import post_chat

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BACKENDS_UNDER_TEST = ("sqlite",)


def test_reviewers_score_correct_and_skip_with_the_keyboard(server):
    with server.http() as http:
        http.put("/api/v1/score-configs/verdict", json={
            "data_type": "categorical", "categories": ["wrong", "partly", "right"]})
        for q, a in (("capital of France?", "Lyon"), ("2+2?", "5")):
            trace_id = post_chat(http, q, a, user="ui-queue")
            http.post(f"/api/v1/traces/{trace_id}/scores",
                      json={"name": "thumbs", "value": False})
        made = http.post("/api/v1/annotation-queues", json={
            "name": "thumbs-down", "score_name": "verdict", "description": "users said no",
            "filter": {"score": ["thumbs=false"], "user": "ui-queue"}})
        assert made.status_code == 201, made.text
        assert http.post("/api/v1/annotation-queues/thumbs-down/fill").json()["added"] == 2

    with browser_page(server.url) as page:
        page.set_viewport_size({"width": 1400, "height": 900})
        login(page, server.admin_key)
        page.goto("/ui/llm/annotations")
        assert "0/2" in page.inner_text("#queues")
        page.click("#queues >> text=Review")
        page.wait_for_selector("#annotate")
        shot(page, "annotate-review")
        given = page.inner_text("#given")
        page.keyboard.press("1")  # "wrong"
        assert page.is_checked("input[name=value][value=wrong]")
        page.keyboard.press("c")
        fixed = "Paris" if given == "Lyon" else "4"
        page.fill("textarea[name=correction]", fixed)
        page.keyboard.press("Control+Enter")
        page.wait_for_selector("#annotate")
        assert page.inner_text("#given") != given
        page.keyboard.press("s")  # skip the second one
        page.wait_for_selector("text=Nothing left for you")
        assert "2 of 2 reviewed" in page.inner_text("#progress")

        page.goto("/ui/llm/annotations/thumbs-down")
        items = page.inner_text("#items")
        assert "done" in items and "skipped" in items and fixed in items
        page.fill("input[name=dataset]", "from-thumbs")
        shot(page, "annotation-queue")
        page.click("button:has-text('Add as a new version')")
        page.wait_for_url("**/ui/llm/datasets/from-thumbs")
        assert fixed in page.inner_text("table.cases")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/ui/llm/annotations/thumbs-down")
        shot(page, "annotation-queue-phone")
