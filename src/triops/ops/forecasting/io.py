"""The long-format CSV contract: ``series,t,value`` in, ``series,t,forecast,lo,hi`` out."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from triops.core.errors import InvalidInput
from triops.ops.forecasting.engine import Forecast, Settings, forecast
from triops.ops.forecasting.seasonality import candidates_for_step

#: The shortest history a series may have.
MIN_POINTS = 3
#: Fewer series than this are forecast in this process: starting workers costs more.
PARALLEL_FROM = 16
REQUIRED = ("series", "t", "value")


@dataclass
class History:
    """One series of the input, sorted by ``t``."""

    name: str
    steps: list[int] | None  # integer ``t``
    times: list[datetime] | None  # timestamp ``t``
    values: np.ndarray
    separator: str = "T"

    def step_seconds(self) -> float | None:
        if self.times is None:
            return None
        return float(np.median(np.diff([t.timestamp() for t in self.times])))

    def future_t(self, h: int) -> list[str]:
        """``h`` labels continuing ``t`` at the series' median step."""
        if self.steps is not None:
            step = max(1, round(float(np.median(np.diff(self.steps))))) if len(self.steps) > 1 else 1
            return [str(self.steps[-1] + step * k) for k in range(1, h + 1)]
        assert self.times is not None
        step = timedelta(seconds=self.step_seconds() or 0)
        if step <= timedelta(0):
            raise InvalidInput(f"series {self.name!r}: its timestamps do not advance")
        return [(self.times[-1] + step * k).isoformat(sep=self.separator) for k in range(1, h + 1)]


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def _series(name: str, rows: list[tuple[str, float, int]]) -> History:
    if len(rows) < MIN_POINTS:
        raise InvalidInput(f"series {name!r} has {len(rows)} point(s); at least {MIN_POINTS} "
                           "are needed to forecast")
    try:
        steps = sorted((int(t), v) for t, v, _ in rows)
    except ValueError:
        steps = None
    if steps is not None:
        return History(name, [t for t, _ in steps], None, np.array([v for _, v in steps]))
    parsed = []
    for t, v, line in rows:
        try:
            parsed.append((_parse_time(t), v))
        except ValueError:
            raise InvalidInput(f"line {line}: t {t!r} is neither an integer step nor an ISO "
                               "timestamp") from None
    try:
        parsed.sort(key=lambda r: r[0])
    except TypeError:
        raise InvalidInput(f"series {name!r} mixes timestamps with and without a time zone") from None
    sep = " " if " " in rows[0][0].strip() else "T"
    return History(name, None, [t for t, _ in parsed], np.array([v for _, v in parsed]), sep)


def read_history(path: Path) -> list[History]:
    """The series of a long-format CSV, in order of first appearance."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    groups: dict[str, list[tuple[str, float, int]]] = {}
    with handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader, [])]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise InvalidInput(f"{path} needs a header with columns series,t,value "
                                   f"(missing: {', '.join(missing)})")
            si, ti, vi = (header.index(c) for c in REQUIRED)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    value = float(row[vi])
                except (ValueError, IndexError):
                    raise InvalidInput(f"line {line}: value {row[vi] if vi < len(row) else ''!r} "
                                       "is not a number") from None
                if not math.isfinite(value):
                    raise InvalidInput(f"line {line}: value {row[vi]!r} is not a finite number")
                groups.setdefault(row[si], []).append((row[ti], value, line))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InvalidInput(f"{path} is not a readable UTF-8 CSV file: {exc}") from None
    if not groups:
        raise InvalidInput(f"{path} has no data rows")
    return [_series(name, rows) for name, rows in groups.items()]


def _forecast_one(job: tuple[np.ndarray, int, Settings | None, float | None]) -> Forecast:
    values, horizon, settings, step = job
    return forecast(values, horizon, settings=settings, candidate_periods=candidates_for_step(step))


def _forecasts(histories: list[History], horizon: int, settings: Settings | None,
               workers: int | None) -> Iterator[Forecast]:
    """Each history's forecast, in order. Series are independent, so many of them are
    spread over a process pool (one worker per usable core unless ``workers`` is given);
    every worker runs the same code on the same values, so the forecasts are the same."""
    jobs = [(h.values, horizon, settings, h.step_seconds()) for h in histories]
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(workers, len(jobs))
    if workers < 2 or len(jobs) < PARALLEL_FROM:
        yield from map(_forecast_one, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_forecast_one, jobs, chunksize=max(1, len(jobs) // (4 * workers)))


def forecast_csv(input: Path, output: Path, horizon: int, settings: Settings | None = None,
                 on_series: Callable[[History, Forecast], None] | None = None,
                 workers: int | None = None) -> int:
    """Forecast every series of ``input`` into ``output``; returns the number of series.
    ``workers`` processes share the series (default: one per usable core; 1 keeps
    everything in this process)."""
    if horizon < 1:
        raise InvalidInput(f"--horizon must be at least 1 (got {horizon})")
    histories = read_history(input)
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["series", "t", "forecast", "lo", "hi"])
        for hist, result in zip(histories, _forecasts(histories, horizon, settings, workers),
                                strict=True):
            for t, f, lo, hi in zip(hist.future_t(horizon), result.mean, result.lo, result.hi,
                                    strict=True):
                writer.writerow([hist.name, t, f"{f:.6g}", f"{lo:.6g}", f"{hi:.6g}"])
            if on_series:
                on_series(hist, result)
    return len(histories)
