"""Explanations: per-prediction feature attributions (exact SHAP values for tree
ensembles and linear models, a sampling estimate for any other model).

The public face of explainability; serving, the API and the CLI import from here.
"""

from triops.ml.explain._explainers import (
    EXPLAINERS,
    Attribution,
    Explainer,
    Model,
    register_explainer,
)
from triops.ml.explain._models import build_explainer, explain_frame, feature_names, matrix

__all__ = [
    "EXPLAINERS", "Attribution", "Explainer", "Model", "build_explainer", "explain_frame",
    "feature_names", "matrix", "register_explainer",
]
