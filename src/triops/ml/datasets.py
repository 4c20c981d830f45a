"""Dataset versions, and which run used which one.

A run's use of a dataset is written where MLflow's ``log-inputs`` writes it
(``ml_run_inputs``, by name and digest), so lineage sees datasets logged by triops'
SDK and by the stock MLflow client alike, and MLflow clients see triops' datasets.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from triops.client.profile import DatasetDescription
from triops.core.errors import InvalidInput
from triops.store.engine import Database
from triops.store.repos import datasets as repo
from triops.store.repos import runs
from triops.store.repos.runs import DatasetUse
from triops.store.schema_ml_datasets import DatasetVersion

_NAME = re.compile(r"^[\w.\- /:]{1,500}$")
_DIGEST = re.compile(r"^[0-9a-f]{8,64}$")
_STATS = {"dtype", "nulls", "min", "max", "mean", "std", "distinct", "top"}
MAX_COLUMNS = 10_000
SOURCE_TYPE = "triops"


def check_name(name: str) -> None:
    if not _NAME.match(name or "") or ".." in name.split("/"):
        raise InvalidInput(f"dataset name {name!r} must be 1-500 letters, digits, "
                           "spaces or '_.-/:'")


def check_description(d: DatasetDescription) -> None:
    """The profile comes from the client: refuse anything that is not its shape."""
    if not _DIGEST.match(d.digest):
        raise InvalidInput("digest must be 8-64 lowercase hex characters (e.g. a sha256)")
    if d.row_count < 0:
        raise InvalidInput("row_count must not be negative")
    if len(d.columns) > MAX_COLUMNS:
        raise InvalidInput(f"a dataset may describe at most {MAX_COLUMNS} columns")
    names = [c.get("name") for c in d.columns]
    if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
        raise InvalidInput("every column needs a distinct, non-empty name")
    for column, stats in d.profile.items():
        if column not in names:
            raise InvalidInput(f"profile names column {column!r}, which is not in columns")
        unknown = set(stats) - _STATS
        if unknown:
            raise InvalidInput(f"profile of {column!r} has unknown statistics "
                               f"{sorted(unknown)}; allowed: {sorted(_STATS)}")
        for stat in ("min", "max", "mean", "std"):
            value = stats.get(stat)
            if value is not None and (not isinstance(value, (int, float))
                                      or not math.isfinite(value)):
                raise InvalidInput(f"profile {column!r}.{stat} must be a finite number")


def register(db: Database, project: str, name: str, d: DatasetDescription, *,
             description: str = "", created_by: str = "",
             run_id: str | None = None) -> tuple[DatasetVersion, bool]:
    """Register the content as a version of ``name`` (or find it), and when ``run_id``
    is given, record that the run used it, in the same transaction."""
    check_name(name)
    check_description(d)
    with db.write() as session:
        run = runs.get_active(session, project, run_id) if run_id else None
        row, created = repo.register(
            session, project, name, digest=d.digest, source_type=d.source_type,
            source=d.source, row_count=d.row_count, columns=list(d.columns),
            profile=dict(d.profile), description=description, created_by=created_by)
        if run is not None:
            runs.log_inputs(session, run, [use_of(row)])
        return row, created


def use_of(row: DatasetVersion) -> DatasetUse:
    """The version as MLflow's dataset input (schema and profile as JSON text)."""
    schema = json.dumps({"mlflow_colspec": [{"name": c["name"], "type": c["dtype"]}
                                            for c in row.columns]})
    profile = json.dumps({"num_rows": row.row_count, "triops_version": row.version})
    return DatasetUse(name=row.name, digest=row.digest, source_type=SOURCE_TYPE,
                      source=row.source or f"triops-dataset:{row.name}/{row.version}",
                      schema=schema, profile=profile)


def as_dict(row: DatasetVersion) -> dict[str, Any]:
    return {"name": row.name, "version": row.version, "digest": row.digest,
            "source_type": row.source_type, "source": row.source, "row_count": row.row_count,
            "columns": row.columns, "profile": row.profile, "description": row.description,
            "created_ms": row.created_ms, "created_by": row.created_by}
