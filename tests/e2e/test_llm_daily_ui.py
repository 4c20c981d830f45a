"""The LLM pages people reach for first, in headless Chromium against a real server with
a gateway in front of a local upstream: sessions read as conversations, a user's page,
the gateway's configuration and spend, the playground."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ServerProcess
from tests.e2e.browser import browser_page, charts, login, shot
from tests.e2e.gateway_servers import alpha_upstream, gateway_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BACKENDS_UNDER_TEST = ("sqlite",)
WIDE, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}


def shots(page, name: str) -> None:
    """The page at a desktop width and at a phone's."""
    page.set_viewport_size(WIDE)
    shot(page, name)
    page.set_viewport_size(PHONE)
    shot(page, f"{name}-phone")
    page.set_viewport_size(WIDE)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    yield from alpha_upstream()


@pytest.fixture(scope="module")
def server(backend, tmp_path_factory, pg_databases, upstream) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp(f"daily-{backend}")
    proc = gateway_server(backend, home, pg_databases, upstream,
                          {"chat": "gpt-4o-mini", "big": "gpt-4o"})
    yield proc
    proc.stop()


def _chat_span(trace_id: str, start_ns: int, history: list[dict], answer: str) -> dict:
    return {"trace_id": trace_id, "span_id": os.urandom(8).hex(), "name": "support-bot",
            "start_ns": start_ns, "end_ns": start_ns + 800_000_000,
            "attributes": {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                           "llm.token_count.prompt": 40, "llm.token_count.completion": 12,
                           "llm.input_messages": history,
                           "llm.output_messages": [{"role": "assistant", "content": answer}],
                           "user.id": "ann@example.com", "session.id": "support-42"}}


def test_sessions_and_users(server):
    now = time.time_ns()
    history = [{"role": "system", "content": "You are the support bot of a bike shop."}]
    turns = [("My brakes squeak. I'm worried.", "Squeaky brakes usually need cleaning."),
             ("How do I clean them?", "Wipe the rims with isopropyl alcohol."),
             ("Thanks!", "You're welcome.")]
    with server.http() as http:
        for i, (question, answer) in enumerate(turns):
            history = [*history, {"role": "user", "content": question}]
            span = _chat_span(os.urandom(16).hex(), now - (3 - i) * 60 * 10**9, history, answer)
            assert http.post("/api/v1/traces/spans", json={"spans": [span]}).status_code == 201
            history = [*history, {"role": "assistant", "content": answer}]

    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.goto("/ui/llm")
        page.click("a.tile >> text=Sessions")
        assert "support-42\t3\t0" in page.inner_text("table.groups")
        shots(page, "llm-sessions")
        page.click("table.groups >> text=support-42")
        turns_shown = page.locator("ol.chat li.turn")
        assert turns_shown.count() == 3
        first = turns_shown.nth(0).inner_text()
        assert "I'm worried." in first and "Squeaky brakes" in first and "bike shop" in first
        assert "bike shop" not in turns_shown.nth(2).inner_text()  # history is not repeated
        assert "You're welcome." in turns_shown.nth(2).inner_text()
        shots(page, "llm-session")

        page.click("ol.chat li.turn >> nth=0 >> a >> text=ann@example.com")
        assert "User ann@example.com" in page.inner_text("h1")
        kpis = page.inner_text(".kpis")
        assert "Traces\n3" in kpis and "Sessions\n1" in kpis and "Tokens\n156" in kpis
        assert page.locator("table.traces tbody tr").count() == 3
        shots(page, "llm-user")
        page.goto("/ui/llm/users")
        assert "ann@example.com\t3\t0" in page.inner_text("table.groups")
        shots(page, "llm-users")


def test_gateway_spend_and_configuration(server):
    with server.http() as http:
        for model in ("chat", "chat", "big"):
            r = http.post("/v1/chat/completions", headers={"x-triops-cache": "no"}, json={
                "model": model, "messages": [{"role": "user", "content": "hello"}]})
            assert r.status_code == 200, r.text

    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.goto("/ui/llm")
        page.click("nav.subnav >> text=Gateway")
        assert "Calls\n3" in page.inner_text(".kpis")
        per_model = page.inner_text(".spend-model table")
        assert "gpt-4o-mini" in per_model and "gpt-4o\t1" in per_model
        assert "admin" in page.inner_text(".spend-key table")
        # A server admin's view has the per-project panel, its bar chart drawn.
        [project_bars] = charts(page, ".spend-project div.chart")
        assert [s["points"] for s in project_bars["series"]] == [1]
        shots(page, "llm-gateway")

        page.click("text=Configure upstreams and routes")
        page.fill("form[action='/ui/llm/gateway/routes'] input[name=alias]", "cheap")
        page.fill("textarea[name=deployments]", "alpha gpt-4o-mini")
        page.fill("form[action='/ui/llm/gateway/routes'] input[name=fallbacks]", "chat")
        page.click("button:has-text('Save route')")
        row = page.locator("table.routes tr", has_text="cheap")
        assert "alpha gpt-4o-mini" in row.inner_text() and "stored" in row.inner_text()
        shots(page, "llm-gateway-config")
        page.click("nav.subnav >> text=Guardrails")
        assert page.url.endswith("/ui/llm/guardrails")


def test_playground(server):
    with server.http() as http:
        r = http.post("/api/v1/prompts/support-answer/versions", json={
            "messages": [{"role": "system", "content": "You answer for a bike shop."},
                         {"role": "user", "content": "Customer {{ name }} asks: {{ question }}"}],
            "model": "chat", "message": "first"})
        assert r.status_code == 201, r.text

    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.goto("/ui/llm")
        page.click("nav.subnav >> text=Playground")
        page.select_option("select[name=prompt]", "support-answer")
        page.click("button:has-text('Load')")
        assert "Loaded support-answer v1" in page.inner_text("main")
        page.fill("textarea[name=var_name]", "Ann")
        page.fill("textarea[name=var_question]", "Do you fix e-bikes?")
        page.select_option("select[name=model_b]", "big")
        page.click("button:has-text('Run')")
        results = page.locator(".pg-result")
        assert results.count() == 2
        for i, model in enumerate(("chat", "big")):
            text = results.nth(i).inner_text()
            assert model in text and "alpha says: Customer Ann asks: Do you fix e-bikes?" in text
        shots(page, "llm-playground")

        page.click(".pg-result >> nth=1 >> text=trace")
        page.click(".wf-row summary")
        detail = page.inner_text(".wf-row .wf-detail")
        assert "triops.playground" in detail and "support-answer" in detail
        page.go_back()
        page.fill("textarea[name=content_1]", "{{ name }} asks, politely: {{ question }}")
        page.fill("input[name=save_message]", "politer")
        page.click("button:has-text('Save version')")
        page.wait_for_url("**/ui/llm/prompts/support-answer*")
        assert "politer" in page.inner_text("#versions")
        assert "v2" in page.inner_text("#versions")
