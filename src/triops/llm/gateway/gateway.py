"""The gateway: admit, route, call with retries and fallbacks, meter, cache, trace.

One ``Gateway`` lives per server (the runtime holds it). The request path touches
no database: routes and key policies are an in-memory snapshot refreshed in the
background, counters are in memory or Redis, and spans go to a batching recorder.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
import orjson

from triops.core.errors import TriopsError, UpstreamError, UpstreamTimeout
from triops.core.settings import Settings
from triops.llm.gateway import config as gateway_config
from triops.llm.gateway.cache import ExactCache, SemanticCache, cache_key, prompt_text
from triops.llm.gateway.calltrace import CallTrace, StreamedMessage, fault_of
from triops.llm.gateway.cost import (
    PriceTable,
    Usage,
    count_messages,
    count_text,
    usage_from,
    warm,
)
from triops.llm.gateway.limits import KeyPolicy
from triops.llm.gateway.messages import check_message, invalid
from triops.llm.gateway.providers import Provider, provider
from triops.llm.gateway.recorder import Recorder
from triops.llm.gateway.resilience import CircuitBreaker, backoff_delay
from triops.llm.gateway.route_health import RouteHealth
from triops.llm.gateway.spend import Spend
from triops.llm.gateway.transport import Target, UpstreamFailure
from triops.llm.guardrails.engine import GuardrailEngine
from triops.store.engine import Database

log = logging.getLogger("triops.llm.gateway")

#: Upstream statuses that mean the request itself is wrong: no other deployment helps.
_CLIENT_FAULT = frozenset({400, 413, 422})


@dataclass(frozen=True)
class Caller:
    """Who is calling the gateway, as far as metering and tracing care."""

    project: str
    key_id: str
    session_id: str | None = None
    cache: bool = True  # False when the request said ``x-triops-cache: no``


def check_chat(body: Any) -> None:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("'model' is required and must be a string", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' is required and must be a non-empty array", "messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise invalid(f"messages[{index}] must be an object with a 'role'",
                          f"messages[{index}]")
        check_message(index, message)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise invalid("'stream' must be true or false", "stream")


def check_embeddings(body: Any) -> None:
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise invalid("'model' is required and must be a string", "model")
    given = body.get("input")
    if not (isinstance(given, str) or (isinstance(given, list) and given)):
        raise invalid("'input' must be a string or a non-empty array", "input")


def check_retrieval(spec: Any) -> dict[str, Any]:
    """The ``retrieval`` field of a chat body, checked, with its defaults."""
    if not isinstance(spec, dict):
        raise invalid("'retrieval' must be an object with a 'collection'", "retrieval")
    unknown = set(spec) - {"collection", "top_k", "retriever", "filters"}
    if unknown:
        raise invalid(f"'retrieval' has unknown fields: {', '.join(sorted(unknown))}",
                      "retrieval")
    collection = spec.get("collection")
    if not isinstance(collection, str) or not collection:
        raise invalid("'retrieval.collection' must name a collection", "retrieval.collection")
    top_k = spec.get("top_k", 5)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or not 1 <= top_k <= 50:
        raise invalid("'retrieval.top_k' must be an integer from 1 to 50", "retrieval.top_k")
    retriever = spec.get("retriever", "hybrid")
    if not isinstance(retriever, str):
        raise invalid("'retrieval.retriever' must be a string", "retrieval.retriever")
    filters = spec.get("filters")
    if filters is not None and not isinstance(filters, dict):
        raise invalid("'retrieval.filters' must be an object", "retrieval.filters")
    return {"collection": collection, "top_k": top_k, "retriever": retriever,
            "filters": filters}


class Gateway:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings.gateway
        self._db = db
        self._client: aiohttp.ClientSession | None = None
        self.breaker = CircuitBreaker(self.settings.breaker_failures,
                                      self.settings.breaker_cooldown_s)
        self.prices = PriceTable(self.settings.prices)
        cache = self.settings.cache
        self.cache = ExactCache(cache.ttl_s, cache.max_entries) if cache.enabled else None
        self.semantic = (SemanticCache(cache.semantic_threshold, cache.ttl_s, cache.max_entries)
                         if cache.enabled and cache.semantic and cache.embedding_model else None)
        self.spend = Spend(self.settings, db, self.prices, settings.redis_url)
        self.route_health = RouteHealth(self.settings.signals)
        self.recorder = Recorder(db, observe=self.route_health.observe)
        self.guardrails = _guardrails_of(self, db)
        self.snapshot = gateway_config.load(db, self.settings)
        threading.Thread(target=warm, name="triops-tokenizer-warm", daemon=True).start()
        self._next_refresh = time.monotonic() + self.settings.refresh_s
        self._refreshing = False

    @property
    def client(self) -> aiohttp.ClientSession:
        """The one upstream HTTP client, made in the server's event loop on first use.

        aiohttp rather than httpx: on the proxy path httpx spent ten times the CPU per
        request (its connection pool scans every connection on each request)."""
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                # One client serves every caller: an upstream's cookies must not carry
                # over from one caller's request to the next.
                cookie_jar=aiohttp.DummyCookieJar(),
                read_bufsize=1 << 20,  # long SSE lines (big tool-call arguments)
                auto_decompress=True,
            )
        return self._client

    # -- configuration -------------------------------------------------------------

    def reload(self) -> None:
        """Re-read stored config now (after this process changed it)."""
        self.snapshot = gateway_config.load(self._db, self.settings)
        self._next_refresh = time.monotonic() + self.settings.refresh_s

    def _maybe_refresh(self) -> None:
        # Other replicas may have changed the stored config: check its version every
        # few seconds in a worker thread, never on the request's own path.
        if self._refreshing or time.monotonic() < self._next_refresh:
            return
        self._refreshing = True
        self._next_refresh = time.monotonic() + self.settings.refresh_s

        async def refresh() -> None:
            try:
                version = await anyio.to_thread.run_sync(gateway_config.current_version,
                                                          self._db)
                if version != self.snapshot.version:
                    self.snapshot = await anyio.to_thread.run_sync(
                        gateway_config.load, self._db, self.settings)
            except Exception:
                log.exception("could not refresh the gateway configuration")
            finally:
                self._refreshing = False

        asyncio.get_running_loop().create_task(refresh())

    def policy(self, key_id: str) -> KeyPolicy:
        return self.snapshot.policies.get(key_id) or KeyPolicy(key_id=key_id)

    def models(self) -> list[str]:
        return self.snapshot.table.aliases()

    # -- calls ---------------------------------------------------------------------

    async def _attempt(self, trace: CallTrace, targets: list[Target],
                       call: Callable[[Provider, Target], Awaitable[Any]]) -> Any:
        """Try each target in order, retrying retryable failures with backoff."""
        last: UpstreamFailure | None = None
        retries = self.settings.retries
        for target in targets:
            if not self.breaker.allows(target.key):
                trace.attempts.append(f"{target.key}: circuit open")
                continue
            chosen = provider(target.upstream.provider)
            for attempt in range(retries + 1):
                try:
                    result = await call(chosen, target)
                except UpstreamFailure as exc:
                    last = exc
                    trace.attempts.append(f"{target.key}: {exc.status}")
                    if exc.status in _CLIENT_FAULT:
                        raise invalid(exc.message) from None
                    if not exc.retryable:
                        break  # e.g. 401/404 at this upstream: the next one may serve
                    self.breaker.failure(target.key)
                    if exc.timeout or attempt == retries or self.breaker.is_open(target.key):
                        break  # a hanging upstream is not waited on twice
                    await asyncio.sleep(backoff_delay(attempt, self.settings.backoff_s,
                                                      self.settings.max_backoff_s))
                    continue
                self.breaker.success(target.key)
                trace.attempts.append(f"{target.key}: ok")
                trace.upstream, trace.model = target.upstream.name, target.model
                return result
        tried = "; ".join(trace.attempts)
        if last is None:
            raise UpstreamError(f"every deployment of {trace.route!r} is cooling down after "
                                f"failures ({tried}); retry shortly", code="upstream_unavailable")
        if last.timeout:
            raise UpstreamTimeout(f"{last.message} (tried: {tried})", code="upstream_timeout")
        raise UpstreamError(f"{last.message} (tried: {tried})", code="upstream_error")

    def _finish(self, trace: CallTrace, error: BaseException | None = None) -> None:
        if trace.recorded:
            return  # one span per call, however many paths see it end
        trace.recorded = True
        if error is not None:
            trace.error = trace.error or getattr(error, "message", None) or \
                f"{type(error).__name__}: {error}"
            trace.fault = trace.fault or fault_of(error)
        self.spend.release(trace)  # a call ended unsettled (failed, cached) holds nothing
        self.recorder.record(trace.project, trace.span())

    async def _settle(self, policy: KeyPolicy, trace: CallTrace, usage: Usage) -> None:
        trace.usage = usage
        trace.cost = self.prices.cost(trace.model or trace.route, usage)
        if trace.cost == 0.0 and trace.model != trace.route:
            trace.cost = self.prices.cost(trace.route, usage)
        await self.spend.settle(trace)

    async def chat(self, caller: Caller, body: dict[str, Any],
                   attributes: dict[str, Any] | None = None,
                   ) -> tuple[CallTrace, dict[str, Any] | AsyncIterator[bytes]]:
        """A chat completion: the OpenAI-shaped body, or SSE frames when streaming.

        ``attributes`` are added to the call's span (e.g. the prompt it was rendered from).
        """
        check_chat(body)
        self._maybe_refresh()
        route = body["model"]
        trace = CallTrace(project=caller.project, key_id=caller.key_id, route=route,
                          operation="chat", body=body, session_id=caller.session_id,
                          extra=attributes or {})
        policy = self.policy(caller.key_id)
        citations = None
        if "retrieval" in body:
            try:
                body, citations = await self._with_retrieval(trace, caller, body)
            except BaseException as exc:
                self._finish(trace, exc)
                raise
            trace.body = body

        async def serve(served: CallTrace, body: dict[str, Any]) -> Any:
            try:
                await self.spend.admit(policy, served, self.snapshot.table)
                targets = self.snapshot.table.candidates(route)
                if body.get("stream"):
                    return await self._open_stream(served, policy, targets, body)
                result = await self._complete(served, caller, policy, targets, body)
            except BaseException as exc:
                self._finish(served, exc)
                raise
            if served is not trace:
                self._finish(served)  # a re-ask: a span of its own under the call's
            return result

        # Input guardrails run before serving (and may refuse or redact), output ones
        # after it (and may re-ask); a refused request never reaches an upstream. The
        # call's span is written once the answer has passed them, so that a refused call
        # is an error span; a relayed stream writes its span when it ends.
        try:
            result = await self.guardrails.around(trace, body, serve)
        except BaseException as exc:
            self._finish(trace, exc)
            raise
        if not trace.body.get("stream"):
            self._finish(trace)
            if citations is not None and isinstance(result, dict):
                # A copy: the cached answer must not carry one call's citations to the next.
                result = {**result, "citations": citations}
        return trace, result

    async def _with_retrieval(self, trace: CallTrace, caller: Caller, body: dict[str, Any]
                              ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The chat body with passages of a knowledge collection in front of it, and
        their citations; the retrieval is a RETRIEVER span under the call's span."""
        from triops.llm.rag import traced

        spec = check_retrieval(body.get("retrieval"))
        query = traced.query_of(body["messages"])
        if not query.strip():
            raise invalid("retrieval needs a user message with text to search for",
                          "messages")
        result, span = await traced.traced_search(
            self._db, caller.project, spec["collection"], query, spec["top_k"],
            embedder=lambda route: self.embedder(caller.project, caller.key_id, route),
            parent=(trace.trace_id, trace.span_id), retriever=spec["retriever"],
            filters=spec["filters"])
        self.recorder.record(caller.project, span)
        rest = {k: v for k, v in body.items() if k != "retrieval"}
        return traced.with_context(rest, result)

    async def _complete(self, trace: CallTrace, caller: Caller, policy: KeyPolicy,
                        targets: list[Target], body: dict[str, Any]) -> dict[str, Any]:
        use_cache = caller.cache and policy.cache
        key = vector = None
        if use_cache and self.cache is not None:
            key = cache_key(trace.route, body)
            hit = self.cache.get(key)
            if hit is not None:
                return self._from_cache(trace, hit, "hit")
            trace.cache = "miss"
        if use_cache and self.semantic is not None:
            vector = await self._embed_prompt(caller, body)
            if vector is not None:
                found = self.semantic.get(trace.route, vector)
                if found is not None:
                    return self._from_cache(trace, found[0], f"semantic_hit:{found[1]:.4f}")
        result = await self._attempt(trace, targets,
                                     lambda p, t: p.chat(self.client, t, body))
        trace.mark_first_token()
        usage = usage_from(result) or Usage(
            count_messages(body["messages"], trace.model),
            sum(count_text(str((c.get("message") or {}).get("content") or ""), trace.model)
                for c in result.get("choices") or ()), estimated=True)
        await self._settle(policy, trace, usage)
        trace.output = [c.get("message") for c in result.get("choices") or ()]
        if key is not None and self.cache is not None:
            self.cache.put(key, result)
        if vector is not None and self.semantic is not None:
            self.semantic.put(trace.route, vector, result)
        return result

    def _from_cache(self, trace: CallTrace, hit: dict[str, Any], how: str) -> dict[str, Any]:
        trace.cache = how
        trace.mark_first_token()
        trace.output = [c.get("message") for c in hit.get("choices") or ()]
        usage = usage_from(hit)
        if usage is not None:
            trace.usage = usage  # tokens the answer holds; no upstream spend, so no cost
        return hit

    async def _embed_prompt(self, caller: Caller, body: dict[str, Any]) -> list[float] | None:
        model = self.settings.cache.embedding_model
        assert model is not None
        sub = CallTrace(project=caller.project, key_id=caller.key_id, route=model,
                        operation="embeddings", body={"model": model, "input": prompt_text(body)})
        try:
            reply = await self._attempt(sub, self.snapshot.table.candidates(model),
                                        lambda p, t: p.embed(self.client, t, sub.body))
            return list(reply["data"][0]["embedding"])
        except (TriopsError, UpstreamFailure, KeyError, IndexError, TypeError) as exc:
            # The cache is an optimisation: its failure is not the call's.
            log.warning("semantic cache lookup skipped: %s", exc)
            return None

    async def _open_stream(self, trace: CallTrace, policy: KeyPolicy, targets: list[Target],
                           body: dict[str, Any]) -> AsyncIterator[bytes]:
        chunks = await self._attempt(trace, targets,
                                     lambda p, t: p.stream(self.client, t, body))
        return self._relay(trace, policy, body, chunks)

    async def _relay(self, trace: CallTrace, policy: KeyPolicy, body: dict[str, Any],
                     chunks: AsyncIterator[dict[str, Any] | list[dict[str, Any]]]
                     ) -> AsyncIterator[bytes]:
        message = StreamedMessage()
        error: BaseException | None = None
        try:
            async for item in chunks:
                trace.mark_first_token()
                # Chunks that arrived together leave together: one write, not one each.
                batch = item if isinstance(item, list) else (item,)
                for chunk in batch:
                    message.add(chunk)
                yield b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in batch)
            yield b"data: [DONE]\n\n"
        except UpstreamFailure as exc:
            error = exc
            trace.error = exc.message
            # OpenAI clients raise on an event that carries "error"; then the stream ends.
            yield b"data: " + orjson.dumps({"error": {
                "message": exc.message, "type": "upstream_error", "param": None,
                "code": "upstream_stream_error"}}) + b"\n\n"
        except BaseException as exc:  # the client went away: the trace says so
            error = exc
            trace.error = trace.error or "client disconnected before the stream ended"
            raise
        finally:
            trace.output = [message.message()]
            usage = usage_from({"usage": message.usage}) or Usage(
                count_messages(body["messages"], trace.model),
                count_text("".join(message.text), trace.model) + sum(
                    count_text(c["function"]["arguments"], trace.model)
                    for c in message.tool_calls.values()), estimated=True)
            trace.usage = usage
            trace.cost = self.prices.cost(trace.model or trace.route, usage) or \
                self.prices.cost(trace.route, usage)
            # Metering after the last byte: a cancelled relay must still be charged, and
            # the upstream response closed.
            with anyio.CancelScope(shield=True):
                try:
                    await self.spend.settle(trace)
                except Exception:
                    log.exception("could not meter a streamed call")
                self._finish(trace, error)
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except (UpstreamFailure, aiohttp.ClientError, RuntimeError):
                        log.debug("upstream stream was already broken off")

    async def embeddings(self, caller: Caller, body: dict[str, Any]
                         ) -> tuple[CallTrace, dict[str, Any]]:
        check_embeddings(body)
        self._maybe_refresh()
        route = body["model"]
        trace = CallTrace(project=caller.project, key_id=caller.key_id, route=route,
                          operation="embeddings", body=body, session_id=caller.session_id)
        policy = self.policy(caller.key_id)
        try:
            await self.spend.admit(policy, trace, self.snapshot.table)
            targets = self.snapshot.table.candidates(route)
            result = await self._attempt(trace, targets,
                                         lambda p, t: p.embed(self.client, t, body))
            trace.mark_first_token()
            given = body["input"]
            texts = [given] if isinstance(given, str) else [
                t if isinstance(t, str) else "" for t in given]
            usage = usage_from(result) or Usage(
                sum(count_text(t, trace.model) for t in texts), 0, estimated=True)
            await self._settle(policy, trace, usage)
        except BaseException as exc:
            self._finish(trace, exc)
            raise
        self._finish(trace)
        return trace, result

    def embedder(self, project: str, key_id: str, route: str
                 ) -> Callable[[list[str]], Awaitable[list[list[float]]]]:
        """``embed(texts)`` through ``route``, metered and traced under ``key_id``: how
        a knowledge collection of a gateway embedding model gets its vectors."""

        async def embed(texts: list[str]) -> list[list[float]]:
            _, reply = await self.embeddings(Caller(project=project, key_id=key_id),
                                             {"model": route, "input": texts})
            try:
                return [item["embedding"] for item in
                        sorted(reply["data"], key=lambda item: item.get("index", 0))]
            except (KeyError, TypeError) as exc:
                raise UpstreamError(f"route '{route}' answered embeddings without vectors "
                                    f"({exc})") from None

        return embed

    # -- lifecycle -----------------------------------------------------------------

    def close(self) -> None:
        """Flush spans, and let the HTTP client close its connections."""
        self.recorder.close()
        self.spend.close()
        self.guardrails.close()
        client, self._client = self._client, None
        if client is not None and not client.closed:
            try:
                asyncio.get_running_loop().create_task(client.close())
            except RuntimeError:
                pass  # no loop any more: its sockets went with it


def _guardrails_of(gateway: Gateway, db: Database) -> GuardrailEngine:
    """The engine of one gateway: its settings, and embeddings through its routes.

    Built here, not in the guardrails package, so that guardrails never import the
    gateway that runs them."""

    async def embed(project: str, model: str, texts: list[str]) -> list[list[float]]:
        # Metered and traced like any call, under the key "guardrails".
        _, reply = await gateway.embeddings(Caller(project=project, key_id="guardrails"),
                                            {"model": model, "input": texts})
        return [item["embedding"] for item in reply["data"]]

    # The checks' spans and records go through the gateway's recorder: with the call's
    # span, in one transaction and one trace-summary upsert.
    engine = GuardrailEngine(gateway.settings.guardrails, db, embed, gateway.settings.refresh_s,
                             log=gateway.recorder)
    gateway.recorder.observe_check = engine.observe_check
    engine.routes_for = lambda model: gateway.snapshot.table.routes_for(model)
    return engine
