"""Who is calling, and may they? API keys from the Authorization header, or a UI session.

Keys are accepted as ``Authorization: Bearer <key>`` (what ``MLFLOW_TRACKING_TOKEN``
and the ``openai`` client send) and as the password of HTTP Basic. The web UI trades a
key for a server-side session at login and holds only the session's token, in the
``triops_session`` cookie. Every non-public route declares one of
``viewer``, ``editor``, ``admin`` or ``server_admin`` as a dependency, and is a
``RoleFirstRoute`` that checks it before anything else; a test walks the route table to
prove both.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from triops.core.errors import PermissionDenied, Unauthenticated
from triops.core.principals import ANONYMOUS_ADMIN, Principal, Role
from triops.server.runtime import runtime_of
from triops.store.engine import Database
from triops.store.repos import keys as key_repo
from triops.store.repos import ui_sessions
from triops.store.repos.projects import DEFAULT_PROJECT, validate_name

log = logging.getLogger("triops.api")

#: The web UI's cookie: a server-side session token (``store.repos.ui_sessions``), never a key.
SESSION_COOKIE = "triops_session"
PROJECT_HEADER = "x-triops-project"
#: A revoked key keeps working for at most this long on a server that saw it recently,
#: unless Redis announces the revocation (``triops.server.invalidation``).
_CACHE_SECONDS = 5.0
#: A key in use is looked up again this long before its entry would expire.
_REFRESH_AHEAD = 1.0


@dataclass(frozen=True)
class Caller:
    principal: Principal
    project: str

    @property
    def actor(self) -> str:
        return f"key:{self.principal.name}" if self.principal.key_id else "anonymous"


class KeyCache:
    """Remembers recent key lookups so hot paths skip a database round trip.

    An entry lives ``_CACHE_SECONDS``. Under steady traffic a key in use is looked up
    again in the background during its last ``_REFRESH_AHEAD`` seconds, so it never
    expires under its callers; and concurrent misses on one key share one lookup.
    Without both, every expiry sent each concurrent request of a busy key to its own
    worker thread at once, and that herd stalled the event loop for hundreds of ms.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        self._inflight: dict[str, asyncio.Future[Principal | None]] = {}
        # Bumped by every forget: a lookup that read the store before a revocation landed
        # must not put the key back afterwards.
        self._generation = 0

    def get(self, secret: str) -> tuple[bool, Principal | None]:
        with self._lock:
            hit = self._entries.get(secret)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, secret: str, principal: Principal | None, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[secret] = (time.monotonic() + _CACHE_SECONDS, principal)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def forget_key(self, key_id: str) -> None:
        """Drop every entry of the key with this id (it was revoked)."""
        with self._lock:
            self._generation += 1
            stale = [secret for secret, (_expires, principal) in self._entries.items()
                     if principal is not None and principal.key_id == key_id]
            for secret in stale:
                del self._entries[secret]

    def refresh_due(self, secret: str) -> bool:
        hit = self._entries.get(secret)
        return hit is not None and hit[0] - time.monotonic() < _REFRESH_AHEAD

    def lookup(self, secret: str, db: Database) -> asyncio.Future[Principal | None]:
        """The key's principal from the store, in a worker thread, one lookup per key
        at a time; the caller awaits it (shielded) or lets it refresh the entry."""
        pending = self._inflight.get(secret)
        # A lookup left behind by another event loop (one test client after another on
        # the same app) is not awaited from this one.
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(anyio.to_thread.run_sync(self._load, secret, db))
            self._inflight[secret] = pending
            pending.add_done_callback(lambda done: self._settled(secret, done))
        return pending

    def _load(self, secret: str, db: Database) -> Principal | None:
        generation = self._generation
        with db.read() as session:
            principal = key_repo.authenticate(session, secret)
        self.put(secret, principal, generation)
        return principal

    def _settled(self, secret: str, done: asyncio.Future[Principal | None]) -> None:
        self._inflight.pop(secret, None)
        if not done.cancelled() and done.exception() is not None:
            # A refresh nobody awaited: the next request retries in the foreground.
            log.warning("API key lookup failed: %s", done.exception())


def secret_from(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            return value
        if scheme.lower() == "basic" and value:
            try:
                decoded = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise Unauthenticated("the Basic authorization header is not valid base64") from None
            return decoded.partition(":")[2] or None
        raise Unauthenticated("use 'Authorization: Bearer <key>' or HTTP Basic with the key as password")
    return None


def _session_principal(db: Database, token: str) -> Principal | None:
    with db.read() as session:
        key_id = ui_sessions.key_of(session, token)
        return None if key_id is None else key_repo.active(session, key_id)


def _project_for(request: Request, principal: Principal) -> str:
    # Parsing the query string costs more than the rest of this check: skip it when empty.
    asked = request.headers.get(PROJECT_HEADER) or (
        request.query_params.get("project") if request.scope.get("query_string") else None)
    if principal.is_global:
        return validate_name(asked) if asked else DEFAULT_PROJECT
    if asked and asked != principal.project:
        raise PermissionDenied(
            f"this key belongs to project {principal.project!r}, not {asked!r}"
        )
    return principal.project


async def _resolve_principal_async(request: Request) -> Principal:
    # A cached key costs no thread hop; only a cache miss goes to the database, in a
    # worker thread so that the event loop never waits on it. Hot paths (the LLM
    # gateway) pay per request for every hop, so the common case stays on the loop.
    runtime = runtime_of(request)
    if not runtime.settings.auth:
        return ANONYMOUS_ADMIN
    secret = secret_from(request)
    if not secret:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise Unauthenticated("an API key is required: send 'Authorization: Bearer <key>'")
        # Not cached: a logout or a revocation ends the session on every server at once,
        # and the web UI's pages cost a store round trip each anyway.
        principal = await anyio.to_thread.run_sync(_session_principal, runtime.db, token)
        if principal is None:
            raise Unauthenticated("the session has ended or expired; log in again")
        return principal
    cache: KeyCache = request.app.state.key_cache
    known, principal = cache.get(secret)
    if known:
        if cache.refresh_due(secret):
            cache.lookup(secret, runtime.db)  # in the background; this call uses the entry
    else:
        principal = await asyncio.shield(cache.lookup(secret, runtime.db))
    if principal is None:
        raise Unauthenticated("the API key is unknown or revoked")
    return principal


async def authorize(request: Request, role: Role, *, server_wide: bool = False) -> Caller:
    """Who calls, checked for ``role`` (and, with ``server_wide``, for a key of every
    project): what the ``As*`` dependencies run, callable by a hot path that skips the
    dependency machinery."""
    principal = await _resolve_principal_async(request)
    if not principal.allows(role):
        raise PermissionDenied(
            f"this operation needs the {role.name} role; the key has {principal.role.name}"
        )
    if server_wide and not principal.is_global:
        raise PermissionDenied(
            "this operation changes what every project shares: it needs a server admin "
            "key (an admin key for all projects, '*'); "
            f"the key belongs to project {principal.project!r}"
        )
    caller = Caller(principal=principal, project=_project_for(request, principal))
    request.state.caller = caller
    return caller


#: Where a request keeps the caller its route's requirement admitted, so the check that
#: ``RoleFirstRoute`` ran is not repeated by the endpoint's own dependency.
_ADMITTED = "triops.admitted"


def _require(role: Role, *, server_wide: bool = False):  # type: ignore[no-untyped-def]
    async def dependency(request: Request) -> Caller:
        admitted = request.scope.get(_ADMITTED)
        if admitted is not None and admitted[0] is dependency:
            return admitted[1]
        caller = await authorize(request, role, server_wide=server_wide)
        request.scope[_ADMITTED] = (dependency, caller)
        return caller

    dependency.__name__ = f"require_{'server_' if server_wide else ''}{role.name}"
    dependency.required_role = role  # type: ignore[attr-defined]
    dependency.server_wide = server_wide  # type: ignore[attr-defined]
    return dependency


viewer = _require(Role.viewer)
editor = _require(Role.editor)
admin = _require(Role.admin)
server_admin = _require(Role.admin, server_wide=True)


def is_server_admin(principal: Principal) -> bool:
    """An admin of every project (the bootstrap ``*`` key, or no auth on loopback)."""
    return principal.allows(Role.admin) and principal.is_global


#: Annotated shorthands for endpoint signatures.
AsViewer = Depends(viewer)
AsEditor = Depends(editor)
AsAdmin = Depends(admin)
AsServerAdmin = Depends(server_admin)
AUTH_DEPENDENCIES = (viewer, editor, admin, server_admin)


def requirement_of(dependant: Dependant) -> Callable[[Request], Awaitable[Caller]] | None:
    """The auth dependency an endpoint declares, searched through its sub-dependencies."""
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call in AUTH_DEPENDENCIES:
            return dep.call  # type: ignore[return-value]
        stack.extend(dep.dependencies)
    return None


class RoleFirstRoute(APIRoute):
    """A route that checks the caller's key against the route's declared requirement
    before FastAPI reads, parses or validates anything of the request.

    A caller without the role gets 401/403 whatever it sends: never a 400 that tells it
    what the body should look like, nor a 404 that tells it which ids exist. Every
    router of triops is built with this class; a test walks the route table to prove it.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        requirement = requirement_of(self.dependant)
        if requirement is None:
            return handler

        async def role_first(request: Request) -> Response:
            await requirement(request)
            return await handler(request)

        return role_first
