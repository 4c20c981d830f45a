"""A dataset version exported to chat fine-tuning JSONL: personal data and secrets are
redacted by the guardrails before anything is written, and the file lands in /v1/files.
Real app, both store backends."""

from __future__ import annotations

import json

from chat_traces import post_chat

RAW_PII = ["ada.lovelace@example.org", "4111 1111 1111 1111", "+44 20 7946 0958",
           "AKIAI44QH8DHBF3KP2XY", "GB82WEST12345698765432"]


def test_export_redacts_before_anything_leaves(client):
    question = (f"I am ada.lovelace@example.org, card {RAW_PII[1]}, call me on {RAW_PII[2]}; "
                f"why was I charged twice?")
    trace_id = post_chat(client, question, "No idea.")
    client.post("/api/v1/evals/datasets/billing/from-traces", json={"trace_ids": [trace_id]})
    client.post("/api/v1/evals/datasets/billing/cases", json={"cases": [
        {"inputs": {"messages": [{"role": "user", "content": f"my key is {RAW_PII[3]}"}]},
         "expected": f"Refund sent to IBAN {RAW_PII[4]}."},
        {"inputs": {"question": "no messages here"}, "expected": "skipped"},
        {"inputs": {"messages": [{"role": "user", "content": "unanswered"}]}}]})
    client.put("/api/v1/evals/datasets/billing/cases/0", json={
        "inputs": {"messages": [{"role": "user", "content": question}]},
        "expected": "You were charged twice by mistake; the refund is on its way to "
                    "ada.lovelace@example.org."})

    made = client.post("/api/v1/evals/datasets/billing/export",
                       json={"system": "You are the billing desk."})
    assert made.status_code == 201, made.text
    out = made.json()
    assert (out["version"], out["examples"]) == (3, 2)
    assert out["skipped"] == ["case 2: its inputs hold no chat 'messages'",
                              "case 3: no expected answer to learn"]
    assert out["file"]["purpose"] == "fine-tune" and out["file"]["filename"] == "billing-v3.jsonl"
    assert out["redactions"] >= 6

    content = client.get(f"/v1/files/{out['file']['id']}/content")
    assert content.status_code == 200
    text = content.content.decode()
    for raw in RAW_PII:
        assert raw not in text
    examples = [json.loads(line) for line in text.splitlines()]
    first = examples[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert "[EMAIL]" in first[1]["content"] and "[CREDIT_CARD]" in first[1]["content"]
    assert first[2]["content"].startswith("You were charged twice")  # the corrected answer
    assert "[IBAN]" in examples[1]["messages"][-1]["content"]

    # the export is an ML dataset version too: fine-tuning on it starts the model's lineage
    registered = client.get("/api/v1/datasets/eval/billing/versions").json()
    assert [(v["source_type"], v["source"], v["row_count"]) for v in registered] == [
        ("eval-dataset", "billing@3", 2)]

    # an older version exports as it was: the answer before the correction
    older = client.post("/api/v1/evals/datasets/billing/export", json={"version": 2}).json()
    old_text = client.get(f"/v1/files/{older['file']['id']}/content").content.decode()
    assert "No idea." in old_text and RAW_PII[0] not in old_text

    assert client.post("/api/v1/evals/datasets/billing/export",
                       json={"guardrails": ["injection"]}).status_code == 400
    assert client.post("/api/v1/evals/datasets/billing/export",
                       json={"version": 9}).status_code == 404
