"""Two servers on one store and one Redis: a key revoked on one stops working on the
other at once, not when the other's key cache entry expires."""

from __future__ import annotations

import time

import pytest
import redis
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_SECRET, admin_runtime
from tests.waiting import wait_until
from triops.core.principals import Role
from triops.server import revocations
from triops.server.app import create_app
from triops.server.auth import _CACHE_SECONDS
from triops.server.runtime import Runtime
from triops.store.repos import keys

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_settings(settings):
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError:
        pytest.fail("Redis is not running at 127.0.0.1:6379")
    return settings.model_copy(update={"redis_url": REDIS_URL})


def _wait_subscribed(app) -> None:
    wait_until(lambda: app.state.revocations.subscribed, timeout=5, interval=0.01,
               message="the revocation listener to subscribe")


def test_revocation_reaches_the_other_replica_at_once(redis_settings):
    first = admin_runtime(redis_settings)
    second = Runtime.build(redis_settings)
    with first.db.write() as session:
        made = keys.create(session, project="default", role=Role.viewer)
    key = {"Authorization": f"Bearer {made.secret}"}
    try:
        with TestClient(create_app(first)) as one, TestClient(create_app(second)) as two:
            _wait_subscribed(one.app)
            _wait_subscribed(two.app)
            assert two.get("/v1/models", headers=key).status_code == 200  # now cached on two
            revoked_at = time.monotonic()
            revoked = one.delete(f"/api/v1/keys/{made.id}",
                                 headers={"Authorization": f"Bearer {ADMIN_SECRET}"})
            assert revoked.status_code == 200
            wait_until(lambda: two.get("/v1/models", headers=key).status_code != 200,
                       timeout=_CACHE_SECONDS, interval=0.01,
                       message="the other replica to refuse the revoked key")
            took = time.monotonic() - revoked_at
            assert two.get("/v1/models", headers=key).status_code == 401
            # Well inside the cache's lifetime: the announcement, not expiry, removed it.
            assert took < _CACHE_SECONDS / 5, took
    finally:
        first.close()
        second.close()


def test_publish_without_redis_is_a_no_op_and_a_dead_redis_only_warns(caplog):
    revocations.publish(None, "k1")
    revocations.publish("redis://127.0.0.1:1/0", "k1")  # nothing listens on port 1
    assert "could not announce the revocation of key k1" in caplog.text
