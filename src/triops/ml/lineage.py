"""Lineage of a model version: dataset versions → run → model version → deployments.

Read from what both protocols write, plus the serving endpoints: ``ModelVersion.run_id`` (set by MLflow's
``create_model_version`` and by ``log_model`` with registration), the run's dataset
inputs (MLflow ``log-inputs`` and triops' SDK), and the registered dataset versions
matched on name and digest. Datasets used without being registered in triops (the
stock MLflow client's ``mlflow.log_input``) still appear, without a version.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from triops.core.errors import NotFound
from triops.store.engine import Database
from triops.store.repos import datasets as dataset_repo
from triops.store.repos import deployments as deployment_repo
from triops.store.repos import experiments, registry, runs
from triops.store.repos.runs import decode_value


@dataclass(frozen=True)
class DatasetNode:
    name: str
    digest: str
    source_type: str
    source: str
    #: The triops dataset version with this content, when one is registered.
    version: int | None = None
    row_count: int | None = None


@dataclass(frozen=True)
class RunNode:
    run_id: str
    run_name: str
    experiment_id: str
    experiment_name: str
    status: str
    start_time: int
    end_time: int | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelNode:
    name: str
    version: int
    source: str
    status: str
    aliases: list[str]
    tags: dict[str, str]
    creation_timestamp: int


@dataclass(frozen=True)
class Lineage:
    model: ModelNode
    run: RunNode | None
    datasets: list[DatasetNode]
    deployments: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def deployments_of(session: Session, project: str, name: str, version: int
                   ) -> list[dict[str, Any]]:
    """Serving endpoints that route traffic to this model version: lineage's last link.

    An endpoint names its model by version number or by ``@alias`` (then it follows the
    alias), for its main traffic and for its canary and shadow policies; each reference
    that resolves to ``version`` today is one entry.
    """
    model = registry.get_model(session, project, name)
    aliases = dict(registry.aliases_of(session, [model.id])[model.id])
    out = []
    for endpoint in deployment_repo.list_all(session, project):
        if endpoint.model_name != name:
            continue
        refs = [("primary", endpoint.model_ref, None)]
        for role in ("canary", "shadow"):
            rule = (endpoint.policy or {}).get(role)
            if isinstance(rule, dict) and rule.get("ref"):
                refs.append((role, str(rule["ref"]), rule.get("percent")))
        for role, ref, percent in refs:
            if _resolve(ref, aliases) == version:
                entry = {"endpoint": endpoint.name, "role": role, "ref": ref,
                         "since_ms": endpoint.updated_ms}
                if percent is not None:
                    entry["percent"] = percent
                out.append(entry)
    return out


def _resolve(ref: str, aliases: dict[str, int]) -> int | None:
    if ref.startswith("@"):
        return aliases.get(ref[1:])
    try:
        return int(ref)
    except ValueError:
        return None


def model_version(db: Database, project: str, name: str, version: int | str) -> Lineage:
    with db.read() as session:
        model, row = registry.get_version(session, project, name, version)
        aliases = [a for a, v in registry.aliases_of(session, [model.id])[model.id]
                   if v == row.version]
        node = ModelNode(model.name, row.version, row.source, row.status, aliases,
                         dict(row.tags), row.creation_timestamp)
        run_node, datasets = None, []
        if row.run_id:
            run_node, datasets = run_side(session, project, row.run_id)
        return Lineage(node, run_node, datasets,
                       deployments_of(session, project, model.name, row.version))


def run_side(session: Session, project: str, run_id: str
              ) -> tuple[RunNode | None, list[DatasetNode]]:
    try:
        run = runs.get(session, project, run_id)
    except NotFound:
        # The run was deleted for good: the version still names it, lineage stops here.
        return None, []
    details = runs.details(session, [run_id])[run_id]
    try:
        experiment_name = experiments.get(session, project, run.experiment_id).name
    except NotFound:
        experiment_name = ""
    run_node = RunNode(
        run.run_id, run.run_name, run.experiment_id, experiment_name, run.status,
        run.start_time, run.end_time, dict(details.params),
        {m.key: _finite(decode_value(m.value)) for m in details.metrics},
    )
    registered = dataset_repo.by_digest(session, project,
                                        [(d.name, d.digest) for d in details.inputs])
    nodes = []
    for use in details.inputs:
        hit = registered.get((use.name, use.digest))
        nodes.append(DatasetNode(use.name, use.digest, use.source_type, use.source,
                                 hit.version if hit else None,
                                 hit.row_count if hit else None))
    return run_node, nodes


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
