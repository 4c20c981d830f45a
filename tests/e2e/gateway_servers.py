"""A ``triops up`` whose gateway routes to one recording ``local_upstream``, the setup
the gateway's end-to-end tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai

from tests.conftest import PgDatabases, ServerProcess, free_port, new_server
from triops.llm.gateway.local_upstream import Served, create_app


def alpha_upstream() -> Iterator[str]:
    """A fake OpenAI upstream named ``alpha`` for a module's tests; yields its URL."""
    served = Served(create_app("alpha"), free_port()).start()
    yield served.url
    served.stop()


def gateway_server(backend: str, home: Path, pg_databases: PgDatabases, upstream: str,
                   routes: dict[str, str], *, gateway: str = "", extra: str = ""
                   ) -> ServerProcess:
    """A started server whose triops.toml routes each alias of ``routes`` to that model
    of ``upstream``; ``gateway`` adds keys to ``[gateway]``, ``extra`` more tables."""
    tables = "".join(f"""
[[gateway.routes]]
alias = "{alias}"
deployments = [{{ upstream = "alpha", model = "{model}" }}]
""" for alias, model in routes.items())
    config = home / "triops.toml"
    config.write_text(f"""
[gateway]
retries = 0
{gateway}
[[gateway.upstreams]]
name = "alpha"
base_url = "{upstream}/v1"
{tables}{extra}""")
    return new_server(backend, home, pg_databases,
                      extra_env={"TRIOPS_CONFIG": str(config)}).start()


def ask(client: openai.OpenAI, model: str) -> str | None:
    """The answer of ``model`` to "hello"; None while the gateway does not serve it yet."""
    try:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hello"}])
    except openai.NotFoundError:
        return None
    return reply.choices[0].message.content
