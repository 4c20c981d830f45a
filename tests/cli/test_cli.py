"""The CLI verbs against a real store: keys, incidents, db upgrade, clear errors.

The ``triops`` process itself (its exit code, one error line on stderr, ``triops up``
refusing to start) is tested with subprocesses; the verbs' work runs in-process
(``tests.cli.in_process``), where it costs no interpreter start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.cli.in_process import cli
from triops.core.signals import Pillar, Signal
from triops.ops import ingest
from triops.store import Database
from triops.store.repos import keys


def triops(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "triops", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, check=False)


def test_version_and_help():
    assert triops("version").stdout.strip() == __import__("triops").__version__
    for verb in (["up"], ["db", "upgrade"], ["keys", "create"], ["incidents", "list"]):
        result = cli(*verb, "--help")
        assert result.exit_code == 0 and "Usage" in result.stdout


def test_keys_create_list_revoke(store_url):
    created = cli("keys", "create", "--project", "team-a", "--role", "editor", "--store", store_url)
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    db = Database(store_url)
    with db.read() as session:
        principal = keys.authenticate(session, secret)
    assert principal is not None and principal.project == "team-a" and principal.role.name == "editor"
    listed = cli("keys", "list", "--store", store_url)
    assert principal.key_id in listed.stdout and secret not in listed.stdout
    assert cli("keys", "revoke", principal.key_id, "--store", store_url).exit_code == 0
    with db.read() as session:
        assert keys.authenticate(session, secret) is None
    db.dispose()


def test_incidents_list_ack_resolve(store_url):
    db = Database(store_url)
    with db.write() as session:
        folded = ingest(session, "default", Signal(source=Pillar.ops, kind="k", subject="service:x"))
    db.dispose()
    listed = cli("incidents", "list", "--store", store_url)
    assert folded.incident_id in listed.stdout
    assert cli("incidents", "ack", folded.incident_id, "--store", store_url).exit_code == 0
    assert cli("incidents", "resolve", folded.incident_id, "--store", store_url).exit_code == 0
    assert "resolved" in cli("incidents", "list", "--status", "resolved", "--store", store_url).stdout


@pytest.mark.parametrize("args, needle", [
    (["keys", "create", "--project", "p", "--role", "boss"], "role 'boss'"),
    (["incidents", "ack", "missing"], "no incident id starts with 'missing'"),
    (["keys", "create", "--project", "Bad Name", "--role", "viewer"], "project name"),
    (["db", "upgrade", "--store", "not-a-url"], "SQLAlchemy URL"),
])
def test_errors_are_one_clear_line(store_url, args, needle):
    if "--store" not in args:
        args = [*args, "--store", store_url]
    result = triops(*args)
    assert result.returncode == 1
    # A verb that opened a store names it first; the error is the one line after it.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("store: ")]
    assert len(lines) == 1 and needle in lines[0]
    assert "Traceback" not in result.stderr


def test_no_auth_refused_off_loopback(tmp_path):
    result = triops("up", "--no-auth", "--host", "0.0.0.0", "--home", str(tmp_path))
    assert result.returncode == 1
    assert "--no-auth is refused" in result.stderr


def test_up_with_a_revoked_admin_key_says_how_to_recover(store_url, tmp_path):
    from triops.core.principals import ALL_PROJECTS, Role

    secret = "tri_revoked_admin_key_0123456789"
    db = Database(store_url)
    with db.write() as session:
        made = keys.create(session, project=ALL_PROJECTS, role=Role.admin, secret=secret)
        keys.revoke(session, made.id)
    db.dispose()
    result = subprocess.run(
        [sys.executable, "-m", "triops", "up", "--store", store_url, "--home", str(tmp_path),
         "--port", "0"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TRIOPS_ADMIN_KEY": secret},
    )
    assert result.returncode == 1
    assert "IntegrityError" not in result.stderr and "Traceback" not in result.stderr
    assert f"TRIOPS_ADMIN_KEY is the key {made.id}" in result.stderr
    assert "was revoked" in result.stderr and "triops keys create" in result.stderr


def test_replicas_starting_together_create_the_admin_key_once(runtime, monkeypatch):
    """The second of two replicas bootstrapping at once looked before the first committed:
    it finds no key, its insert hits the unique constraint, and a second look finds it."""
    from pydantic import SecretStr

    from tests.conftest import ADMIN_SECRET
    from triops.cli import server
    from triops.core.principals import ALL_PROJECTS

    runtime.settings = runtime.settings.model_copy(update={"admin_key": SecretStr(ADMIN_SECRET)})
    real_find, looks = keys.find, []

    def find_as_if_not_yet_committed(session, secret):
        looks.append(secret)
        return None if len(looks) == 1 else real_find(session, secret)

    monkeypatch.setattr(server.keys, "find", find_as_if_not_yet_committed)
    assert server.bootstrap_admin(runtime) is None
    assert len(looks) == 2
    with runtime.db.read() as session:
        admins = [k for k in keys.list_keys(session) if k.project == ALL_PROJECTS]
    assert len(admins) == 1
