"""Apply Alembic migrations: ``triops up`` and ``triops db upgrade`` both call ``upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

_SCRIPTS = Path(__file__).with_name("migrations")


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision of every branch."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")


def pending(engine: Engine) -> set[str]:
    """Heads not yet applied; empty when the schema is current."""
    heads = set(ScriptDirectory.from_config(_config()).get_heads())
    with engine.connect() as connection:
        applied = set(MigrationContext.configure(connection).get_current_heads())
    return heads - applied
