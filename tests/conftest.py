"""Fixtures shared by the whole suite: real databases (SQLite and PostgreSQL), the real
ASGI app, and real servers on free ports for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.waiting import wait_until
from triops.core.principals import ALL_PROJECTS, Role
from triops.core.settings import Settings
from triops.server.app import create_app
from triops.server.runtime import Runtime
from triops.store import Database, upgrade_schema
from triops.store.repos import keys

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BACKENDS = ("sqlite", "postgresql")
ADMIN_SECRET = "tri_test_admin_key_0123456789abcdef"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--backend", default="all", choices=["all", *BACKENDS],
                     help="which store backends to run the store and e2e tests on")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--backend")
        params = BACKENDS if chosen == "all" else (chosen,)
        # A module that does not depend on the store backend names the one it needs.
        only = getattr(metafunc.module, "BACKENDS_UNDER_TEST", None)
        if only is not None:
            params = tuple(b for b in params if b in only) or only
        metafunc.parametrize("backend", params, scope="module")


class PgDatabases:
    """Creates throwaway PostgreSQL databases, cloned from one migrated template."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.template: str | None = None

    def _admin(self, sql: str) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql)

    def new(self, migrated: bool = True) -> str:
        name = f"triops_test_{uuid.uuid4().hex[:12]}"
        if migrated:
            if self.template is None:
                self.template = f"triops_tmpl_{uuid.uuid4().hex[:12]}"
                self._admin(f'CREATE DATABASE "{self.template}"')
                engine_db = Database(self.url(self.template))
                upgrade_schema(engine_db.engine)
                engine_db.dispose()
                self.created.append(self.template)
            self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        else:
            self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url(name)

    @staticmethod
    def url(name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"

    def drop_all(self) -> None:
        # Each DROP DATABASE waits for a checkpoint; drops sent together share one, so
        # the few hundred databases of a run go in seconds instead of a minute.
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self._drop, self.created))

    def _drop(self, name: str) -> None:
        try:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass


_MLFLOW_ENV = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_TRACKING_URI",
               "MLFLOW_REGISTRY_URI", "MLFLOW_RUN_ID")


@pytest.fixture(autouse=True)
def _fresh_mlflow_state() -> Iterator[None]:
    """The stock mlflow client keeps its tracking URI and active experiment in module
    globals and copies them into environment variables; without a reset, one test's
    server (long stopped) or experiment leaks into the next test."""
    saved = {name: os.environ.get(name) for name in _MLFLOW_ENV}
    yield
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is not None:
        while fluent.active_run() is not None:
            fluent.end_run()
        fluent._active_experiment_id = None
        sys.modules["mlflow.tracking._tracking_service.utils"]._tracking_uri = None
        sys.modules["mlflow.tracking._model_registry.utils"]._registry_uri = None
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    dbs = PgDatabases()
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "triops.db"
    db = Database(f"sqlite:///{path}")
    upgrade_schema(db.engine)
    db.dispose()
    return path


def fresh_store_url(backend: str, home: Path, pg: PgDatabases, sqlite_template: Path) -> str:
    """A fresh, migrated, empty store of the requested backend."""
    if backend == "postgresql":
        return pg.new()
    target = home / "triops.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def store_url(backend: str, tmp_path: Path, pg_databases: PgDatabases,
              sqlite_template: Path) -> str:
    """A fresh, migrated, empty store of the requested backend for one test."""
    return fresh_store_url(backend, tmp_path, pg_databases, sqlite_template)


@pytest.fixture
def db(store_url: str) -> Iterator[Database]:
    database = Database(store_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return Settings(store=store_url, artifacts=str(tmp_path / "artifacts"), home=tmp_path)


def admin_runtime(settings: Settings) -> Runtime:
    """A runtime over ``settings`` whose store knows the global admin test key."""
    rt = Runtime.build(settings)
    with rt.db.write() as session:
        keys.create(session, project=ALL_PROJECTS, role=Role.admin, name="admin",
                    secret=ADMIN_SECRET)
    return rt


@contextmanager
def admin_client(rt: Runtime) -> Iterator[TestClient]:
    """The real ASGI app over ``rt``, authenticated as the global admin."""
    with TestClient(create_app(rt), raise_server_exceptions=False) as test_client:
        test_client.headers["Authorization"] = f"Bearer {ADMIN_SECRET}"
        yield test_client


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = admin_runtime(settings)
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """The real ASGI app over a real store, authenticated as the global admin."""
    with admin_client(runtime) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """A real ``triops up`` on a free port."""

    url: str
    store_url: str
    home: Path
    admin_key: str
    port: int
    process: subprocess.Popen | None = None
    extra_env: dict[str, str] | None = None

    def start(self, timeout: float = 60.0) -> ServerProcess:
        env = {**os.environ, "TRIOPS_ADMIN_KEY": self.admin_key, **(self.extra_env or {})}
        with open(self.home / "server.log", "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "triops", "up", "--port", str(self.port),
                 "--store", self.store_url, "--home", str(self.home), "--log-level", "warning"],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.home,
            )
        wait_until(self._ready, timeout=timeout,
                   message=lambda: f"the server to become ready:\n{self.log_text()}")
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{self.log_text()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def log_text(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")[-5000:]

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def http(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30,
                            headers={"Authorization": f"Bearer {key or self.admin_key}"})


def new_server(backend: str, home: Path, pg: PgDatabases, extra_env: dict[str, str] | None = None
               ) -> ServerProcess:
    home.mkdir(parents=True, exist_ok=True)
    store = pg.new(migrated=False) if backend == "postgresql" else f"sqlite:///{home / 'triops.db'}"
    port = free_port()
    return ServerProcess(url=f"http://127.0.0.1:{port}", store_url=store, home=home,
                         admin_key=ADMIN_SECRET, port=port, extra_env=extra_env)


@pytest.fixture(scope="module")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory,
           pg_databases: PgDatabases) -> Iterator[ServerProcess]:
    """One real server per test module and backend."""
    proc = new_server(backend, tmp_path_factory.mktemp(f"server-{backend}"), pg_databases).start()
    yield proc
    proc.stop()
