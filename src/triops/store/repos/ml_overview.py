"""Counts the ML pages show: runs per experiment, versions per registered model."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from triops.store.repos.experiments import ACTIVE
from triops.store.schema_ml import ModelVersion, Run


def run_counts(session: Session, project: str) -> dict[str, int]:
    query = (select(Run.experiment_id, func.count()).where(
        Run.project == project, Run.lifecycle_stage == ACTIVE).group_by(Run.experiment_id))
    return {exp: n for exp, n in session.execute(query)}


def version_counts(session: Session, model_ids: Sequence[int]) -> dict[int, int]:
    if not model_ids:
        return {}
    query = (select(ModelVersion.registered_model_id, func.count())
             .where(ModelVersion.registered_model_id.in_(list(model_ids)))
             .group_by(ModelVersion.registered_model_id))
    return {m: n for m, n in session.execute(query)}
