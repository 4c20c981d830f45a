"""Web UI login: the cookie holds a server-side session token, never the API key, and
the session ends at logout, at the key's revocation, and when it expires."""

from __future__ import annotations

from sqlalchemy import update

from tests.conftest import ADMIN_SECRET
from triops.core.ids import now_ms
from triops.core.principals import Role
from triops.server.auth import SESSION_COOKIE
from triops.store.repos import keys
from triops.store.schema import UiSession


def _login(client, secret: str):
    client.cookies.clear()
    response = client.post("/ui/login", data={"api_key": secret}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui"
    return response


def _anonymous(client):
    client.headers.pop("Authorization", None)
    return client


def test_cookie_is_a_session_token_not_the_key(client):
    response = _login(_anonymous(client), ADMIN_SECRET)
    set_cookie = response.headers["set-cookie"]
    token = client.cookies[SESSION_COOKIE]
    assert ADMIN_SECRET not in set_cookie and ADMIN_SECRET not in token
    assert len(token) >= 32
    assert "HttpOnly" in set_cookie and "samesite=lax" in set_cookie.lower()
    assert "triops_key" not in client.cookies
    assert client.get("/ui", follow_redirects=False).status_code == 200
    # The API accepts the session too (the pages' forms post to it), with the key's role.
    assert client.get("/api/v1/keys").status_code == 200


def test_old_style_key_cookie_is_not_accepted(client):
    _anonymous(client).cookies.set("triops_key", ADMIN_SECRET)
    assert client.get("/api/v1/incidents").status_code == 401


def test_logout_ends_the_session_on_the_server(client):
    _login(_anonymous(client), ADMIN_SECRET)
    token = client.cookies[SESSION_COOKIE]
    client.post("/ui/logout", follow_redirects=False)
    # A copy of the cookie taken before logout is worthless afterwards.
    client.cookies.set(SESSION_COOKIE, token)
    refused = client.get("/ui", follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/ui/login"
    assert client.get("/api/v1/incidents").status_code == 401


def test_revoking_the_key_ends_its_sessions(client, runtime):
    with runtime.db.write() as session:
        made = keys.create(session, project="default", role=Role.viewer)
    _login(_anonymous(client), made.secret)
    assert client.get("/ui", follow_redirects=False).status_code == 200
    revoked = client.delete(f"/api/v1/keys/{made.id}",
                            headers={"Authorization": f"Bearer {ADMIN_SECRET}"})
    assert revoked.status_code == 200
    assert client.get("/ui", follow_redirects=False).status_code == 303
    with runtime.db.read() as session:
        assert session.query(UiSession).filter_by(key_id=made.id).count() == 0


def test_sessions_expire(client, runtime):
    _login(_anonymous(client), ADMIN_SECRET)
    assert client.get("/ui", follow_redirects=False).status_code == 200
    with runtime.db.write() as session:
        session.execute(update(UiSession).values(expires_ms=now_ms() - 1))
    assert client.get("/ui", follow_redirects=False).status_code == 303


def test_session_carries_the_keys_role(client, runtime):
    with runtime.db.write() as session:
        viewer = keys.create(session, project="default", role=Role.viewer).secret
    _login(_anonymous(client), viewer)
    assert client.get("/ui/incidents", follow_redirects=False).status_code == 200
    assert client.get("/api/v1/keys").status_code == 403
