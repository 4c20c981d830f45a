"""Apps with and without a hot-path shortcut, for tests that compare the two answers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_SECRET
from triops.server.app import create_app
from triops.server.runtime import Runtime


def admin_client(runtime: Runtime, without: type | None = None) -> TestClient:
    """A test client of the whole app with the admin key; ``without`` names a shortcut
    middleware to leave out, so the declared routes alone serve what it would have."""
    app = create_app(runtime)
    if without is not None:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not without]
    client = TestClient(app, raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
    return client
