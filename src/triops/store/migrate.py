"""Apply Alembic migrations: ``triops up`` and ``triops db upgrade`` both call ``upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from triops.store import branched_history

_SCRIPTS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


#: Key of the PostgreSQL advisory lock that serialises migrations ("triops" in ASCII).
MIGRATION_LOCK = 0x7472696F7073


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision.

    Replicas started together all call this: on PostgreSQL the first takes an advisory
    lock for its transaction and the others wait, then find nothing left to do; on
    SQLite the same comes from opening a write transaction first.
    """
    config = _config()
    # On SQLite a write transaction (BEGIN IMMEDIATE) makes the other replicas queue on
    # the busy timeout before they read the schema's version.
    with engine.connect() as connection, connection.execution_options(
            triops_write=True).begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                               {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        _restamp_branched(config, connection)
        command.upgrade(config, "heads")


def _restamp_branched(config: Config, connection: Connection) -> None:
    """Move a database stamped by the branched graph onto the linear chain.

    Walks the chain from the base: a revision that already ran is stamped, one that did
    not (its branch was not merged yet when the database was last upgraded) runs now.
    """
    stamped = MigrationContext.configure(connection).get_current_heads()
    if not branched_history.is_branched(stamped):
        return
    done = branched_history.applied(stamped)
    chain = [script.revision for script in
             reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]
    last = max(chain.index(revision) for revision in done)
    for revision in chain[: last + 1]:
        if revision in done:
            command.stamp(config, revision, purge=True)
        else:
            command.upgrade(config, revision)


def pending(engine: Engine) -> set[str]:
    """Heads not yet applied; empty when the schema is current."""
    heads = set(ScriptDirectory.from_config(_config()).get_heads())
    with engine.connect() as connection:
        applied = set(MigrationContext.configure(connection).get_current_heads())
    return heads - applied
