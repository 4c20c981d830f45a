"""Imports every schema module so that ``Base.metadata`` knows every table.

Each domain's tables live in ``schema_<domain>.py``; add its import here.
"""

from triops.store import (
    schema,  # noqa: F401
    schema_annotations,  # noqa: F401
    schema_capacity,  # noqa: F401
    schema_deployments,  # noqa: F401
    schema_fine_tuning,  # noqa: F401
    schema_guardrails,  # noqa: F401
    schema_llm_files,  # noqa: F401
    schema_llm_gateway,  # noqa: F401
    schema_llm_traces,  # noqa: F401
    schema_ml,  # noqa: F401
    schema_ml_datasets,  # noqa: F401
    schema_monitoring,  # noqa: F401
    schema_notifications,  # noqa: F401
    schema_ops,  # noqa: F401
    schema_prompts,  # noqa: F401
    schema_rag,  # noqa: F401
    schema_retention,  # noqa: F401
    schema_runbooks,  # noqa: F401
    schema_topology,  # noqa: F401
)
