"""``triops deploy``: deploy a registered model as a named serving endpoint.

Asks the server (``--server`` / ``TRIOPS_URL``, a key from ``--api-key``,
``TRIOPS_API_KEY`` or ``triops login``), which serves the new endpoint at once; with
``--store``/``--home`` it works offline on that store, and a running server serves the new
or changed endpoint within a second.

    triops deploy churn --model churn@champion
    triops deploy churn --model churn@champion --canary @challenger=10 --replace
    triops deploy churn --model churn/3 --shadow @challenger --replace
    triops deploy                     # list endpoints
    triops deploy churn --delete
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from triops.cli.common import (
    ArtifactsOpt,
    OfflineHomeOpt,
    OfflineStoreOpt,
    ServerProjectOpt,
    console,
)
from triops.cli.remote import KeyOpt, ProfileOpt, ServerOpt
from triops.cli.target import Target
from triops.core.errors import InvalidInput
from triops.ml import EndpointSpec
from triops.ml import deployment_store as deployments


def _canary(text: str) -> dict[str, Any]:
    ref, sep, percent = text.partition("=")
    if not sep:
        raise InvalidInput(f"--canary '{text}' must be REF=PERCENT, e.g. @challenger=10")
    try:
        value = float(percent)
    except ValueError:
        raise InvalidInput(f"--canary percent '{percent}' is not a number") from None
    return {"ref": ref, "percent": value}


def deploy(
    name: Annotated[str | None, typer.Argument(help="Endpoint name; omit to list")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", help="NAME@ALIAS or NAME/VERSION, e.g. churn@champion")] = None,
    canary: Annotated[str | None, typer.Option(
        help="Send PERCENT of requests to REF: REF=PERCENT, e.g. @challenger=10")] = None,
    shadow: Annotated[str | None, typer.Option(
        help="Mirror every request to REF (@alias or version); never returned")] = None,
    max_batch_size: Annotated[int, typer.Option(help="Rows per model call at most")] = 32,
    max_wait_ms: Annotated[float, typer.Option(
        help="How long a batch may wait for more rows under concurrent load")] = 2.0,
    log_sample_rate: Annotated[float, typer.Option(
        help="Share of requests written to the prediction log (0..1)")] = 1.0,
    trust_pickle: Annotated[bool, typer.Option(
        "--trust-pickle", help="Load pickle-serialized models (runs their code); trust is "
                               "bound to the files' SHA-256 and audited")] = False,
    trust_type: Annotated[list[str], typer.Option(
        "--trust-type", help="Also load this skops type (repeatable); bound to the files' "
                             "SHA-256 and audited")] = [],  # noqa: B006
    replace: Annotated[bool, typer.Option("--replace", help="Change an existing endpoint")] = False,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the endpoint")] = False,
    project: ServerProjectOpt = None, server: ServerOpt = None, api_key: KeyOpt = None,
    profile: ProfileOpt = "default", store: OfflineStoreOpt = None, home: OfflineHomeOpt = None,
    artifacts: ArtifactsOpt = None,
) -> None:
    """Deploy a registered model as a serving endpoint (list them without a NAME)."""
    # The serving package loads numpy: only with the verbs that deploy or list.
    from triops.ml.serving import traffic

    if name is not None and not delete and not model:
        raise InvalidInput("--model NAME@ALIAS or NAME/VERSION is required to deploy")
    with Target(server, api_key, profile, project, store, home, artifacts) as where:
        if name is None:
            _list(where)
        elif delete:
            if where.is_offline:
                from triops.ml.serving.deploy import undeploy

                undeploy(where.db, where.project, name, actor="cli")
            else:
                where.api("DELETE", f"/api/v1/endpoints/{name}")
            console.print(f"deleted endpoint {name}")
        else:
            assert model is not None
            model_name, ref = traffic.parse_model(model)
            body: dict[str, Any] = {
                "name": name, "model": model, "max_batch_size": max_batch_size,
                "max_wait_ms": max_wait_ms, "log_sample_rate": log_sample_rate,
                "trust_pickle": trust_pickle, "trusted_types": list(trust_type),
                "replace": replace}
            if canary:
                body["canary"] = _canary(canary)
            if shadow:
                body["shadow"] = {"ref": shadow}
            if where.is_offline:
                spec = EndpointSpec(
                    name=name, model_name=model_name, model_ref=ref,
                    policy={k: body[k] for k in ("canary", "shadow") if k in body},
                    max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                    log_sample_rate=log_sample_rate, trust_pickle=trust_pickle,
                    trusted_types=tuple(trust_type))
                # Imported here, as above: loading models needs pandas and friends, which
                # the remote verbs and ``--help`` do not.
                from triops.ml.serving.deploy import deploy as deploy_endpoint
                from triops.store.artifacts import ArtifactStore

                versions = deploy_endpoint(
                    where.db, ArtifactStore(where.settings.artifacts_location), where.project,
                    spec, actor="cli", replace=replace).versions
            else:
                versions = where.api("POST", "/api/v1/endpoints", json=body)["versions"]
            serving = ", ".join(f"{role} v{v}" for role, v in versions.items())
            console.print(f"deployed endpoint {name}: {model_name} {ref} ({serving})")


def _trusted(row: dict[str, Any]) -> str:
    granted = (["pickle"] if row["trust_pickle"] else []) + list(row["trusted_types"] or [])
    return ", ".join(granted) or "no"


def _list(where: Target) -> None:
    from triops.ml.serving import traffic

    if where.is_offline:
        with where.db.read() as session:
            rows = [{"name": r.name, "model": r.model_name, "model_ref": r.model_ref,
                     "policy": r.policy or {}, "max_batch_size": r.max_batch_size,
                     "max_wait_ms": r.max_wait_ms, "log_sample_rate": r.log_sample_rate,
                     "trust_pickle": r.trust_pickle, "trusted_types": r.trusted_types}
                    for r in deployments.list_all(session, where.project)]
    else:
        rows = where.api("GET", "/api/v1/endpoints")
    table = Table("name", "model", "ref", "policy", "batch", "wait ms", "log rate", "trusted")
    for row in rows:
        policy = traffic.parse_policy(row["policy"])
        parts = []
        if policy.canary_ref:
            parts.append(f"canary {policy.canary_ref} {policy.canary_percent:g}%")
        if policy.shadow_ref:
            parts.append(f"shadow {policy.shadow_ref}")
        table.add_row(row["name"], row["model"], row["model_ref"], ", ".join(parts) or "-",
                      str(row["max_batch_size"]), f"{row['max_wait_ms']:g}",
                      f"{row['log_sample_rate']:g}", _trusted(row))
    console.print(table)
