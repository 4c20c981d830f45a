"""Model serving: deployments, loaders, micro-batching, traffic policies, prediction log.

The public face of serving; the API, the CLI and the monitors import from here.
"""

from triops.ml.serving.predictions import (
    LABEL_KIND,
    PREDICTION_KIND,
    PredictionRecord,
    ShadowResult,
    append_labels,
    predictions_window,
)

__all__ = [
    "LABEL_KIND", "PREDICTION_KIND", "PredictionRecord", "ShadowResult", "append_labels",
    "predictions_window",
]
