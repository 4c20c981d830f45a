"""Chat traces as an application's SDK sends them: one LLM span with its messages."""

from __future__ import annotations

import os
import time
from typing import Any


def chat_span(question: str, answer: str, *, model: str = "support-model",
              user: str = "u-1", context: str | None = None) -> list[dict[str, Any]]:
    """The spans of one trace: an LLM call, and a retriever before it when ``context``."""
    trace_id = os.urandom(16).hex()
    now = time.time_ns()
    root = os.urandom(8).hex()
    spans = [{
        "trace_id": trace_id, "span_id": root, "name": f"chat {model}", "kind": "LLM",
        "start_ns": now, "end_ns": now + 50_000_000, "attributes": {
            "llm.model_name": model, "user.id": user,
            "llm.input_messages": [{"role": "user", "content": question}],
            "llm.output_messages": [{"role": "assistant", "content": answer}]}}]
    if context is not None:
        spans.append({
            "trace_id": trace_id, "span_id": os.urandom(8).hex(), "parent_span_id": root,
            "name": "retrieve", "kind": "RETRIEVER", "start_ns": now + 1,
            "end_ns": now + 10_000_000,
            "attributes": {"retrieval.documents.0.document.content": context}})
    return spans


def post_chat(client: Any, question: str, answer: str, **kwargs: Any) -> str:
    """Store one chat trace through the native span API; its trace id."""
    spans = chat_span(question, answer, **kwargs)
    response = client.post("/api/v1/traces/spans", json={"spans": spans})
    assert response.status_code == 201, response.text
    return spans[0]["trace_id"]
