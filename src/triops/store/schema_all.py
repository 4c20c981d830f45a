"""Imports every schema module so that ``Base.metadata`` knows every table.

Each domain's tables live in ``schema_<domain>.py``; add its import here.
"""

from triops.store import schema  # noqa: F401
from triops.store import schema_llm_traces  # noqa: F401
from triops.store import schema_llm_gateway  # noqa: F401
from triops.store import schema_ml  # noqa: F401
from triops.store import schema_ml_datasets  # noqa: F401
from triops.store import schema_ops  # noqa: F401
from triops.store import schema_monitoring  # noqa: F401
from triops.store import schema_deployments  # noqa: F401
from triops.store import schema_prompts  # noqa: F401
from triops.store import schema_guardrails  # noqa: F401
from triops.store import schema_runbooks  # noqa: F401
