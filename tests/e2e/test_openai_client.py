"""The stock ``openai`` client through a real ``triops up`` to real local upstreams.

Upstreams are ``local_upstream`` servers on free ports that record every body they
receive. The server reads its gateway config from a ``triops.toml`` in its home, and
two replicas sharing Redis enforce one rate limit between them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import ServerProcess, free_port, new_server
from tests.waiting import wait_until
from triops.llm.gateway.local_upstream import Served, create_app

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, str]]:
    served = {name: Served(create_app(name), free_port()).start()
              for name in ("alpha", "beta")}
    yield {name: s.url for name, s in served.items()}
    for s in served.values():
        s.stop()


def write_config(home: Path, urls: dict[str, str]) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "triops.toml"
    path.write_text(f"""
[gateway]
retries = 0
timeout_s = 5

[[gateway.upstreams]]
name = "alpha"
base_url = "{urls['alpha']}/v1"
api_key = "sk-alpha-secret"

[[gateway.upstreams]]
name = "beta"
base_url = "{urls['beta']}/v1"

[[gateway.routes]]
alias = "chat"
deployments = [{{ upstream = "alpha", model = "gpt-4o-mini" }}]

[[gateway.routes]]
alias = "failing"
deployments = [{{ upstream = "alpha", model = "fail-500" }}]
fallbacks = ["chat-beta"]

[[gateway.routes]]
alias = "chat-beta"
deployments = [{{ upstream = "beta", model = "gpt-4o-mini" }}]

[gateway.prices."gpt-4o-mini"]
input = 1000.0
output = 1000.0
""")
    return path


@pytest.fixture(scope="module")
def gateway_server(backend, tmp_path_factory, pg_databases, upstreams) -> Iterator[ServerProcess]:
    home = tmp_path_factory.mktemp(f"gw-{backend}")
    config = write_config(home, upstreams)
    proc = new_server(backend, home, pg_databases, extra_env={
        "TRIOPS_CONFIG": str(config), "TRIOPS_REDIS_URL": REDIS_URL}).start()
    yield proc
    proc.stop()


def client_for(server: ServerProcess, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key or server.admin_key,
                         max_retries=0, timeout=20)


def received(url: str) -> list[dict]:
    return httpx.get(url + "/_received").json()


def new_key(server: ServerProcess, policy: dict) -> tuple[str, str]:
    with server.http() as http:
        created = http.post("/api/v1/keys", json={"role": "editor", "project": "default"})
        created.raise_for_status()
        key = created.json()
        http.put(f"/api/v1/gateway/keys/{key['id']}/policy", json=policy).raise_for_status()
    return key["id"], key["secret"]


def test_plain_completion_and_its_trace(gateway_server, upstreams):
    client = client_for(gateway_server)
    raw = client.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hello triops"}], user="u-7",
        extra_headers={"x-triops-session-id": "sess-9"})
    completion = raw.parse()
    assert completion.choices[0].message.content == "alpha says: hello triops"
    assert completion.usage.prompt_tokens == 10
    assert received(upstreams["alpha"])[-1]["messages"][0]["content"] == "hello triops"
    trace_id = raw.headers["x-triops-trace-id"]
    with gateway_server.http() as http:
        # Spans are written in the background, within a moment.
        found = wait_until(lambda: (r := http.get(f"/api/v1/traces/{trace_id}")).is_success and r,
                           timeout=5, message=f"trace {trace_id}")
    trace = found.json()
    assert trace["model"] == "gpt-4o-mini" and trace["user_id"] == "u-7"
    assert trace["session_id"] == "sess-9" and trace["input_tokens"] == 10
    (span,) = trace["spans"]
    assert span["kind"] == "LLM" and span["attributes"]["triops.gateway.upstream"] == "alpha"
    assert {m.id for m in client.models.list().data} == {"chat", "failing", "chat-beta"}


def test_streaming(gateway_server):
    stream = client_for(gateway_server).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "stream me please"}], stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "alpha says: stream me please"


def test_tools_and_response_format_pass_through(gateway_server, upstreams):
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    completion = client_for(gateway_server).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=tools, tool_choice="auto", response_format={"type": "json_object"},
        extra_headers={"x-triops-cache": "no"})
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"echo": true}'
    sent = received(upstreams["alpha"])[-1]
    assert sent["tools"] == tools and sent["response_format"] == {"type": "json_object"}


def test_failing_upstream_falls_back_to_the_second(gateway_server, upstreams):
    completion = client_for(gateway_server).chat.completions.create(
        model="failing", messages=[{"role": "user", "content": "fall back"}])
    assert completion.choices[0].message.content == "beta says: fall back"
    assert received(upstreams["alpha"])[-1]["model"] == "fail-500"


def test_errors_arrive_as_the_clients_exceptions(gateway_server):
    client = client_for(gateway_server)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        client_for(gateway_server, key="tri_not_a_real_key_000000").models.list()
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="chat", messages=[])
    assert bad.value.body["param"] == "messages"


def test_key_over_budget_gets_429(gateway_server):
    # gpt-4o-mini is priced at $1000 per 1M tokens here, so one call spends ~$0.014.
    _, secret = new_key(gateway_server, {"budget_usd": 0.01})
    client = client_for(gateway_server, key=secret)
    ask = {"model": "chat", "messages": [{"role": "user", "content": "spend"}],
           "extra_headers": {"x-triops-cache": "no"}}
    client.chat.completions.create(**ask)
    with pytest.raises(openai.RateLimitError) as over:
        client.chat.completions.create(**ask)
    assert over.value.code == "insufficient_quota"


def _in_one_minute(calls: Callable[[], list[str]]) -> list[str]:
    """The outcomes of ``calls`` made within one calendar minute, the RPM window.

    The servers read the real clock; when the minute turns during the calls, they run again
    (a fresh window), which happens at most once for calls that take a few seconds.
    """
    for _ in range(2):
        minute = time.time() // 60
        outcomes = calls()
        if time.time() // 60 == minute:
            return outcomes
    raise AssertionError("the minute turned during both tries")


def test_two_replicas_sharing_redis_enforce_one_rate_limit(gateway_server, backend, upstreams,
                                                          tmp_path_factory):
    home = tmp_path_factory.mktemp(f"gw-replica-{backend}")
    config = write_config(home, upstreams)
    port = free_port()
    replica = ServerProcess(url=f"http://127.0.0.1:{port}", store_url=gateway_server.store_url,
                            home=home, admin_key=gateway_server.admin_key, port=port,
                            extra_env={"TRIOPS_CONFIG": str(config),
                                       "TRIOPS_REDIS_URL": REDIS_URL}).start()
    try:
        ask = {"model": "chat", "messages": [{"role": "user", "content": "count me"}]}

        def calls() -> list[str]:
            _, secret = new_key(gateway_server, {"rpm": 3})
            outcomes = []
            for server in (gateway_server, replica, gateway_server, replica):
                try:
                    client_for(server, key=secret).chat.completions.create(**ask)
                    outcomes.append("ok")
                except openai.RateLimitError:
                    outcomes.append("429")
            return outcomes

        assert _in_one_minute(calls) == ["ok", "ok", "ok", "429"]
    finally:
        replica.stop()
