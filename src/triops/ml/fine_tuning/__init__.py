"""Fine-tuning jobs as tracked runs, trained by a provider (an upstream that offers
OpenAI's fine-tuning API), ending in a registered model version."""

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
from triops.ml.fine_tuning._providers import (
    PROVIDERS,
    FineTuningProvider,
    OpenAIFineTuning,
    UpstreamSpec,
    provider_for,
)

__all__ = [
    "PROVIDERS", "TERMINAL", "FineTuningProvider", "OpenAIFineTuning", "UpstreamSpec",
    "cancel", "create", "event_dict", "events", "get", "job_dict", "listing", "provider_for",
    "sync",
]
