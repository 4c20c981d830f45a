"""The store: database engine, schema, migrations, repositories, records, artifacts."""

from triops.store.engine import Database
from triops.store.migrate import upgrade as upgrade_schema

__all__ = ["Database", "upgrade_schema"]
