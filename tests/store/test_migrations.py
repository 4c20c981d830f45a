"""The hand-written migrations must create exactly the tables the models declare."""

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
