from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import admin_runtime, free_port, fresh_store_url

from triops.core.gateway_settings import GatewaySettings
from triops.core.settings import Settings
from triops.server.runtime import Runtime

# The OTLP payload builders are shared by these tests, the e2e tests and the benchmark.
sys.path.insert(0, str(Path(__file__).parent))


@contextmanager
def serving(apps: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Each app behind a real HTTP server on a free port, as ``{name: base URL}``."""
    from triops.llm.gateway.local_upstream import Served

    served = {name: Served(app, free_port()).start() for name, app in apps.items()}
    try:
        yield {name: s.url for name, s in served.items()}
    finally:
        for s in served.values():
            s.stop()


@pytest.fixture(scope="module")
def gateway_runtime(backend, tmp_path_factory, pg_databases, sqlite_template
                    ) -> Iterator[Callable[[str, GatewaySettings], Runtime]]:
    """Opens an admin runtime over a fresh store with the given gateway settings; the
    runtimes it opened close when the module ends."""
    opened: list[Runtime] = []

    def open_runtime(label: str, gateway: GatewaySettings) -> Runtime:
        home = tmp_path_factory.mktemp(f"{label}-{backend}")
        url = fresh_store_url(backend, home, pg_databases, sqlite_template)
        opened.append(admin_runtime(Settings(store=url, artifacts=str(home / "artifacts"),
                                             home=home, gateway=gateway)))
        return opened[-1]

    yield open_runtime
    for rt in opened:
        rt.close()
