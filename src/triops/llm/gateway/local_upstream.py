"""A small local upstream that speaks OpenAI's and Anthropic's APIs without a model.

It answers at once with a short echo, so tests, the benchmark and first-time users can
exercise the gateway with no paid API and no network. The model name picks a
behaviour, which is how tests provoke upstream failures:

- ``fail-<status>``: answers with that HTTP status and an OpenAI error body
- ``hang``: never answers within any sane timeout
- ``slow-<ms>``: answers normally after that many milliseconds
- ``cut``: streams two chunks, then drops the connection
- ``no-usage``: leaves out the usage block
- ``judge-overlap``: a judge without a model, for groundedness checks: the last user
  message holds ``Context:`` … ``Answer:`` …, and the reply is the share of the
  answer's words that occur in the context (``1.00`` when all do)
- any request with ``tools``: calls the first tool

It also fakes OpenAI's file upload and fine-tuning jobs (``local_fine_tuning``), so
triops' fine-tuning jobs can run against it.

``PUT /_fault {"error_rate": 0.5, "delay_ms": 300}`` makes every chat call, whatever its
model, wait ``delay_ms`` and then fail (500) at that rate, evenly spread; ``{}`` heals it.
This is how the demo makes a healthy upstream start failing and slowing.

Every received body is kept (the newest 1000) and listed at ``GET /_received``; the
credentials chat calls came with at ``GET /_credentials``.

    python -m triops.llm.gateway.local_upstream --port 9100 --name local
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from triops.llm.gateway import local_fine_tuning

_DIMS = 64


def _json(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json")


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def embed_text(text: str) -> list[float]:
    """Bag-of-words hashing: texts sharing most words get a high cosine similarity."""
    vector = np.zeros(_DIMS, dtype=np.float32)
    for word in re.findall(r"\w+", text.lower()):
        vector[int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest()) % _DIMS] += 1
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm else vector).round(6).tolist()


def overlap_verdict(text: str) -> str:
    """The ``judge-overlap`` model's answer to a groundedness question.

    >>> overlap_verdict("Context:\\n[1] Paris is in France\\nAnswer:\\nParis")
    '1.00'
    """
    context, _, answer = text.rpartition("Answer:")
    context = context.partition("Context:")[2].partition("Question:")[0]
    words = re.findall(r"[a-z]+", answer.lower())
    known = set(re.findall(r"[a-z]+", context.lower()))
    return f"{sum(w in known for w in words) / len(words):.2f}" if words else "0.00"


def create_app(name: str = "local") -> Starlette:
    received: deque[dict[str, Any]] = deque(maxlen=1000)
    credentials: deque[str] = deque(maxlen=1000)
    fault = {"error_rate": 0.0, "delay_ms": 0, "calls": 0}

    async def _injected() -> Response | None:
        if not fault["error_rate"] and not fault["delay_ms"]:
            return None
        await asyncio.sleep(fault["delay_ms"] / 1000)
        n, rate = fault["calls"], fault["error_rate"]
        fault["calls"] = n + 1
        # The n-th call fails when the running count of failures due steps up.
        if int((n + 1) * rate) > int(n * rate):
            return _json({"error": {"message": f"{name} is failing (injected fault)",
                                    "type": "server_error", "param": None, "code": None}}, 500)
        return None

    async def set_fault(request: Request) -> Response:
        body = orjson.loads(await request.body() or b"{}")
        fault.update(error_rate=min(max(float(body.get("error_rate", 0.0)), 0.0), 1.0),
                     delay_ms=max(int(body.get("delay_ms", 0)), 0), calls=0)
        return _json({k: fault[k] for k in ("error_rate", "delay_ms")})

    async def _failure(model: str) -> Response | None:
        if model.startswith("fail-"):
            status = int(model.split("-", 1)[1] or 500)
            return _json({"error": {"message": f"{name} fails on purpose with {status}",
                                    "type": "server_error", "param": None, "code": None}},
                         status)
        if model == "hang":
            await asyncio.sleep(120)
        elif model.startswith("slow-") and model[5:].isdigit():
            await asyncio.sleep(int(model[5:]) / 1000)
        return None

    def _reply_text(body: dict[str, Any]) -> str:
        if body.get("model") == "judge-overlap":
            return overlap_verdict(_last_user_text(body.get("messages", [])))
        return f"{name} says: {_last_user_text(body.get('messages', []))}"[:2000]

    async def chat(request: Request) -> Response:
        body = orjson.loads(await request.body())
        received.append(body)
        credentials.append(request.headers.get("authorization", ""))
        model = str(body.get("model", ""))
        failed = await _injected() or await _failure(model)
        if failed is not None:
            return failed
        text = _reply_text(body)
        tools = body.get("tools") or []
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if tools:
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function", "function": {
                    "name": tools[0]["function"]["name"], "arguments": '{"echo": true}'}}]}
            finish = "tool_calls"
        prompt, completion = 10, max(1, len(text.split()))
        if body.get("stream"):
            return StreamingResponse(_chunks(body, model, message, finish, prompt, completion),
                                     media_type="text/event-stream")
        reply: dict[str, Any] = {
            "id": "chatcmpl-local", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "message": message,
                                         "finish_reason": finish}],
            "upstream": name,
        }
        if model != "no-usage":
            reply["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}
        return _json(reply)

    async def _chunks(body: dict[str, Any], model: str, message: dict[str, Any], finish: str,
                      prompt: int, completion: int) -> AsyncIterator[bytes]:
        def frame(delta: dict[str, Any], reason: str | None = None) -> bytes:
            return b"data: " + orjson.dumps({
                "id": "chatcmpl-local", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}) + b"\n\n"

        yield frame({"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            yield frame({"tool_calls": [{"index": 0, "id": call["id"], "type": "function",
                                         "function": {"name": call["function"]["name"],
                                                      "arguments": ""}}]})
            yield frame({"tool_calls": [{"index": 0, "function": {
                "arguments": call["function"]["arguments"]}}]})
        else:
            words = message["content"].split(" ")
            for index, word in enumerate(words):
                if model == "cut" and index == 2:
                    raise ConnectionAbortedError("the local upstream cuts this stream")
                yield frame({"content": word if index == 0 else " " + word})
        yield frame({}, finish)
        if (body.get("stream_options") or {}).get("include_usage") and model != "no-usage":
            yield b"data: " + orjson.dumps({
                "id": "chatcmpl-local", "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [], "usage": {
                    "prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion}}) + b"\n\n"
        yield b"data: [DONE]\n\n"

    async def embeddings(request: Request) -> Response:
        body = orjson.loads(await request.body())
        received.append(body)
        failed = await _failure(str(body.get("model", "")))
        if failed is not None:
            return failed
        given = body.get("input")
        texts = [given] if isinstance(given, str) else list(given or [])
        data = [{"object": "embedding", "index": i, "embedding": embed_text(str(t))}
                for i, t in enumerate(texts)]
        tokens = sum(len(str(t).split()) for t in texts)
        return _json({"object": "list", "data": data, "model": body.get("model"),
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def messages(request: Request) -> Response:
        """Anthropic's Messages API."""
        body = orjson.loads(await request.body())
        received.append(body)
        credentials.append(request.headers.get("x-api-key", ""))
        model = str(body.get("model", ""))
        failed = await _failure(model)
        if failed is not None:
            return failed
        text = f"{name} says: {_last_anthropic_text(body)}"
        tools = body.get("tools") or []
        if body.get("stream"):
            return StreamingResponse(_anthropic_events(model, text, tools),
                                     media_type="text/event-stream")
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        stop = "end_turn"
        if tools:
            content.append({"type": "tool_use", "id": "toolu_1", "name": tools[0]["name"],
                            "input": {"echo": True}})
            stop = "tool_use"
        return _json({"id": "msg_local", "type": "message", "role": "assistant",
                      "model": model, "content": content, "stop_reason": stop,
                      "usage": {"input_tokens": 12, "output_tokens": len(text.split())}})

    async def _anthropic_events(model: str, text: str, tools: list[dict[str, Any]]
                                ) -> AsyncIterator[bytes]:
        def event(kind: str, data: dict[str, Any]) -> bytes:
            return f"event: {kind}\n".encode() + b"data: " + orjson.dumps(
                {"type": kind, **data}) + b"\n\n"

        yield event("message_start", {"message": {"id": "msg_local", "model": model,
                                                  "usage": {"input_tokens": 12}}})
        yield event("content_block_start", {"index": 0, "content_block": {"type": "text",
                                                                          "text": ""}})
        for index, word in enumerate(text.split(" ")):
            yield event("content_block_delta", {"index": 0, "delta": {
                "type": "text_delta", "text": word if index == 0 else " " + word}})
        yield event("content_block_stop", {"index": 0})
        stop = "end_turn"
        if tools:
            stop = "tool_use"
            yield event("content_block_start", {"index": 1, "content_block": {
                "type": "tool_use", "id": "toolu_1", "name": tools[0]["name"], "input": {}}})
            yield event("content_block_delta", {"index": 1, "delta": {
                "type": "input_json_delta", "partial_json": '{"echo": true}'}})
            yield event("content_block_stop", {"index": 1})
        yield event("message_delta", {"delta": {"stop_reason": stop},
                                      "usage": {"output_tokens": len(text.split())}})
        yield event("message_stop", {})

    async def list_received(_request: Request) -> Response:
        return _json(list(received))

    async def clear_received(_request: Request) -> Response:
        received.clear()
        credentials.clear()
        return Response(status_code=204)

    async def list_credentials(_request: Request) -> Response:
        return _json(list(credentials))

    return Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/_received", list_received, methods=["GET"]),
        Route("/_received", clear_received, methods=["DELETE"]),
        Route("/_credentials", list_credentials, methods=["GET"]),
        Route("/_fault", set_fault, methods=["PUT"]),
        *local_fine_tuning.routes(name),
    ])


def _last_anthropic_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(b.get("text", "") for b in content if b.get("type") == "text")
    return ""


class Served:
    """A uvicorn server for an app in a background thread of this process."""

    def __init__(self, app: Any, port: int, host: str = "127.0.0.1") -> None:
        import uvicorn

        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port,
                                                     log_level="warning", lifespan="off",
                                                     timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self, timeout: float = 10.0) -> Served:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"local upstream did not start at {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--name", default="local")
    args = parser.parse_args()
    uvicorn.run(create_app(args.name), host=args.host, port=args.port, log_level="warning",
                access_log=False)


if __name__ == "__main__":
    main()
