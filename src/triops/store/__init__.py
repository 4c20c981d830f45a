"""The store: database engine, schema, migrations, repositories, records, artifacts.

``upgrade_schema`` loads Alembic on first use (``triops.core.faces``): a command or a
test that only reads a migrated store never pays for the migration machinery.
"""

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names
from triops.store.engine import Database

if TYPE_CHECKING:
    from triops.store.migrate import upgrade as upgrade_schema

__getattr__ = lazy_names(__name__, {"upgrade_schema": "migrate:upgrade"})

__all__ = ["Database", "upgrade_schema"]
