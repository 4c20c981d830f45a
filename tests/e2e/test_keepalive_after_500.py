"""An unexpected error answers 500 and leaves the client's keep-alive connection open:
the next request on the same connection is served, by a real uvicorn server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from tests.conftest import ADMIN_SECRET, free_port
from tests.waiting import wait_until
from triops.server.app import create_app
from triops.server.runtime import Runtime

pytestmark = pytest.mark.e2e


class _Unexpected(RuntimeError):
    pass


@pytest.fixture
def server_url(runtime: Runtime) -> Iterator[str]:
    app = create_app(runtime)

    def fail() -> None:  # stands for any bug a route may hold
        raise _Unexpected("a bug in a route")

    app.add_api_route("/test-only/fail", fail, methods=["GET"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30, interval=0.05, message="the server to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_connection_survives_an_unexpected_error(server_url):
    with httpx.Client(base_url=server_url, timeout=10,
                      headers={"Authorization": f"Bearer {ADMIN_SECRET}"},
                      limits=httpx.Limits(max_connections=1)) as client:
        failed = client.get("/test-only/fail")
        assert failed.status_code == 500
        assert failed.json() == {"error_code": "INTERNAL_ERROR",
                                 "message": "internal error; see the server log"}
        assert failed.headers.get("connection", "keep-alive") != "close"
        assert failed.headers["x-request-id"]
        stream = failed.extensions["network_stream"]

        after = client.get("/api/v1/incidents")
        assert after.status_code == 200, after.text
        # The same socket carried both: the server did not drop it after the 500
        # (the pool would otherwise have opened a fresh one without complaint).
        assert after.extensions["network_stream"] is stream
