"""The authorization matrix: every operation of the OpenAPI document × every kind of
caller, against what a small table below says each operation needs.

The table is written from what each operation does, not read back from the code: a
route whose dependency drifts from it shows up here as a hole (a caller let in who
should not be) or as a refusal of a caller who should be let in. Cells are compared by
status class: 401, 403, or let in (anything else; a 400 for the empty body is fine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.conftest import ADMIN_SECRET
from triops.core.principals import Role
from triops.server.auth import PROJECT_HEADER
from triops.store.repos import keys


@dataclass(frozen=True)
class Need:
    role: Role
    server_wide: bool = False


VIEWER = Need(Role.viewer)
EDITOR = Need(Role.editor)
ADMIN = Need(Role.admin)
SERVER_ADMIN = Need(Role.admin, server_wide=True)

READS = frozenset({"GET"})
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EVERY = READS | WRITES

#: (methods, path template pattern, need): the first match wins; None means public.
#: Anything not listed: reads need a viewer, writes an editor.
RULES: list[tuple[frozenset[str], str, Need | None]] = [
    (READS, r"/healthz|/readyz|/metrics", None),
    (EVERY, r"/api/v1/keys.*", ADMIN),
    (WRITES, r"/api/v1/projects", SERVER_ADMIN),
    (WRITES, r"/api/v1/gateway/(upstreams|routes)/.*", SERVER_ADMIN),
    (WRITES, r"/api/v1/guardrails/rules/.*", SERVER_ADMIN),
    (EVERY, r"/api/v1/gateway/keys/.*", ADMIN),
    # Channels hold delivery secrets; routes decide where incidents are sent.
    (WRITES, r"/api/v1/notifications/(channels|routes)/.*", ADMIN),
    # A retention policy deletes stored data; a Prometheus source makes the server send
    # requests to the URL it names.
    (WRITES, r"/api/v1/retention", ADMIN),
    (WRITES, r"/api/v1/ops/prometheus-sources/.*", ADMIN),
    # Registering a pipeline names code the server will run.
    (WRITES, r"/api/v1/pipelines", ADMIN),
    # Searches are reads that MLflow's clients send as POST.
    (frozenset({"POST"}), r".*/search", VIEWER),
]


def need_of(method: str, path: str) -> Need | None:
    for methods, pattern, need in RULES:
        if method in methods and re.fullmatch(pattern, path):
            return need
    return VIEWER if method in READS else EDITOR


@dataclass(frozen=True)
class CallerKind:
    name: str
    role: Role | None  # None: no key at all
    own_project: bool = True
    server_wide: bool = False


CALLERS = [
    CallerKind("no key", None),
    CallerKind("viewer", Role.viewer),
    CallerKind("editor", Role.editor),
    CallerKind("admin", Role.admin),
    CallerKind("other project's admin", Role.admin, own_project=False),
    CallerKind("server admin", Role.admin, server_wide=True),
]


def expected(need: Need | None, caller: CallerKind) -> str:
    if need is None:
        return "let in"
    if caller.role is None:
        return "401"
    if not caller.own_project:
        return "403"  # every non-public operation acts on a project: here, another one's
    if caller.role < need.role or (need.server_wide and not caller.server_wide):
        return "403"
    return "let in"


def observed(status: int) -> str:
    return str(status) if status in (401, 403) else "let in"


def _operations(client) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return sorted((method.upper(), path) for path, item in paths.items()
                  for method in item if method.upper() in EVERY)


@pytest.fixture
def secrets_by_caller(runtime) -> dict[str, str | None]:
    with runtime.db.write() as session:
        made = {kind.name: keys.create(session, project="default", role=kind.role).secret
                for kind in CALLERS[1:4]}
        made["other project's admin"] = keys.create(session, project="other",
                                                    role=Role.admin).secret
    return {**made, "no key": None, "server admin": ADMIN_SECRET}


def test_every_operation_for_every_caller(client, secrets_by_caller):
    client.headers.pop("Authorization")
    operations = _operations(client)
    assert len(operations) > 100
    cells, wrong = 0, []
    for method, path in operations:
        url = re.sub(r"\{[^}]+\}", "x0", path)
        need = need_of(method, path)
        for caller in CALLERS:
            secret = secrets_by_caller[caller.name]
            headers = {PROJECT_HEADER: "default"}
            if secret is not None:
                headers["Authorization"] = f"Bearer {secret}"
            response = client.request(method, url, headers=headers, follow_redirects=False,
                                      json={} if method in WRITES else None)
            cells += 1
            want, got = expected(need, caller), observed(response.status_code)
            if want != got:
                wrong.append(f"{method} {path} as {caller.name}: expected {want}, got "
                             f"{response.status_code}")
    print(f"authorization matrix: {len(operations)} operations x {len(CALLERS)} callers = "
          f"{cells} cells, {len(wrong)} wrong")
    assert wrong == []
