"""Deploying, changing and removing endpoints: checked, loaded once, audited.

A deployment is validated before anything is written: every reference it names must
resolve to an existing version and every such version must load (a pickle or an
unreviewed skops type refused for an untrusted deployment is refused here, at deploy
time, with nothing stored). A deployment that trusts more (``trust_pickle``,
``trusted_types``; the API lets only admins ask) is bound to the SHA-256 of every file
of the versions it names, read now: those digests are stored with it, and trust is
given at load time only to files that still match them.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from triops.core.errors import AlreadyExists, InvalidInput
from triops.ml.serving import traffic
from triops.ml.serving.loaders import (
    NO_TRUST,
    ModelFiles,
    ModelHandle,
    Trust,
    artifact_root,
    load_model,
)
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
    #: The spec as stored, with the digests its trust is bound to.
    spec: EndpointSpec


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


def trust_of(spec: EndpointSpec) -> Trust:
    """What the stored deployment trusts, and for which files."""
    if not spec.trust_pickle and not spec.trusted_types:
        return NO_TRUST
    return Trust(types=frozenset(spec.trusted_types), pickle=spec.trust_pickle,
                 files=frozenset(spec.trusted_files))


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
    files = {version: ModelFiles(artifacts, artifact_root(location, project))
             for version, location in locations.items()}
    if spec.trust_pickle or spec.trusted_types:
        digests = set().union(*(f.digests() for f in files.values()))
        spec = dataclasses.replace(spec, trusted_types=tuple(sorted(set(spec.trusted_types))),
                                   trusted_files=tuple(sorted(digests)))
    else:
        spec = dataclasses.replace(spec, trusted_files=())
    trust = trust_of(spec)
    # Loading proves the files are there and in a format this deployment may load.
    handles = {version: load_model(f, trust=trust) for version, f in files.items()}
    with db.write() as session:
        row = deployments.create(session, project, spec, actor, replace=replace)
        detail = {"model": spec.model_name, "ref": spec.model_ref, "policy": spec.policy,
                  "versions": versions, "max_batch_size": spec.max_batch_size,
                  "max_wait_ms": spec.max_wait_ms, "log_sample_rate": spec.log_sample_rate,
                  "trust_pickle": spec.trust_pickle, "trusted_types": list(spec.trusted_types)}
        audit.record(session, project=project, actor=actor, action="endpoint.deploy",
                     target=spec.name, detail=detail)
        # Trust lets the model's author run code in the server: each grant its own entry.
        trusted = {"model": spec.model_name, "versions": versions,
                   "files": list(spec.trusted_files)}
        if spec.trust_pickle:
            audit.record(session, project=project, actor=actor, action="endpoint.trust_pickle",
                         target=spec.name, detail=trusted)
        if spec.trusted_types:
            audit.record(session, project=project, actor=actor, action="endpoint.trust_types",
                         target=spec.name,
                         detail={**trusted, "types": list(spec.trusted_types)})
    return Deployed(row, versions, handles, spec)


def undeploy(db: Database, project: str, name: str, *, actor: str) -> None:
    with db.write() as session:
        row = deployments.get(session, project, name)
        detail = {"model": row.model_name, "ref": row.model_ref}
        deployments.delete(session, project, name, actor=actor)
        audit.record(session, project=project, actor=actor, action="endpoint.delete",
                     target=name, detail=detail)
