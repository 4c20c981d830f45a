"""The revision graph before the migrations became one line, for databases stamped by it.

Releases up to revision 0009 branched each pillar's migrations off ``0001_foundation``, and
``alembic_version`` held one row per branch head. The revisions kept their ids in the
linear chain except ``0006_ml_datasets``, now ``0014_ml_datasets``. A database stamped by
the branched graph is recognised by several rows or by that old id; ``applied`` tells which
revisions of the linear chain it already has, so the upgrade can restamp it.
"""

from __future__ import annotations

from collections.abc import Iterable

from triops.core.errors import ConfigError

_PARENTS: dict[str, str | None] = {
    "0001_foundation": None,
    "0002_ml": "0001_foundation",
    "0003_llm_gateway": "0001_foundation",
    "0004_llm_traces": "0001_foundation",
    "0005_ops": "0001_foundation",
    "0006_deployments": "0001_foundation",
    "0006_ml_datasets": "0001_foundation",
    "0007_monitoring": "0001_foundation",
    "0008_prompts": "0001_foundation",
    "0009_guardrails": "0001_foundation",
}
_RENAMED = {"0006_ml_datasets": "0014_ml_datasets"}


def is_branched(stamped: Iterable[str]) -> bool:
    """Whether ``alembic_version`` rows were written by the branched graph."""
    rows = set(stamped)
    return len(rows) > 1 or bool(rows & _RENAMED.keys())


def applied(stamped: Iterable[str]) -> set[str]:
    """Linear-chain ids of every revision a branched-graph stamp says has run."""
    unknown = set(stamped) - _PARENTS.keys()
    if unknown:
        raise ConfigError(f"the database is stamped with revisions this triops does not know: "
                          f"{sorted(unknown)}; upgrade it with the triops release that made it")
    done: set[str] = set()
    for head in stamped:
        revision: str | None = head
        while revision is not None and revision not in done:
            done.add(revision)
            revision = _PARENTS[revision]
    return {_RENAMED.get(revision, revision) for revision in done}
