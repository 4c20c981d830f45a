"""Fine-tuning jobs as tracked runs, trained by a provider (an upstream that offers
OpenAI's fine-tuning API, or a registered triops pipeline), ending in a registered model
version."""

from triops.ml.fine_tuning._jobs import (
    TERMINAL,
    cancel,
    create,
    event_dict,
    events,
    get,
    job_dict,
    listing,
    sync,
)
from triops.ml.fine_tuning._pipeline import PREFIX as PIPELINE_PREFIX
from triops.ml.fine_tuning._pipeline import UPSTREAM as PIPELINE_UPSTREAM
from triops.ml.fine_tuning._pipeline import PipelineFineTuning
from triops.ml.fine_tuning._providers import (
    PROVIDERS,
    FineTuningProvider,
    OpenAIFineTuning,
    UpstreamSpec,
    provider_for,
)

__all__ = [
    "PIPELINE_PREFIX", "PIPELINE_UPSTREAM", "PROVIDERS", "TERMINAL", "FineTuningProvider",
    "OpenAIFineTuning", "PipelineFineTuning", "UpstreamSpec",
    "cancel", "create", "event_dict", "events", "get", "job_dict", "listing", "provider_for",
    "sync",
]
