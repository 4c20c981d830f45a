"""Explainers: one interface, ``explain(rows) -> Attribution``, chosen per model.

Three kinds, tried in order by ``explainer_for``:

- ``tree-path-dependent``: exact TreeSHAP for scikit-learn tree ensembles (see
  ``_treeshap``); needs no background data.
- ``linear``: exact interventional SHAP for a linear model, ``coef * (x - mean)``, with
  the mean of a background sample (the rows explained when none is given), the value
  ``shap.LinearExplainer`` gives with an independent masker.
- ``sampling``: the model-agnostic fallback for every other model (ONNX files,
  pipelines, anything with a numeric output): Shapley values estimated from random
  feature orderings (Strumbelj and Kononenko, 2014), each ordering paired with its
  reverse, features absent from a coalition taken from a background sample
  (interventional). It is an estimate: it converges to the exact interventional values
  as ``permutations`` grows, and every row's values sum exactly to its output less the
  base value (the mean output over the background), whatever the number of orderings.

Builders are registered in ``EXPLAINERS``; a package adds its own with
``register_explainer`` or the ``triops.explainers`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from triops.core.errors import InvalidInput
from triops.core.registry import Registry
from triops.ml.explain._sklearn_trees import class_index, float32_rows, forest_of
from triops.ml.explain._treeshap import PathForest

#: Background rows the sampling explainer averages over (a random subset beyond that).
SAMPLING_BACKGROUND = 100


@dataclass
class Attribution:
    """Per-row attributions: ``values[r, j]`` is feature ``j``'s share of row ``r``'s
    output; ``base_values[r] + values[r].sum()`` equals the explained output."""

    features: list[str]
    values: np.ndarray
    base_values: np.ndarray
    method: str
    output: str

    def rows(self) -> list[dict[str, float]]:
        return [dict(zip(self.features, map(float, row), strict=True)) for row in self.values]


class Explainer(Protocol):
    method: str
    features: list[str]
    output: str

    def explain(self, x: np.ndarray) -> Attribution: ...



@dataclass
class TreeExplainer:
    forest: PathForest
    features: list[str]
    output: str
    cast32: bool
    method: str = "tree-path-dependent"

    def explain(self, x: np.ndarray) -> Attribution:
        x = np.asarray(x, dtype=np.float64)
        values = self.forest.shap(x)  # float32 comparisons when cast32 (see TreeBuilder)
        return Attribution(self.features, values, np.full(len(x), self.forest.expected),
                           self.method, self.output)


@dataclass
class LinearExplainer:
    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    features: list[str]
    output: str
    method: str = "linear"

    def explain(self, x: np.ndarray) -> Attribution:
        x = np.asarray(x, dtype=np.float64)
        values = (x - self.mean) * self.coef
        base = float(self.coef @ self.mean + self.intercept)
        return Attribution(self.features, values, np.full(len(x), base), self.method,
                           self.output)


@dataclass
class SamplingExplainer:
    """Model-agnostic: ``function`` maps float64 rows to one number per row."""

    function: Callable[[np.ndarray], np.ndarray]
    background: np.ndarray
    features: list[str]
    output: str
    permutations: int = 10
    seed: int = 0
    method: str = "sampling"

    def explain(self, x: np.ndarray) -> Attribution:
        x = np.asarray(x, dtype=np.float64)
        bg = self.background
        n_f = x.shape[1]
        base = float(np.mean(self.function(bg)))
        rng = np.random.default_rng(self.seed)
        orders = []
        for _ in range(max(1, self.permutations // 2)):
            order = rng.permutation(n_f)
            orders += [order, order[::-1]]
        values = np.zeros_like(x)
        for r, row in enumerate(x):
            # One model call per row: every ordering's prefix coalitions, each over the
            # whole background.
            masks = np.zeros((len(orders), n_f + 1, n_f), dtype=bool)
            for o, order in enumerate(orders):
                for step, feature in enumerate(order):
                    masks[o, step + 1:, feature] = True
            hybrid = np.where(masks[:, :, None, :], row, bg[None, None, :, :])
            out = self.function(hybrid.reshape(-1, n_f)).reshape(len(orders), n_f + 1, len(bg))
            curve = out.mean(axis=2)
            for o, order in enumerate(orders):
                values[r, order] += np.diff(curve[o])
            values[r] /= len(orders)
        return Attribution(self.features, values, np.full(len(x), base), self.method,
                           self.output)


@dataclass(frozen=True)
class Model:
    """What an explainer is built from: the loaded object, its feature names, a numeric
    output function when one is known, a background sample, the explained class."""

    native: Any
    features: list[str]
    function: Callable[[np.ndarray], np.ndarray] | None = None
    background: np.ndarray | None = None
    target: Any = None


class ExplainerBuilder(Protocol):
    name: str

    def build(self, model: Model) -> Explainer | None: ...


class TreeBuilder:
    name = "tree-path-dependent"

    def build(self, model: Model) -> Explainer | None:
        found = forest_of(model.native, model.target)
        if found is None:
            return None
        forest, output = found
        cast32 = float32_rows(model.native)
        if cast32:
            forest.use_float32()
        return TreeExplainer(forest, model.features, output, cast32)


class LinearBuilder:
    name = "linear"

    def build(self, model: Model) -> Explainer | None:
        est = model.native
        if not type(est).__module__.startswith("sklearn.linear_model"):
            return None
        coef = np.asarray(getattr(est, "coef_", None), dtype=np.float64)
        intercept = np.atleast_1d(np.asarray(getattr(est, "intercept_", 0.0), dtype=np.float64))
        if coef.ndim == 2 and coef.shape[0] > 1:
            k = class_index(est, model.target)
            coef, intercept = coef[k], intercept[k]
        else:
            coef, intercept = coef.reshape(-1), intercept[0]
        if model.background is None:
            return None
        classifier = hasattr(est, "classes_")
        output = "raw score (log-odds)" if classifier else "prediction"
        return LinearExplainer(coef, float(intercept),
                               np.asarray(model.background, dtype=np.float64).mean(axis=0),
                               model.features, output)


class SamplingBuilder:
    name = "sampling"

    def build(self, model: Model) -> Explainer | None:
        if model.function is None or model.background is None:
            return None
        bg = np.asarray(model.background, np.float64)
        if len(bg) > SAMPLING_BACKGROUND:  # its cost grows with the background's size
            bg = bg[np.random.default_rng(0).permutation(len(bg))[:SAMPLING_BACKGROUND]]
        return SamplingExplainer(model.function, bg, model.features, "model output")


EXPLAINERS: Registry[ExplainerBuilder] = Registry(
    "explainer", group="triops.explainers", plugin=lambda cls: cls())
for _builder in (TreeBuilder(), LinearBuilder(), SamplingBuilder()):
    EXPLAINERS.register(_builder)
register_explainer = EXPLAINERS.register


def explainer_for(model: Model, method: str | None = None) -> Explainer:
    """The first explainer that takes ``model`` (exact ones first), or the one named."""
    builders = [EXPLAINERS.get(method)] if method else \
        [b for n, b in EXPLAINERS.items() if n not in ("sampling",)] + [EXPLAINERS.get("sampling")]
    for builder in builders:
        built = builder.build(model)
        if built is not None:
            return built
    raise InvalidInput(
        f"cannot explain a {type(model.native).__name__}: "
        + ("it has no numeric output to attribute" if model.function is None
           else "a background sample is needed for it"))
