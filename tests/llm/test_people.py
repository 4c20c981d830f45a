"""Sessions read as conversations and per-user pages, over the real app on both backends,
and the message extraction they rest on."""

from __future__ import annotations

import json
import os
import time

from otlp_payloads import rag_trace, request_of

from triops.llm.spans import Span, SpanKind
from triops.llm.tracing import exchange

PB = {"Content-Type": "application/x-protobuf"}


def _chat_span(trace_id: str, start_ns: int, user: str, session: str, history: list[dict],
               answer: str) -> dict:
    """A gateway-style LLM span: the whole chat history in, the reply out."""
    return {"trace_id": trace_id, "span_id": os.urandom(8).hex(), "name": "chat",
            "start_ns": start_ns, "end_ns": start_ns + 50_000_000,
            "attributes": {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                           "llm.input_messages": history,
                           "llm.output_messages": [{"role": "assistant", "content": answer}],
                           "user.id": user, "session.id": session}}


def test_session_reads_as_a_conversation_and_user_page_adds_up(client):
    now = time.time_ns()
    history = [{"role": "system", "content": "Be brief."}]
    ids = []
    for i, (question, answer) in enumerate([("Hi, I'm Ann", "Hello Ann"),
                                            ("What is 2+2?", "4")]):
        history = [*history, {"role": "user", "content": question}]
        tid = os.urandom(16).hex()
        # Sent newest first: the conversation must still read oldest first.
        span = _chat_span(tid, now - (1 - i) * 10**9, "ann", "chat-1", history, answer)
        assert client.post("/api/v1/traces/spans", json={"spans": [span]}).status_code == 201
        history = [*history, {"role": "assistant", "content": answer}]
        ids.append(tid)
    other, spans = rag_trace(now - 5 * 10**9, user="ann", session="rag-9", cost=0.01)
    assert client.post("/v1/traces", content=request_of(spans).SerializeToString(),
                       headers=PB).status_code == 200
    stranger, spans = rag_trace(now + 10**9, user="bob", session="rag-10")
    client.post("/v1/traces", content=request_of(spans).SerializeToString(), headers=PB)
    assert client.post(f"/api/v1/traces/{ids[0]}/scores",
                       json={"name": "helpful", "value": 1}).status_code == 201
    assert client.post(f"/api/v1/traces/{ids[1]}/scores",
                       json={"name": "helpful", "value": 0}).status_code == 201

    page = client.get("/ui/llm/sessions/chat-1")
    assert page.status_code == 200
    text = page.text
    # Oldest turn first; each turn shows only its own new messages and the reply.
    assert text.index("Hi, I&#39;m Ann") < text.index("Hello Ann") < text.index("What is 2+2?")
    assert text.count("Be brief.") == 1 and text.count("Hi, I&#39;m Ann") == 1
    assert ids[0] in text and ids[1] in text and other not in text
    assert "<b>helpful</b> 0.5 (mean of 2)" in text

    rag = client.get("/ui/llm/sessions/rag-9").text
    assert "what is triops?" in rag and "a platform" in rag

    user = client.get("/ui/llm/users/ann")
    assert user.status_code == 200
    assert "/ui/llm/sessions/chat-1" in user.text and "/ui/llm/sessions/rag-9" in user.text
    assert ids[0] in user.text and other in user.text and stranger not in user.text
    assert "$0.0100" in user.text  # only the RAG trace carried a cost
    assert ">helpful<" in user.text

    users = client.get("/ui/llm/users").text
    assert users.index("/ui/llm/users/bob") < users.index("/ui/llm/users/ann")  # latest first
    sessions = client.get("/ui/llm/sessions").text
    assert all(f"/ui/llm/sessions/{s}" in sessions for s in ("chat-1", "rag-9", "rag-10"))
    listed = client.get("/ui/llm/traces", params={"user": "ann"}).text
    assert 'href="/ui/llm/sessions/chat-1"' in listed and 'href="/ui/llm/users/ann"' in listed
    detail = client.get(f"/ui/llm/traces/{ids[0]}").text
    assert 'href="/ui/llm/sessions/chat-1"' in detail

    assert client.get("/ui/llm/sessions/nope").status_code == 404
    assert client.get("/ui/llm/users/nope").status_code == 404


def _span(attrs: dict, kind: SpanKind = SpanKind.llm, parent: str | None = "p" * 16) -> Span:
    return Span(trace_id="1" * 32, span_id=os.urandom(8).hex(), name="x", start_ns=1,
                end_ns=2, parent_span_id=parent, kind=kind, attributes=attrs)


def test_messages_in_each_convention():
    flat = _span({"llm.input_messages.0.message.role": "user",
                  "llm.input_messages.0.message.content": "q1",
                  "llm.output_messages.0.message.role": "assistant",
                  "llm.output_messages.0.message.content": "a1"})
    asked, answered = exchange([flat])
    assert [(m.role, m.content) for m in asked + answered] == [("user", "q1"), ("assistant", "a1")]

    genai = _span({"gen_ai.input.messages": json.dumps([
        {"role": "user", "parts": [{"type": "text", "content": "q2"}]}]),
        "gen_ai.output.messages": json.dumps([
            {"role": "assistant", "parts": [{"type": "text", "content": "a2"}]}])})
    asked, answered = exchange([genai])
    assert (asked[0].content, answered[0].content) == ("q2", "a2")

    old = _span({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "q3",
                 "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "a3"})
    assert [m.content for part in exchange([old]) for m in part] == ["q3", "a3"]

    # The root's own input/output wins over its model calls'.
    root = _span({"input.value": "q4", "output.value": "a4"}, SpanKind.agent, parent=None)
    asked, answered = exchange([root, flat])
    assert (asked[0].content, answered[0].content) == ("q4", "a4")
    assert exchange([_span({})]) == ([], [])


def test_sessions_and_users_api(client):
    now = time.time_ns()
    history = [{"role": "user", "content": "first question"}]
    ids = []
    for i, answer in enumerate(("first answer", "second answer")):
        tid = os.urandom(16).hex()
        span = _chat_span(tid, now + i * 10**9, "dan", "conv/7", history, answer)
        assert client.post("/api/v1/traces/spans", json={"spans": [span]}).status_code == 201
        history = [*history, {"role": "assistant", "content": answer},
                   {"role": "user", "content": "second question"}]
        ids.append(tid)
    client.post(f"/api/v1/traces/{ids[1]}/scores", json={"name": "ok", "value": 1})

    sessions = client.get("/api/v1/sessions", params={"limit": 10}).json()
    assert sessions["total"] == 1 and sessions["items"][0]["id"] == "conv/7"
    assert sessions["items"][0]["traces"] == 2
    conv = client.get("/api/v1/sessions/conv/7").json()
    assert [t["trace"]["trace_id"] for t in conv["turns"]] == ids
    assert [[m["content"] for m in t["asked"] + t["answered"]] for t in conv["turns"]] == [
        ["first question", "first answer"], ["second question", "second answer"]]
    assert conv["scores"] == [{"name": "ok", "count": 1, "mean": 1.0}]
    assert conv["truncated"] is False

    users = client.get("/api/v1/users").json()
    assert [u["id"] for u in users["items"]] == ["dan"]
    dan = client.get("/api/v1/users/dan").json()
    assert dan["user"]["traces"] == 2 and dan["session_count"] == 1
    assert [t["trace_id"] for t in dan["recent"]] == ids[::-1]
    assert client.get("/api/v1/sessions/none").status_code == 404
    assert client.get("/api/v1/users/none").status_code == 404
    assert client.get("/api/v1/users", params={"limit": 0}).status_code in (400, 422)
