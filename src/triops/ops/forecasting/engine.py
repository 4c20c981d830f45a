"""Per-series model choice by validation on the series' own held-out tails."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triops.ops.forecasting.models import Model, candidates, naive
from triops.ops.forecasting.seasonality import DEFAULT_CANDIDATES, detect_periods


@dataclass(frozen=True)
class Settings:
    """How a series' model is chosen. The defaults were picked by k-fold cross-validation
    over whole M4 hourly series (``python bench/forecast.py --cv``)."""

    #: Held-out tails (rolling origins, one horizon apart) each candidate is scored on.
    windows: int = 3
    #: The forecast is the mean of the ``top`` candidates with the lowest validation error.
    top: int = 1
    #: Central coverage of the prediction interval.
    level: float = 0.9
    #: Candidate model names (all of ``models.candidates()`` when empty).
    models: tuple[str, ...] = ()


@dataclass
class Forecast:
    """Point forecast and interval for the next ``len(mean)`` steps."""

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    periods: tuple[int, ...]
    chosen: tuple[str, ...]
    errors: dict[str, float] = field(default_factory=dict)


def _pool(settings: Settings) -> dict[str, Model]:
    pool = candidates()
    if settings.models:
        unknown = set(settings.models) - set(pool)
        if unknown:
            raise ValueError(f"unknown forecasting model(s): {', '.join(sorted(unknown))}")
        pool = {name: pool[name] for name in settings.models}
    return pool


def _safe(model: Model, x: np.ndarray, h: int, periods: tuple[int, ...]) -> np.ndarray:
    """A model's forecast, or the naive one where it fails or returns non-finite values."""
    try:
        out = np.asarray(model(x, h, periods), dtype=float)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError):
        return naive(x, h, periods)
    return out if out.shape == (h,) and np.all(np.isfinite(out)) else naive(x, h, periods)


def _interval(residuals: np.ndarray, h: int, hv: int, level: float,
              fallback: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets below/above the forecast: empirical quantiles of validation errors,
    widened with the square root of the step beyond the validated horizon."""
    tail = (1 - level) / 2
    if residuals.size >= 10:
        lo, hi = np.quantile(residuals, [tail, 1 - tail])
    else:
        lo, hi = -fallback, fallback
    grow = np.sqrt(np.maximum(np.arange(1, h + 1) / max(hv, 1), 1.0))
    return lo * grow, hi * grow


def forecast(values: np.ndarray, horizon: int, *, periods: tuple[int, ...] | None = None,
             candidate_periods: tuple[int, ...] = DEFAULT_CANDIDATES,
             settings: Settings | None = None) -> Forecast:
    """Forecast ``horizon`` steps past ``values`` with an interval.

    Every candidate is refitted on the series cut at ``settings.windows`` origins and
    scored (mean absolute error) on the tail it did not see; the best ``settings.top``
    are averaged and refitted on the whole series. The interval comes from the errors
    the same average made on those tails.
    """
    settings = settings or Settings()
    x = np.asarray(values, dtype=float)
    n = len(x)
    if periods is None:
        periods = detect_periods(x, candidate_periods)
    pool = _pool(settings)
    step_sd = float(np.std(np.diff(x))) if n > 2 else float(abs(x[-1]) * 0.1 + 1.0)

    hv = min(horizon, max(1, n // (2 * settings.windows + 1)))
    origins = [n - hv * (w + 1) for w in range(settings.windows)]
    origins = [o for o in origins if o >= max(3, 2 * min(periods, default=1))]
    if not origins or len(pool) == 1:
        names = tuple(pool)[: settings.top]
        mean = np.mean([_safe(pool[m], x, horizon, periods) for m in names], axis=0)
        lo, hi = _interval(np.empty(0), horizon, 1, settings.level, 1.645 * step_sd)
        return Forecast(mean, mean + lo, mean + hi, periods, names)

    preds = {name: [_safe(model, x[:o], hv, periods) for o in origins]
             for name, model in pool.items()}
    truth = [x[o:o + hv] for o in origins]
    errors = {name: float(np.mean([np.mean(np.abs(p - t)) for p, t in zip(ps, truth, strict=True)]))
              for name, ps in preds.items()}
    names = tuple(sorted(errors, key=errors.__getitem__)[: settings.top])
    residuals = np.concatenate([
        t - np.mean([preds[m][i] for m in names], axis=0) for i, t in enumerate(truth)])
    mean = np.mean([_safe(pool[m], x, horizon, periods) for m in names], axis=0)
    lo, hi = _interval(residuals, horizon, hv, settings.level, 1.645 * step_sd)
    return Forecast(mean, mean + lo, mean + hi, periods, names, errors)
