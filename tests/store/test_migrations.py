"""The hand-written migrations must create exactly the tables the models declare."""

import re
import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import triops.store.schema_all  # noqa: F401
from triops.store.migrate import pending
from triops.store.schema import Base


def test_migrated_schema_matches_models(db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_no_migration_pending_after_upgrade(db):
    assert pending(db.engine) == set()


def test_sqlite_runs_in_wal_with_foreign_keys(db):
    if not db.is_sqlite:
        pytest.skip("SQLite pragmas only")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


@pytest.fixture
def bare_url(backend, tmp_path, pg_databases) -> str:
    """An empty database, not migrated."""
    if backend == "postgresql":
        return pg_databases.new(migrated=False)
    return f"sqlite:///{tmp_path / 'bare.db'}"


def _incident(id_: str, fingerprint: str, status: str, severity: int, count: int,
              first: int, last: int) -> dict:
    return {"id": id_, "project": "p", "fingerprint": fingerprint, "status": status,
            "title": id_, "source": "ops", "kind": "latency", "subject": "service:a",
            "severity": severity, "labels": {}, "signal_count": count, "first_ms": first,
            "last_ms": last}


def test_upgrade_merges_duplicate_active_incidents_before_indexing_them(bare_url):
    from alembic import command
    from sqlalchemy import JSON, column, insert, select, table

    from triops.store import Database
    from triops.store.migrate import _config, upgrade
    from triops.store.schema import Incident, IncidentSignal

    db = Database(bare_url)
    try:
        config = _config()
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0005_ops")
        # What concurrent writers left behind before the unique index existed: three
        # active incidents of one fingerprint, a resolved one beside them, another
        # fingerprint untouched.
        incidents = [
            _incident("dup1", "fp", "open", 2, 3, 1_000, 5_000),
            _incident("dup2", "fp", "acknowledged", 4, 2, 500, 9_000),
            _incident("dup3", "fp", "open", 1, 1, 2_000, 2_000),
            _incident("old", "fp", "resolved", 1, 7, 0, 100),
            _incident("other", "fp2", "open", 2, 1, 1_000, 1_000),
        ]
        signals = [{"incident_id": i["id"], "time_ms": i["first_ms"] + k, "severity": 2,
                    "value": None, "summary": "", "labels": {}}
                   for i in incidents for k in range(i["signal_count"])]
        # The tables as revision 0005_ops left them, not as the models declare them now.
        old_incidents = table("incidents", *(column(k, JSON if k == "labels" else None)
                                             for k in incidents[0]))
        old_signals = table("incident_signals", *(column(k, JSON if k == "labels" else None)
                                                  for k in signals[0]))
        with db.engine.begin() as connection:
            connection.execute(insert(old_incidents).values(incidents))
            connection.execute(insert(old_signals).values(signals))

        upgrade(db.engine)

        with db.read() as session:
            rows = {r.id: r for r in session.scalars(select(Incident))}
            by_incident = {}
            for s in session.scalars(select(IncidentSignal)):
                by_incident[s.incident_id] = by_incident.get(s.incident_id, 0) + 1
        assert sorted(rows) == ["dup2", "old", "other"]  # the most recently active survives
        kept = rows["dup2"]
        assert (kept.status, kept.signal_count, kept.first_ms, kept.last_ms, kept.severity) == (
            "acknowledged", 6, 500, 9_000, 4)
        assert by_incident == {"dup2": 6, "old": 7, "other": 1}
        assert (rows["old"].signal_count, rows["old"].repeat_count) == (7, 0)
        assert pending(db.engine) == set()
    finally:
        db.dispose()


def test_revisions_form_one_line_numbered_in_order():
    from alembic.script import ScriptDirectory

    from triops.store.migrate import _SCRIPTS, _config

    scripts = ScriptDirectory.from_config(_config())
    assert len(scripts.get_heads()) == 1
    chain = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    assert [int(r[:4]) for r in chain] == list(range(1, len(chain) + 1))
    files = sorted(p.name for p in (_SCRIPTS / "versions").glob("*.py"))
    assert files == [f"{r}.py" for r in chain]



# The order in which the branched revisions landed on main: every prefix of it from three
# revisions on is a schema that a release of triops left behind, with one
# ``alembic_version`` row per branch head. (Two revisions, 0001 and 0004, left one row,
# which reads the same as a linear stamp; upgrades never leave a single row in the middle
# of the linear chain.)
_LANDED = ["0001_foundation", "0004_llm_traces", "0002_ml", "0006_ml_datasets", "0005_ops",
           "0003_llm_gateway", "0007_monitoring", "0006_deployments", "0008_prompts",
           "0009_guardrails"]


def _branched_scripts(root: Path) -> Path:
    """Today's revisions wired as the branched graph that made older databases."""
    from triops.store import branched_history
    from triops.store.migrate import _SCRIPTS

    target = root / "branched"
    shutil.copytree(_SCRIPTS, target, ignore=shutil.ignore_patterns("__pycache__"))
    renamed = {new: old for old, new in branched_history._RENAMED.items()}
    for path in (target / "versions").glob("*.py"):
        source = path.read_text()
        revision = re.search(r'^revision = "(.+)"$', source, re.MULTILINE).group(1)
        old = renamed.get(revision, revision)
        if old not in branched_history._PARENTS:  # added after the line was made linear
            path.unlink()
            continue
        parent = branched_history._PARENTS[old]
        source = re.sub(r"^revision = .*$", f"revision = {old!r}", source, flags=re.MULTILINE)
        source = re.sub(r"^down_revision = .*$", f"down_revision = {parent!r}", source,
                        flags=re.MULTILINE)
        path.write_text(source)
    return target


@pytest.mark.parametrize("landed", [3, 7, len(_LANDED)])
def test_database_made_by_the_branched_graph_upgrades_to_the_single_head(
        bare_url, tmp_path, landed):
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from triops.store import Database
    from triops.store.migrate import _config, upgrade

    db = Database(bare_url)
    try:
        branched = Config()
        branched.set_main_option("script_location", str(_branched_scripts(tmp_path)))
        with db.engine.begin() as connection:
            branched.attributes["connection"] = connection
            for revision in _LANDED[:landed]:
                command.upgrade(branched, revision)
        with db.engine.connect() as connection:
            rows = MigrationContext.configure(connection).get_current_heads()
        assert len(rows) > 1

        upgrade(db.engine)

        head = ScriptDirectory.from_config(_config()).get_current_head()
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_heads() == (head,)
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": False}),
                Base.metadata)
        assert diff == []
        assert pending(db.engine) == set()
    finally:
        db.dispose()


def test_replicas_starting_together_migrate_once(bare_url):
    # Processes, as replicas are: Alembic's context is per process, not per thread.
    import subprocess
    import sys

    from triops.store import Database

    code = ("import sys; from triops.store import Database, upgrade_schema; "
            "upgrade_schema(Database(sys.argv[1]).engine)")
    replicas = [subprocess.Popen([sys.executable, "-c", code, bare_url],
                                 stderr=subprocess.PIPE, text=True) for _ in range(3)]
    failures = [p.stderr.read()[-2000:] for p in replicas if p.wait(120) != 0]
    assert failures == []
    db = Database(bare_url)
    try:
        assert pending(db.engine) == set()
    finally:
        db.dispose()
