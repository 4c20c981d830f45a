"""Deploying, changing and removing endpoints: checked, loaded once, audited.

A deployment is validated before anything is written: every reference it names must
resolve to an existing version and every such version must load (a pickle refused for
an untrusted deployment is refused here, at deploy time, with nothing stored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from triops.core.errors import AlreadyExists, InvalidInput
from triops.ml.serving import traffic
from triops.ml.serving.loaders import ModelFiles, ModelHandle, artifact_root, load_model
from triops.store.artifacts import ArtifactStore
from triops.store.engine import Database
from triops.store.repos import audit, deployments, registry
from triops.store.repos.deployments import EndpointSpec
from triops.store.schema_deployments import ServingEndpoint


@dataclass(frozen=True)
class Deployed:
    row: ServingEndpoint
    versions: dict[str, int]
    handles: dict[int, ModelHandle]


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_BATCH_SIZE = 4_096
MAX_WAIT_MS = 1_000.0


def check_spec(spec: EndpointSpec) -> EndpointSpec:
    if not _NAME.match(spec.name):
        raise InvalidInput(f"endpoint name '{spec.name}' must be 1-128 letters, digits, '_', "
                           "'.' or '-', starting with a letter or digit")
    traffic.check_ref(spec.model_ref)
    traffic.parse_policy(spec.policy)
    if not 1 <= spec.max_batch_size <= MAX_BATCH_SIZE:
        raise InvalidInput(f"max_batch_size must be between 1 and {MAX_BATCH_SIZE}")
    if not 0 <= spec.max_wait_ms <= MAX_WAIT_MS:
        raise InvalidInput(f"max_wait_ms must be between 0 and {MAX_WAIT_MS:g}")
    if not 0 <= spec.log_sample_rate <= 1:
        raise InvalidInput("log_sample_rate must be between 0 and 1")
    return spec


def referenced(spec: EndpointSpec) -> list[tuple[str, str]]:
    """(role, ref) of every version the endpoint may serve or shadow."""
    policy = traffic.parse_policy(spec.policy)
    refs = [("primary", spec.model_ref)]
    if policy.canary_ref:
        refs.append(("canary", policy.canary_ref))
    if policy.shadow_ref:
        refs.append(("shadow", policy.shadow_ref))
    return refs


def deploy(db: Database, artifacts: ArtifactStore, project: str, spec: EndpointSpec, *,
           actor: str, replace: bool = False) -> Deployed:
    """Validate, load every referenced version once, then store and audit the endpoint.

    Returns the stored row, the version each role resolves to now, and the loaded models
    (by version) so that a server can serve them without loading them again.
    """
    check_spec(spec)
    versions: dict[str, int] = {}
    with db.read() as session:
        if not replace and deployments.find(session, project, spec.name) is not None:
            raise AlreadyExists(f"endpoint '{spec.name}' exists already; delete it first or "
                                "deploy with replace")
        locations = {}
        for role, ref in referenced(spec):
            if ref.startswith("@"):
                _m, row = registry.get_by_alias(session, project, spec.model_name, ref[1:])
            else:
                _m, row = registry.get_version(session, project, spec.model_name, ref)
            versions[role] = row.version
            locations[row.version] = row.storage_location
    handles = {
        # Loading proves the files are there and in a format this deployment may load.
        version: load_model(ModelFiles(artifacts, artifact_root(location, project)),
                            trust_pickle=spec.trust_pickle)
        for version, location in locations.items()}
    with db.write() as session:
        row = deployments.create(session, project, spec, actor, replace=replace)
        detail = {"model": spec.model_name, "ref": spec.model_ref, "policy": spec.policy,
                  "versions": versions, "max_batch_size": spec.max_batch_size,
                  "max_wait_ms": spec.max_wait_ms, "log_sample_rate": spec.log_sample_rate,
                  "trust_pickle": spec.trust_pickle}
        audit.record(session, project=project, actor=actor, action="endpoint.deploy",
                     target=spec.name, detail=detail)
        if spec.trust_pickle:
            # Trusting pickles lets the model's author run code in the server: its own entry.
            audit.record(session, project=project, actor=actor, action="endpoint.trust_pickle",
                         target=spec.name, detail={"model": spec.model_name,
                                                   "versions": versions})
    return Deployed(row, versions, handles)


def undeploy(db: Database, project: str, name: str, *, actor: str) -> None:
    with db.write() as session:
        row = deployments.get(session, project, name)
        detail = {"model": row.model_name, "ref": row.model_ref}
        deployments.delete(session, project, name)
        audit.record(session, project=project, actor=actor, action="endpoint.delete",
                     target=name, detail=detail)
