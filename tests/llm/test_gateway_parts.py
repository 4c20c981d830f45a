"""The gateway's parts on their own: resilience, routing, translation, limits, cost,
caches, anomaly signals and settings."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from tests.fake_clock import FakeClock

from triops.core.errors import NotFound, PermissionDenied, RateLimited
from triops.core.gateway_settings import (
    DeploymentConfig,
    PriceConfig,
    RouteConfig,
    SignalConfig,
    UpstreamConfig,
)
from triops.core.settings import Settings
from triops.llm.gateway.anthropic import from_anthropic, to_anthropic, translate_stream
from triops.llm.gateway.cache import ExactCache, SemanticCache, cache_key
from triops.llm.gateway.calltrace import CallTrace
from triops.llm.gateway.cost import PriceTable, Usage, count_messages, count_text
from triops.llm.gateway.limits import (
    KeyPolicy,
    Limiter,
    MemoryCounters,
    RedisCounters,
    duration,
)
from triops.llm.gateway.recorder import Recorder
from triops.llm.gateway.resilience import CircuitBreaker, backoff_delay
from triops.llm.gateway.route_health import RouteHealth
from triops.llm.gateway.routing import RouteTable
from triops.llm.gateway.transport import Target, UpstreamFailure
from triops.llm.spans import Span, SpanKind, SpanStatus
from triops.store.repos import incidents

# -- resilience ------------------------------------------------------------------------


def test_backoff_grows_exponentially_under_a_cap_with_jitter():
    rng = random.Random(7)
    delays = [[backoff_delay(n, 0.1, 1.0, rng) for _ in range(200)] for n in range(6)]
    assert all(0 <= d <= min(1.0, 0.1 * 2 ** n) for n, ds in enumerate(delays) for d in ds)
    assert max(delays[3]) > 0.5 and len(set(delays[3])) > 150  # spread, not lock-step


def test_circuit_opens_cools_down_and_half_opens_for_one_trial():
    now = [0.0]
    breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=lambda: now[0])
    for _ in range(2):
        breaker.failure("a")
    assert breaker.allows("a")
    breaker.failure("a")
    assert not breaker.allows("a") and breaker.is_open("a")
    now[0] = 10.5
    assert breaker.allows("a")  # the one trial
    assert not breaker.allows("a")  # nobody else while it runs
    breaker.failure("a")
    assert not breaker.allows("a")
    now[0] = 21
    assert breaker.allows("a")
    breaker.success("a")
    assert breaker.allows("a") and breaker.allows("a") and not breaker.is_open("a")


# -- routing ---------------------------------------------------------------------------


def table(rng: random.Random | None = None) -> RouteTable:
    upstreams = [UpstreamConfig(name=n, base_url=f"http://{n}/v1") for n in ("a", "b", "c")]
    routes = [
        RouteConfig(alias="main", deployments=[
            DeploymentConfig(upstream="a", model="m1", weight=3),
            DeploymentConfig(upstream="b", model="m2", weight=1)], fallbacks=["spare", "main"]),
        RouteConfig(alias="spare", deployments=[DeploymentConfig(upstream="c", model="m3")],
                    fallbacks=["main"]),
    ]
    return RouteTable(upstreams, routes, default_timeout_s=7, rng=rng)


def test_weighted_choice_first_then_the_rest_then_fallbacks_once_each():
    routes = table(random.Random(1))
    firsts = [routes.candidates("main")[0].key for _ in range(4000)]
    share = firsts.count("a/m1") / len(firsts)
    assert 0.72 < share < 0.78  # weight 3 of 4
    order = [t.key for t in routes.candidates("main")]
    assert sorted(order[:2]) == ["a/m1", "b/m2"] and order[2:] == ["c/m3"]  # cycle cut
    assert routes.candidates("main")[0].timeout_s == 7


def test_direct_deployment_names_and_unknown_models():
    routes = table()
    assert [t.key for t in routes.candidates("b/anything")] == ["b/anything"]
    with pytest.raises(NotFound):
        routes.candidates("zzz/m")
    with pytest.raises(NotFound):
        routes.candidates("nothing")


def test_route_to_unknown_upstream_or_provider_is_refused():
    from triops.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="not configured"):
        RouteTable([], [RouteConfig(alias="x", deployments=[
            DeploymentConfig(upstream="ghost", model="m")])], 5)
    with pytest.raises(InvalidInput, match="provider"):
        RouteTable([UpstreamConfig(name="u", base_url="http://u", provider="nope")], [], 5)


# -- Anthropic translation -------------------------------------------------------------


def test_openai_request_becomes_anthropic_messages():
    body = {
        "model": "x", "temperature": 0.1, "stop": "END", "user": "u1", "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}}}}],
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": None, "tool_calls": [{
                "id": "t1", "type": "function",
                "function": {"name": "f", "arguments": '{"q": "a"}'}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "result"},
            {"role": "user", "content": "thanks"},
        ],
    }
    out = to_anthropic(body, "claude-x")
    assert out["model"] == "claude-x" and out["system"] == "sys" and out["max_tokens"] == 4096
    assert out["stop_sequences"] == ["END"] and out["tool_choice"] == {"type": "any"}
    assert out["metadata"] == {"user_id": "u1"}
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][1]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"q": "a"}}]
    # the tool result and the next user turn merge into one user turn
    assert out["messages"][2]["content"][0]["type"] == "tool_result"
    assert out["messages"][2]["content"][1] == {"type": "text", "text": "thanks"}


def test_anthropic_reply_becomes_openai_completion():
    reply = {"id": "m1", "model": "claude-x", "stop_reason": "max_tokens",
             "content": [{"type": "text", "text": "part"},
                         {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
             "usage": {"input_tokens": 5, "output_tokens": 7}}
    out = from_anthropic(reply, "claude-x")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "part"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def test_anthropic_stream_with_tool_use_and_early_end():
    import orjson

    async def events(items):
        for item in items:
            yield orjson.dumps(item).decode()

    complete = [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 9}}},
        {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "t", "name": "f"}},
        {"type": "content_block_delta", "index": 0, "delta": {
            "type": "input_json_delta", "partial_json": '{"a":'}},
        {"type": "content_block_delta", "index": 0, "delta": {
            "type": "input_json_delta", "partial_json": "1}"}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 4}},
        {"type": "message_stop"},
    ]

    async def collect(items):
        return [c async for c in translate_stream(events(items), "claude-x")]

    chunks = asyncio.run(collect(complete))
    args = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                   for c in chunks if c["choices"][0]["delta"].get("tool_calls"))
    assert args == '{"a":1}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 9
    with pytest.raises(UpstreamFailure, match="before message_stop"):
        asyncio.run(collect(complete[:3]))


# -- limits ----------------------------------------------------------------------------


class _Reads:
    """An upstream response whose body arrives in the given reads (aiohttp's ``readany``)."""

    def __init__(self, reads: list[bytes]) -> None:
        self.content = self
        self._reads = [*reads, b""]
        self.released = False

    async def readany(self) -> bytes:
        return self._reads.pop(0)

    def release(self) -> None:
        self.released = True


def test_openai_stream_events_go_on_a_read_at_a_time():
    from triops.llm.gateway.providers import _openai_chunks

    target = Target(UpstreamConfig(name="u", base_url="http://u/v1"), "m", 5.0)
    reads = [b'data: {"n": 1}\r\n\r\ndata: {"n": 2}\n\nda',  # a line cut between reads
             b'ta: {"n": 3}\n\n: a comment\n\n', b"data: [DONE]\n\n"]

    async def collect(response: _Reads) -> list[list[dict]]:
        return [batch async for batch in _openai_chunks(response, target)]

    response = _Reads(reads)
    assert asyncio.run(collect(response)) == [[{"n": 1}, {"n": 2}], [{"n": 3}]]
    assert response.released
    # A bad event after good ones in the same read: the good ones still go on first.
    got: list[list[dict]] = []

    async def until_failure() -> None:
        async for batch in _openai_chunks(_Reads([b'data: {"n": 1}\n\ndata: oops\n\n']),
                                          target):
            got.append(batch)

    with pytest.raises(UpstreamFailure, match="not JSON"):
        asyncio.run(until_failure())
    assert got == [[{"n": 1}]]
    with pytest.raises(UpstreamFailure, match="ended before"):
        asyncio.run(collect(_Reads([b'data: {"n": 1}\n\n'])))


def test_memory_limits_rpm_tpm_and_models():
    limiter = Limiter(MemoryCounters(), clock=FakeClock())

    async def scenario():
        rpm = KeyPolicy(key_id="k1", rpm=2)
        first = await limiter.admit(rpm, "m")
        assert first is not None and first.requests_left == 1
        assert first.headers()["x-ratelimit-limit-requests"] == "2"
        await limiter.admit(rpm, "m")
        with pytest.raises(RateLimited) as over:
            await limiter.admit(rpm, "m")
        assert over.value.headers["x-ratelimit-remaining-requests"] == "0"
        assert int(over.value.headers["retry-after"]) == 40  # 20 s into the minute
        tpm = KeyPolicy(key_id="k2", tpm=100)
        await limiter.admit(tpm, "m")
        await limiter.settle(tpm, 100)
        with pytest.raises(RateLimited, match="token limit") as tokens:
            await limiter.admit(tpm, "m")
        assert tokens.value.headers["x-ratelimit-remaining-tokens"] == "0"
        assert await limiter.admit(KeyPolicy(key_id="k3", budget_usd=1.0), "m") is None
        with pytest.raises(PermissionDenied):
            await limiter.admit(KeyPolicy(key_id="k4", allowed_models=("a",)), "b")

    asyncio.run(scenario())


@pytest.mark.parametrize("counters", ["memory", "redis"])
def test_a_new_calendar_minute_opens_a_new_window(counters):
    clock = FakeClock()
    store = (MemoryCounters() if counters == "memory" else
             RedisCounters("redis://127.0.0.1:6379/0", f"triops:test:{uuid.uuid4().hex}:"))
    limiter = Limiter(store, clock=clock)
    policy = KeyPolicy(key_id="k", rpm=1, tpm=10)

    async def scenario():
        try:
            await limiter.admit(policy, "m")
            await limiter.settle(policy, 10)
            clock.advance(39.9)  # 59.9 s into the minute: still the same window
            with pytest.raises(RateLimited):
                await limiter.admit(policy, "m")
            clock.advance(0.1)
            fresh = await limiter.admit(policy, "m")
            assert (fresh.requests_left, fresh.tokens_left, fresh.reset_s) == (0, 10, 60)
        finally:
            await store.close()

    asyncio.run(scenario())


def test_redis_counters_are_shared_between_limiters():
    prefix = f"triops:test:{uuid.uuid4().hex}:"

    async def scenario():
        one, two = RedisCounters("redis://127.0.0.1:6379/0", prefix), RedisCounters(
            "redis://127.0.0.1:6379/0", prefix)
        policy = KeyPolicy(key_id="shared", rpm=3, tpm=50)
        try:
            clock = FakeClock()
            a, b = Limiter(one, clock=clock), Limiter(two, clock=clock)
            await a.admit(policy, "m")
            await b.admit(policy, "m")
            await a.admit(policy, "m")
            with pytest.raises(RateLimited):
                await b.admit(policy, "m")
            await a.settle(policy, 20)
            _, tokens = await two.admit(None, Limiter._keys(policy, clock())[1])
            assert tokens == 20
        finally:
            await one.close()
            await two.close()

    asyncio.run(scenario())


def test_rate_reset_durations_read_like_openai():
    assert [duration(s) for s in (0.45, 12, 360, 11_100)] == ["450ms", "12s", "6m0s",
                                                               "3h5m0s"]


# -- cost ------------------------------------------------------------------------------


def test_token_counts_and_prices():
    assert count_text("hello world", "gpt-4o") == 2
    assert count_text("", "gpt-4o") == 0
    assert count_text("hello world", "a-model-the-tokenizer-does-not-know") == 2
    assert count_messages([{"role": "user", "content": "hello world"}], "gpt-4o") == 8
    prices = PriceTable({"house-model": PriceConfig(input=1.0, output=2.0),
                         "gpt-4o": PriceConfig(input=0.0, output=0.0)})
    assert prices.cost("house-model", Usage(1_000_000, 500_000)) == pytest.approx(2.0)
    assert prices.cost("gpt-4o", Usage(1000, 1000)) == 0.0  # overridden
    assert prices.cost("upstream/gpt-4o-mini", Usage(1_000_000, 0)) == pytest.approx(0.15)
    assert prices.cost("unknown", Usage(10, 10)) == 0.0


# -- caches ----------------------------------------------------------------------------


def test_exact_cache_key_ignores_transport_fields_and_expires(monkeypatch):
    body = {"messages": [{"role": "user", "content": "x"}], "temperature": 0}
    assert cache_key("m", body) == cache_key("m", {**body, "stream": False, "user": "u"})
    assert cache_key("m", body) != cache_key("m", {**body, "temperature": 1})
    assert cache_key("m", body) != cache_key("n", body)
    cache = ExactCache(ttl_s=10, max_entries=2)
    cache.put("a", {"v": 1})
    cache.put("b", {"v": 2})
    cache.get("a")
    cache.put("c", {"v": 3})  # evicts b, the least recently used
    assert cache.get("b") is None and cache.get("a") == {"v": 1}
    import triops.llm.gateway.cache as module

    later = module.time.monotonic() + 11
    monkeypatch.setattr(module.time, "monotonic", lambda: later)
    assert cache.get("a") is None


def test_exact_cache_drops_expired_answers_nobody_asks_for_again(monkeypatch):
    import triops.llm.gateway.cache as module

    now = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: now[0])
    cache = ExactCache(ttl_s=10, max_entries=100)
    for n in range(5):
        cache.put(f"once-{n}", {"v": n})
    now[0] += 5
    cache.put("kept", {"v": "kept"})
    cache.get("once-0")  # a hit moves it behind "kept": it goes when "kept" has
    now[0] += 6  # the first five have expired, "kept" has not
    cache.put("new", {"v": "new"})
    assert len(cache) == 3 and cache.get("kept") == {"v": "kept"}
    now[0] += 11
    cache.put("last", {"v": "last"})
    assert len(cache) == 1


def test_semantic_cache_threshold_and_model_scope():
    cache = SemanticCache(threshold=0.9, ttl_s=60, max_entries=10)
    cache.put("m", [1.0, 0.0, 0.0], {"answer": 1})
    hit = cache.get("m", [0.99, 0.1, 0.0])
    assert hit is not None and hit[0] == {"answer": 1} and hit[1] > 0.9
    assert cache.get("m", [0.0, 1.0, 0.0]) is None
    assert cache.get("other", [1.0, 0.0, 0.0]) is None


# -- anomaly signals -------------------------------------------------------------------


def gateway_span(route: str, ms: float, error: bool = False, cost: float = 0.0,
                 at_s: float = 0.0) -> Span:
    start = int(at_s * 1e9)
    return Span(trace_id="a" * 32, span_id="b" * 16, name=route, start_ns=start,
                end_ns=start + int(ms * 1e6), kind=SpanKind.llm,
                status=SpanStatus.error if error else SpanStatus.ok,
                attributes={"triops.gateway.route": route, "triops.cost_usd": cost})


def test_error_rate_latency_and_cost_signals():
    health = RouteHealth(SignalConfig(window_s=60, min_calls=10))
    fired = []
    for window in range(6):
        slow = window == 4
        for i in range(20):
            fired += health.observe("p", gateway_span(
                "chat", 400 if slow else 100 + i, error=(window == 2 and i < 10),
                cost=0.5 if window == 4 else 0.01, at_s=window * 60.0 + i))
    kinds = sorted(s.kind for s in fired)
    assert kinds == ["gateway.cost", "gateway.error_rate", "gateway.latency"]
    error = next(s for s in fired if s.kind == "gateway.error_rate")
    assert error.subject == "route:chat" and 0.4 <= error.value <= 0.55


def test_an_upstream_failing_behind_failover_is_named():
    # Failover answers every call from the healthy upstream, so the route's error rate
    # stays 0; the attempts show which upstream fails.
    health = RouteHealth(SignalConfig(window_s=60, min_calls=10, error_rate=0.2))
    fired = []
    for window in range(3):
        for i in range(20):
            span = gateway_span("chat", 100, at_s=window * 60.0 + i)
            failing = window == 1 and i % 2 == 0
            span.attributes["triops.gateway.attempts"] = (
                ["a/echo: 500", "b/echo: ok"] if failing else
                ["b/echo: ok"] if i % 2 else ["a/echo: ok"])
            fired += health.observe("p", span)
    assert [(s.kind, s.labels) for s in fired] == [
        ("gateway.upstream_errors", {"route": "chat", "upstream": "a"})]
    assert fired[0].value > 0.9 and "upstream a failed 10 of" in fired[0].summary


def test_recorder_writes_spans_and_signals_into_incidents(db):
    import time

    health = RouteHealth(SignalConfig(window_s=60, min_calls=5))
    recorder = Recorder(db, interval_s=0.05, observe=health.observe)
    try:
        for i in range(6):
            trace = CallTrace(project="default", key_id="k", route="chat", operation="chat",
                              body={"model": "chat", "messages": []})
            trace.error = "upstream failed"
            recorder.record("default", trace.span())
        recorder.record("default", gateway_span("chat", 5, at_s=time.time() + 61))
        assert recorder.flush()
    finally:
        recorder.close()
    with db.read() as session:
        found = incidents.list_incidents(session, "default")
        spans = list(__import__("triops.store.records", fromlist=["scan"]).scan(
            session, "default", "span"))
    assert len(spans) == 7
    assert [i.kind for i in found] == ["gateway.error_rate"]


# -- settings --------------------------------------------------------------------------


def test_gateway_section_of_triops_toml(tmp_path, monkeypatch):
    config = tmp_path / "triops.toml"
    config.write_text("""
[gateway]
retries = 3
[[gateway.upstreams]]
name = "oa"
base_url = "https://api.example/v1"
api_key = "sk-secret"
[[gateway.routes]]
alias = "fast"
deployments = [{ upstream = "oa", model = "gpt-4o-mini", weight = 2 }]
fallbacks = ["slow"]
[gateway.prices."house"]
input = 1.5
output = 3
[gateway.cache]
semantic = true
embedding_model = "embed"
""")
    monkeypatch.setenv("TRIOPS_CONFIG", str(config))
    gateway = Settings.load().gateway
    assert gateway.retries == 3
    assert gateway.upstreams[0].api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(gateway)
    assert gateway.routes[0].deployments[0].weight == 2 and gateway.routes[0].fallbacks == ["slow"]
    assert gateway.prices["house"].output == 3 and gateway.cache.semantic
    config.write_text("[gateway]\nretries = -1\n")
    from triops.core.errors import ConfigError

    with pytest.raises(ConfigError, match="retries"):
        Settings.load()


def test_local_upstream_fault_switch_fails_and_slows_every_model():
    import time

    import httpx
    from tests.conftest import free_port

    from triops.llm.gateway.local_upstream import Served, create_app

    served = Served(create_app("a"), free_port()).start()
    body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
    try:
        with httpx.Client(base_url=served.url, timeout=10) as http:
            assert http.put("/_fault", json={"error_rate": 0.5, "delay_ms": 50}).is_success
            started = time.perf_counter()
            codes = [http.post("/v1/chat/completions", json=body).status_code
                     for _ in range(6)]
            assert time.perf_counter() - started >= 0.3
            assert codes == [200, 500, 200, 500, 200, 500]  # evenly spread
            assert http.put("/_fault", json={}).is_success
            assert http.post("/v1/chat/completions", json=body).status_code == 200
    finally:
        served.stop()
