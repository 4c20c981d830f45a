"""Walk every route of the app: with auth on, each refuses a request without a key
(except the public ones), every write refuses a viewer key, and the role is checked
before the request's body or ids are looked at."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from triops.core.principals import Role
from triops.server.auth import RoleFirstRoute, requirement_of
from triops.store.repos import keys

PUBLIC = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/"),
    ("GET", "/ui/login"), ("POST", "/ui/login"), ("POST", "/ui/logout"),
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _required_role(route) -> Role | None:
    requirement = requirement_of(route.dependant)
    return None if requirement is None else requirement.required_role  # type: ignore[attr-defined]


def _routes(app) -> list[tuple[str, str, object]]:
    out = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            out.append((method, route.path, route))
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}:]+(:path)?\}", "x0", path)


@pytest.fixture
def role_keys(runtime):
    made = {}
    with runtime.db.write() as session:
        for role in (Role.viewer, Role.editor):
            made[role] = keys.create(session, project="default", role=role).secret
    return made


def _error_code(response) -> str:
    # The OpenAI routes answer in OpenAI's error shape, which its clients parse.
    body = response.json()
    return body["error_code"] if "error_code" in body else body["error"]["code"].upper()


def test_every_non_public_route_declares_a_role(client):
    undeclared = [
        f"{method} {path}" for method, path, route in _routes(client.app)
        if (method, path) not in PUBLIC and _required_role(route) is None
    ]
    assert undeclared == []


def test_writes_need_more_than_viewer(client):
    # A POST may be a read only when it is a search; everything else that writes needs editor.
    viewer_writes = [
        f"{method} {path}" for method, path, route in _routes(client.app)
        if method in WRITE_METHODS and (method, path) not in PUBLIC
        and _required_role(route) == Role.viewer and "search" not in path
    ]
    assert viewer_writes == []


def test_requests_without_a_key_are_refused(client):
    client.headers.pop("Authorization")
    checked = 0
    for method, path, _route in _routes(client.app):
        if (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path), json={} if method in WRITE_METHODS else None,
                                  follow_redirects=False)
        if path.startswith("/ui"):
            assert response.status_code == 303, (method, path, response.status_code)
            # The login page, which brings a GET back to the page asked for.
            assert response.headers["location"].startswith("/ui/login"), (method, path)
        else:
            assert response.status_code == 401, (method, path, response.status_code, response.text)
            assert _error_code(response) == "UNAUTHENTICATED"
        checked += 1
    assert checked > 5


def test_viewer_key_is_refused_on_every_write(client, role_keys):
    checked = 0
    for method, path, route in _routes(client.app):
        role = _required_role(route)
        if role is None or role == Role.viewer:
            continue
        for weaker in [r for r in (Role.viewer, Role.editor) if r < role]:
            response = client.request(
                method, _concrete(path), json={} if method in WRITE_METHODS else None,
                headers={"Authorization": f"Bearer {role_keys[weaker]}"}, follow_redirects=False,
            )
            assert response.status_code == 403, (method, path, weaker, response.status_code)
            assert _error_code(response) == "PERMISSION_DENIED"
            checked += 1
    assert checked > 5


def test_key_accepted_as_basic_password_and_unknown_key_refused(client):
    client.headers.pop("Authorization")
    from tests.conftest import ADMIN_SECRET

    assert client.get("/api/v1/incidents", auth=("anyone", ADMIN_SECRET)).status_code == 200
    bad = client.get("/api/v1/incidents", headers={"Authorization": "Bearer tri_not_a_real_key_000"})
    assert bad.status_code == 401


def test_project_key_cannot_reach_another_project(client, runtime):
    with runtime.db.write() as session:
        secret = keys.create(session, project="team-a", role=Role.editor).secret
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/incidents", headers=headers).status_code == 200
    other = client.get("/api/v1/incidents", headers={**headers, "X-Triops-Project": "team-b"})
    assert other.status_code == 403


def test_every_route_checks_its_role_before_reading_the_request(client):
    plain = [f"{method} {path}" for method, path, route in _routes(client.app)
             if (method, path) not in PUBLIC
             and not isinstance(route.original_route, RoleFirstRoute)]
    assert plain == []


def test_role_comes_before_body_validation_and_lookup(client, role_keys):
    # A malformed body and ids that do not exist: a weaker key must still learn only 403,
    # and a request without a key only 401.
    checked = 0
    for method, path, route in _routes(client.app):
        role = _required_role(route)
        if role is None or role == Role.viewer:
            continue
        url = _concrete(path)
        body = b'{"not json' if method in WRITE_METHODS else None
        json_headers = {"Content-Type": "application/json"}
        anonymous = client.request(method, url, content=body, follow_redirects=False,
                                   headers={**json_headers, "Authorization": ""})
        assert anonymous.status_code == (303 if path.startswith("/ui") else 401), (method, path)
        for weaker in [r for r in (Role.viewer, Role.editor) if r < role]:
            response = client.request(
                method, url, content=body, follow_redirects=False,
                headers={**json_headers, "Authorization": f"Bearer {role_keys[weaker]}"},
            )
            assert response.status_code == 403, (method, path, weaker, response.status_code)
            checked += 1
    assert checked > 20
