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
    """Offsets below/above the forecast, split-conformal style: the
    ``ceil((n + 1) * level) / n`` quantile of the ``n`` absolute held-out errors (a
    band that covers ``level`` of new errors drawn like them), widened with the square
    root of the step beyond the validated horizon."""
    if residuals.size >= 10:
        size = np.abs(residuals)
        rank = min(1.0, np.ceil((size.size + 1) * level) / size.size)
        width = float(np.quantile(size, rank))
    else:
        width = fallback
    grow = np.sqrt(np.maximum(np.arange(1, h + 1) / max(hv, 1), 1.0))
    return -width * grow, width * grow


def _held_out_residuals(preds: dict[str, list[np.ndarray]], truth: list[np.ndarray],
                        window_errors: dict[str, list[float]], top: int) -> np.ndarray:
    """Errors of the whole procedure on each validation tail, the models chosen on the
    *other* tails. The chosen models' own errors on the tails that chose them are
    optimistic (the best of many candidates there), and intervals built on them cover
    too little; with a single tail there is nothing else to choose on."""
    out = []
    for i, t in enumerate(truth):
        others = [j for j in range(len(truth)) if j != i] or [i]
        score = {m: float(np.mean([e[j] for j in others])) for m, e in window_errors.items()}
        names = sorted(score, key=score.__getitem__)[:top]
        out.append(t - np.mean([preds[m][i] for m in names], axis=0))
    return np.concatenate(out)


def forecast(values: np.ndarray, horizon: int, *, periods: tuple[int, ...] | None = None,
             candidate_periods: tuple[int, ...] = DEFAULT_CANDIDATES,
             settings: Settings | None = None) -> Forecast:
    """Forecast ``horizon`` steps past ``values`` with an interval.

    Every candidate is refitted on the series cut at ``settings.windows`` origins and
    scored (mean absolute error) on the tail it did not see; the best ``settings.top``
    are averaged and refitted on the whole series. The interval is conformal: it comes
    from the errors the procedure made on each tail with its models chosen on the other
    tails (see :func:`_held_out_residuals` and :func:`_interval`).
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
    window_errors = {name: [float(np.mean(np.abs(p - t))) for p, t in zip(ps, truth, strict=True)]
                     for name, ps in preds.items()}
    errors = {name: float(np.mean(e)) for name, e in window_errors.items()}
    names = tuple(sorted(errors, key=errors.__getitem__)[: settings.top])
    residuals = _held_out_residuals(preds, truth, window_errors, settings.top)
    mean = np.mean([_safe(pool[m], x, horizon, periods) for m in names], axis=0)
    lo, hi = _interval(residuals, horizon, hv, settings.level, 1.645 * step_sd)
    return Forecast(mean, mean + lo, mean + hi, periods, names, errors)
