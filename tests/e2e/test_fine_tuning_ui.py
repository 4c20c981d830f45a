"""The fine-tuning and rollout pages in headless Chromium: a job trained by the pipeline
recipe (its status, events, metric charts, training data and registered model), then
two rollouts of its model, one refused by the gate and one passed as a canary with a
watcher."""

from __future__ import annotations

import json

import openai
import pytest

from tests.e2e.browser import browser_page, charts, login, shot
from tests.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BACKENDS_UNDER_TEST = ("sqlite",)

TRAINING = b"".join(json.dumps({"messages": [
    {"role": "user", "content": q}, {"role": "assistant", "content": a}]}).encode() + b"\n"
    for q, a in (("where is my parcel?", "Track it at /orders."),
                 ("can I get a refund?", "Refunds take 5 days.")))


def eval_run(http, name: str, values: list[int]) -> str:
    run = http.post("/api/v1/evals/runs", json={
        "name": name, "model": "support", "dataset": "support-fixes@1",
        "case_count": len(values), "config": {"scorer_names": ["contains"]}}).json()
    http.post(f"/api/v1/evals/runs/{run['id']}/results", json={"results": [
        {"case_index": i, "output": "x", "scores": {"contains": {"value": float(v)}}}
        for i, v in enumerate(values)]})
    http.post(f"/api/v1/evals/runs/{run['id']}/finish", json={})
    return run["id"]


def test_jobs_and_rollouts_pages(server):
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.admin_key,
                           max_retries=0, timeout=20)
    with server.http() as http:
        assert http.post("/api/v1/pipelines", json={
            "name": "answer-picker",
            "ref": "triops.ml.fine_tuning.recipes:answer_classifier"}).status_code == 201
        http.put("/api/v1/gateway/upstreams/trainer", json={"base_url": "http://127.0.0.1:9/v1"})
        http.put("/api/v1/gateway/routes/support", json={"deployments": [
            {"upstream": "trainer", "model": "gpt-4o-mini"}]})
    training = client.files.create(file=("support.jsonl", TRAINING), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="pipeline:answer-picker", suffix="picker",
                                         training_file=training.id,
                                         hyperparameters={"n_epochs": 12})
    done = wait_until(lambda: (j := client.fine_tuning.jobs.retrieve(job.id)).status
                      == "succeeded" and j, timeout=30, message="the job to succeed")
    candidate = {"upstream": "trainer", "model": done.fine_tuned_model}
    with server.http() as http:
        baseline = eval_run(http, "baseline", [1, 0] * 10)
        refused = http.post("/api/v1/gateway/routes/support/rollout", json={
            "baseline_run": baseline, "candidate_run": eval_run(http, "worse", [0] * 20),
            "candidate": candidate}).json()
        assert refused["passed"] is False
        passed = http.post("/api/v1/gateway/routes/support/rollout", json={
            "baseline_run": baseline, "candidate_run": eval_run(http, "better", [1] * 20),
            "candidate": candidate, "canary_percent": 10,
            "watch": {"scorers": ["contains"], "threshold": 0.5}}).json()
        assert passed["passed"] is True

    with browser_page(server.url) as page:
        page.set_viewport_size({"width": 1400, "height": 900})
        login(page, server.admin_key)
        page.goto("/ui/llm")
        page.click("nav.subnav >> text=Fine-tuning")
        jobs = page.inner_text("#jobs")
        assert job.id in jobs and "succeeded" in jobs and "picker v1" in jobs
        shot(page, "fine-tuning-jobs")

        page.click(f"#jobs >> text={job.id}")
        page.wait_for_selector("#events")
        assert page.inner_text("#status") == "succeeded"
        assert "files/support.jsonl" in page.inner_text("#datasets")
        assert "picker v1" in page.inner_text("#result")
        assert "step train succeeded" in page.inner_text("#events")
        drawn = {c["title"]: c for c in charts(page)}
        assert {"train_loss by step", "train_accuracy by step"} <= set(drawn)
        rows = page.inner_text("table.rollouts")
        assert "passed" in rows and "refused" in rows and "10.0 %" in rows
        shot(page, "fine-tuning-job")

        page.click("nav.subnav >> text=Rollouts")
        assert page.locator("table.rollouts tbody tr").count() == 2
        shot(page, "rollouts")
        page.locator("table.rollouts tbody tr").first.locator("a").click()
        page.wait_for_selector("#rollout")
        assert "gate passed" in page.inner_text("h1")
        assert page.inner_text("#share-now") == "10.0 %"
        assert "+0.500" in page.inner_text("table.deltas")
        assert "No call of the candidate scored yet" in page.inner_text("#watch")
        assert "alarm below 0.5" in page.inner_text("#watch-config")
        assert job.id in page.inner_text("#rollout")
        shot(page, "rollout")
