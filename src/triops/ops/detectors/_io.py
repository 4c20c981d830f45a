"""Score a whole series or a CSV file with a registered detector."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from triops.core.errors import InvalidInput
from triops.ops.detectors._base import DETECTORS, get_detector
from triops.ops.detectors._default import DEFAULT_DETECTOR


@dataclass
class DetectReport:
    """What ``detect_csv`` did: rows written and the rows it could not use."""

    rows: int
    bad_timestamps: int
    bad_values: int
    out_of_order: int
    threshold: float


def score_series(
    timestamps: Iterable[float],
    values: Iterable[float],
    detector: str = DEFAULT_DETECTOR,
    **params: Any,
) -> list[float]:
    """Anomaly scores in ``[0, 1]`` for a series, one per point, in order (``params``
    go to the detector, e.g. a range and probation known in advance).

    >>> scores = score_series(range(0, 3000, 60), [1.0] * 49 + [50.0], "seasonal_zscore")
    >>> len(scores), all(0.0 <= s <= 1.0 for s in scores)
    (50, True)
    """
    return get_detector(detector, **params).update_many(list(timestamps), list(values))


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch from a number or an ISO-8601 date-time (UTC if naive)."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if not math.isfinite(value):
        raise ValueError(text)
    return value


@dataclass(frozen=True)
class KnownInAdvance:
    """What a benchmark harness such as NAB's tells a detector before the first row:
    the series' minimum and maximum and how many leading rows go unscored. Live
    telemetry has none of it and is scored strictly streaming."""

    value_min: float | None = None
    value_max: float | None = None
    probation: int = 0

    def params(self) -> dict:
        if (self.value_min is None) != (self.value_max is None):
            raise InvalidInput("give both the input minimum and the input maximum, or neither")
        if self.value_min is not None and not (
            math.isfinite(self.value_min)
            and math.isfinite(self.value_max)
            and self.value_min <= self.value_max
        ):
            raise InvalidInput("the input minimum must be finite and not above the maximum")
        if self.probation < 0:
            raise InvalidInput("the probation must be a number of rows, 0 or more")
        out: dict = {"probation": self.probation} if self.probation else {}
        if self.value_min is not None:
            out.update(value_min=self.value_min, value_max=self.value_max)
        return out


def detect_csv(
    input_path: str | Path,
    output_path: str | Path,
    detector: str = DEFAULT_DETECTOR,
    known: KnownInAdvance | None = None,
) -> DetectReport:
    """Read ``timestamp,value`` rows, write ``timestamp,value,anomaly_score,is_anomaly``.

    One output row per input row, in input order. Defined behaviour for bad rows:
    a value that is empty, text or not finite keeps its row with score 0 and
    ``is_anomaly`` false, and the detector skips it; so does a row whose timestamp
    cannot be parsed. Rows are never reordered: a timestamp earlier than or equal to
    the previous one is processed where it stands (and counted in ``out_of_order``).
    ``is_anomaly`` is ``anomaly_score >= threshold`` with the detector's threshold.
    ``known`` passes a benchmark's range and probation to the detector.
    Raises :class:`InvalidInput` for a missing or empty file or missing columns.
    """
    cls = DETECTORS.get(detector)
    params = (known or KnownInAdvance()).params()
    try:
        d = cls(**params)
    except TypeError:
        raise InvalidInput(
            f"detector {detector!r} does not take the input range or probation"
        ) from None
    path = Path(input_path)
    if not path.is_file():
        raise InvalidInput(f"input file {str(path)!r} does not exist")
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"cannot read {str(path)!r}: {exc.strerror}") from None
    try:
        with handle:
            return _detect_rows(csv.reader(handle), path, output_path, d)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"{str(path)!r} is not a readable UTF-8 CSV file: {exc}") from None


def _detect_rows(reader, path: Path, output_path, d) -> DetectReport:
    """Write one output row per input row; see :func:`detect_csv`."""
    header = next(reader, None)
    if header is None:
        raise InvalidInput(f"{str(path)!r} is empty; expected a header 'timestamp,value'")
    names = [h.strip().lower() for h in header]
    missing = [c for c in ("timestamp", "value") if c not in names]
    if missing:
        raise InvalidInput(
            f"{str(path)!r} lacks column(s) {', '.join(missing)}; "
            f"expected a header 'timestamp,value', found {','.join(header)!r}"
        )
    ti, vi = names.index("timestamp"), names.index("value")
    report = DetectReport(0, 0, 0, 0, d.threshold)
    # Rows are read first and scored in one ``update_many`` call: the same scores as
    # one ``update`` a row, each from its row and the rows before it.
    texts: list[tuple[str, str]] = []
    stamps: list[float] = []
    values: list[float] = []
    previous = None
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        raw_t = row[ti] if ti < len(row) else ""
        raw_v = row[vi] if vi < len(row) else ""
        texts.append((raw_t, raw_v))
        try:
            t = parse_timestamp(raw_t)
        except (ValueError, OverflowError):
            t = math.nan
            report.bad_timestamps += 1
        try:
            v = float(raw_v)
            if not math.isfinite(v):
                raise ValueError(raw_v)
        except ValueError:
            v = math.nan
            report.bad_values += 1
        if not (math.isnan(t) or math.isnan(v)):
            if previous is not None and t <= previous:
                report.out_of_order += 1
            previous = t
        stamps.append(t)
        values.append(v)
    report.rows = len(texts)
    scores = d.update_many(stamps, values)  # a row with a NaN is skipped, score 0
    out = Path(output_path)
    try:
        sink = out.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write {str(out)!r}: {exc.strerror}") from None
    with sink:
        writer = csv.writer(sink)
        writer.writerow(["timestamp", "value", "anomaly_score", "is_anomaly"])
        writer.writerows(
            [raw_t, raw_v, f"{score:.6f}", "true" if score >= d.threshold else "false"]
            for (raw_t, raw_v), score in zip(texts, scores, strict=True)
        )
    return report
