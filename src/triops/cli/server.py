"""``triops up``: migrate, make sure an admin key exists, serve API and web UI."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.exc import IntegrityError

from triops.cli.common import ArtifactsOpt, HomeOpt, StoreOpt, console, settings_from
from triops.core import heap
from triops.core.errors import ConfigError
from triops.core.principals import ALL_PROJECTS, Role
from triops.server import DEFAULT_PROJECT
from triops.server import key_store as keys
from triops.server import project_store as projects

if TYPE_CHECKING:
    from triops.core.settings import Settings
    from triops.server.runtime import Runtime


def bootstrap_admin(runtime: Runtime) -> str | None:
    """Create the first admin key; returns its secret when one was made now.

    Replicas starting together on an empty store each find no admin key and create the
    same one (``TRIOPS_ADMIN_KEY``) or the default project: whoever commits second hits
    the unique constraint, and a second look finds what the other made."""
    try:
        return _bootstrap_admin(runtime)
    except IntegrityError:
        return _bootstrap_admin(runtime)


def _bootstrap_admin(runtime: Runtime) -> str | None:
    given = runtime.settings.admin_key.get_secret_value() if runtime.settings.admin_key else None
    with runtime.db.write() as session:
        projects.ensure(session, DEFAULT_PROJECT)
        if given is not None:
            existing = keys.find(session, given)
            if existing is None:
                keys.create(session, project=ALL_PROJECTS, role=Role.admin, name="admin",
                            secret=given)
            elif existing.revoked_ms is not None:
                raise ConfigError(
                    f"TRIOPS_ADMIN_KEY is the key {existing.id} ({existing.name!r}), which was "
                    "revoked; a revoked key never works again. Unset TRIOPS_ADMIN_KEY (the "
                    "server then prints a new admin key if no other one is active), set it to "
                    "a new secret, or create an admin key with "
                    "`triops keys create --project '*' --role admin`."
                )
            return None
        if keys.any_admin(session):
            return None
        return keys.create(session, project=ALL_PROJECTS, role=Role.admin, name="admin").secret


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Migration chatter is noise on every start; failures still surface as errors.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def up(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 7600)")] = None,
    store: StoreOpt = None,
    artifacts: ArtifactsOpt = None,
    home: HomeOpt = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve without API keys (loopback only)")] = False,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning")] = None,
) -> None:
    """Start the triops server and web UI on the embedded default or the given store."""
    heap.limit_arenas()  # before any thread starts: see triops.core.heap
    settings: Settings = settings_from(
        host=host, port=port, store=store, artifacts=artifacts, home=home,
        auth=False if no_auth else None, log_level=log_level,
    )
    settings.check_auth_binding()
    configure_logging(settings.log_level)
    # The server stack loads here, not at import, so every other verb starts quickly,
    # and after the checks above, so a refused start answers before it loads. The
    # runtime pulls in every pillar, which ``triops --help`` and the other verbs have no
    # use for.
    import uvicorn

    from triops.server.app import create_app
    from triops.server.runtime import Runtime
    from triops.store import upgrade_schema

    runtime = Runtime.build(settings)
    with console.status("Applying database migrations…"):
        upgrade_schema(runtime.db.engine)
    secret = bootstrap_admin(runtime) if settings.auth else None
    url = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold green]triops[/] is starting at [bold]{url}[/] (web UI: {url}/ui)")
    console.print(f"store: {settings.store_url}\nartifacts: {settings.artifacts_location}")
    if secret:
        console.print(f"admin API key (shown once, store it now): [bold]{secret}[/]",
                      soft_wrap=True)
    elif not settings.auth:
        console.print("[yellow]auth is off: anyone on this machine can read and write[/]")
    app = create_app(runtime)
    # What start-up built lives as long as the server: frozen, the cyclic collector's
    # full passes skip it. Otherwise each walks ~270k objects, ~0.2 s of CPU with the
    # event loop stopped, every few seconds under load (the gateway's p99). Models
    # loaded later are frozen after their load (see triops.core.heap).
    heap.freeze()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=False, timeout_graceful_shutdown=5)
