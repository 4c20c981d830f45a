"""Hallucination monitoring on a real ``triops up``: an online groundedness evaluator
judges traces on the context their RETRIEVER spans recorded, through the server's own
gateway (the local upstream's ``judge-overlap`` model is the judge, so its verdicts are
deterministic), writes the ungrounded rate as a telemetry series and opens an incident
when the rate passes its limit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ServerProcess
from tests.e2e.gateway_servers import alpha_upstream, gateway_server
from tests.llm.chat_traces import post_chat
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

CONTEXT = "Paris is the capital of France. The Louvre is a museum in Paris."


@pytest.fixture(scope="module")
def judged(backend, tmp_path_factory, pg_databases) -> Iterator[ServerProcess]:
    upstream = alpha_upstream()
    url = next(upstream)
    proc = gateway_server(backend, tmp_path_factory.mktemp(f"judge-{backend}"), pg_databases,
                          url, {"judge": "judge-overlap"})
    yield proc
    proc.stop()
    next(upstream, None)


def test_groundedness_judged_online_raises_the_hallucination_rate(judged):
    with judged.http() as admin:
        made = admin.put("/api/v1/evals/online/hallucinations", json={
            "scorers": [{"type": "groundedness", "model": "judge"}], "sample_rate": 1.0,
            "window": 2, "max_drop": None, "max_ungrounded_rate": 0.4})
        assert made.status_code == 200, made.text
        grounded = post_chat(admin, "What is the capital of France?",
                             "Paris is the capital of France.", context=CONTEXT)
        ungrounded = post_chat(admin, "What is the capital of France?",
                               "Lyon hosts the Eiffel Tower.", context=CONTEXT)
        no_context = post_chat(admin, "Hi?", "Hello there.")

        def score(trace_id: str) -> dict | None:
            scores = admin.get(f"/api/v1/traces/{trace_id}").json()["scores"]
            return next((s for s in scores if s["name"] == "hallucinations/groundedness"),
                        None)

        verdicts = wait_until(lambda: (a := score(grounded)) and (b := score(ungrounded))
                              and (a, b), timeout=40, message="both traces to be judged")
        assert [v["value"] for v in verdicts] == [1.0, 0.2]
        assert verdicts[0]["source"] == "code" and verdicts[1]["comment"] == "0.20"
        assert score(no_context) is None  # nothing retrieved: nothing to judge against

        state = admin.get("/api/v1/evals/online").json()[0]["state"]["groundedness"]
        assert state["ungrounded_rate"] == 0.5 and state["rate_alarm"] is True
        incidents = admin.get("/api/v1/incidents").json()
        (incident,) = [i for i in incidents if i["kind"] == "hallucination_rate"]
        assert incident["subject"] == "evaluator:hallucinations"
        (series,) = admin.get("/api/v1/ops/series",
                              params={"prefix": "triops_llm_ungrounded_rate"}).json()
        assert 'evaluator="hallucinations"' in series
        points = admin.get("/api/v1/ops/samples", params={"series": series}).json()["points"]
        assert points[-1]["value"] == 0.5

        # The judge's own calls are traced through the gateway (their spans are written
        # after the answer), and never judged again.
        judge_traces = wait_until(
            lambda: len(t := admin.get("/api/v1/traces", params={"key": "online-evals"})
                        .json()["traces"]) == 2 and t,
            message="the judge's two calls traced")
        assert all(score(t["trace_id"]) is None for t in judge_traces)
