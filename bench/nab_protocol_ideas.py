"""Ways to use what NAB's harness gives (the range, the probation), scored held out.

Usage: cd bench && python nab_protocol_ideas.py [--data /work/shared/datasets/nab] [--breakdown]

``--breakdown`` prints only where the shipped ensemble and the published ARTime
differ: per folder, the normalised score at each one's corpus threshold, and the
windows detected, missed and the false alarms.

Protocol mode tells a detector the file's minimum and maximum and its probation
``min(floor(0.15 * rows), 750)``. The shipped ensemble reads only the probation (no
alarm there). Each idea below adds a use of the range or the probation to the
ensemble's score, before its alarm gate; every score still uses only the points up to
its own, plus the three given numbers. Printed: in-sample NAB standard score, then
held-out (each of NAB's folders at the threshold chosen without it) pooled and as the
folder mean, then the nested figure over all rows (the idea *and* its setting chosen
on the other folders; ``nab_cv.py`` explains the two ways of choosing).

* ``range excess``: how far a value passes the largest (or smallest) value seen so
  far, as a fraction ``f`` of the given range, weight ``w``;
* ``absolute discord``: the ensemble's score times ``pattern_discord``'s raw distance
  over the given range (per value of the window) relative to ``d0``: a change that is
  small against the file's range counts less;
* ``soft absolute discord + range excess``: the two above together, the score times
  ``a + (1 - a) * min(1, distance / d0)`` plus ``w`` times the range excess at
  ``f = 0.05``: a second look after the per-folder results of the first two (the
  absolute discord helped ``realTweets`` and hurt ``realKnownCause``, the range excess
  helped ``realAdExchange``), so its own nested figure, printed last, is optimistic by
  that look;
* ``probation level``: the alarm bar raised to ``c`` times the ``q`` quantile of the
  scores seen in the probation, when that is above the shipped bar;
* ``coarse discord``: a third member, ``pattern_discord`` on means of ``step``
  points, with its own likelihood;
* ``nearest block window``: an ARTime-like novelty: the last 8 means of blocks of
  ``probation / (8 * per)`` points, scaled by the given range, against every earlier
  such window (nearest by the largest difference), relative to the largest such
  distance seen in the probation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from nab import DEFAULT_DATA, epoch_seconds, known_in_advance
from nab_cv import folder, held_out, nested
from numpy.lib.stride_tricks import sliding_window_view

from triops.ops.detectors import DETECTORS, Ensemble
from triops.ops.detectors._ensemble import AGREEMENT
from triops.ops.detectors._parts import AlarmGate, AnomalyLikelihood
from triops.ops.evaluation.nab import NabSeries, load_corpus, load_published_scores, score_corpus

MODE = "protocol"


def likelihoods(corpus: list[NabSeries], member: str) -> dict[str, np.ndarray]:
    """One member's likelihood per row, as inside the ensemble (its own gate open)."""
    out = {}
    for s in corpus:
        known = known_in_advance(s, MODE).params()
        known.pop("probation", None)
        d = DETECTORS.get(member)(**known, alarm=2.0, refractory=0, hold=0)
        out[s.name] = np.array(d._alarm_many(d._likely_many(
            np.asarray(epoch_seconds(s)), s.values.astype(float))))
    return out


def gated(corpus: list[NabSeries], combined: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ensemble's gate with its shipped settings: quiet in the probation."""
    shipped = Ensemble()
    out = {}
    for s in corpus:
        quiet = known_in_advance(s, MODE).probation
        g = shipped.gate
        gate = AlarmGate(level=g.level, refractory=g.refractory, hold=g.hold, penalty=g.penalty)
        c = np.clip(combined[s.name], 0.0, None)
        out[s.name] = np.r_[np.zeros(quiet), gate.update_many(c[quiet:].tolist())]
    return out


def range_excess(s: NabSeries) -> np.ndarray:
    x = s.values.astype(float)
    span = max(float(np.ptp(x)), 1e-12)  # the given range
    hi = np.r_[x[0], np.maximum.accumulate(x)[:-1]]
    lo = np.r_[x[0], np.minimum.accumulate(x)[:-1]]
    return np.maximum(0.0, np.maximum(x - hi, lo - x)) / span


def absolute_discord(s: NabSeries, length: int = 8) -> np.ndarray:
    raw = DETECTORS.get("pattern_discord")(length=length)._raw_many(
        np.asarray(epoch_seconds(s)), s.values.astype(float))
    return np.array([0.0 if r is None else r for r in raw]) / max(float(np.ptp(s.values)), 1e-12) / np.sqrt(length)


def coarse_discord(s: NabSeries, step: int) -> np.ndarray:
    x = s.values.astype(float)
    blocks = len(x) // step
    means = x[: blocks * step].reshape(blocks, step).mean(axis=1)
    raw = DETECTORS.get("pattern_discord")()._raw_many(np.arange(blocks, dtype=float), means)
    likely = AnomalyLikelihood(short=8, long=500, warmup=150 // step + 10).update_many(raw)
    out = np.zeros(len(x))
    out[(np.arange(blocks) + 1) * step - 1] = likely  # known when the block ends
    return out


def nearest_block_window(s: NabSeries, per: int, width: int = 8) -> np.ndarray:
    x = s.values.astype(float)
    probation = known_in_advance(s, MODE).probation
    z = (x - x.min()) / max(float(np.ptp(x)), 1e-12)
    step = max(1, round(probation / (width * per)))
    blocks = len(z) // step
    windows = sliding_window_view(z[: blocks * step].reshape(blocks, step).mean(axis=1), width)
    near = np.full(len(windows), np.inf)
    for start in range(0, len(windows), 512):
        part = windows[start : start + 512]
        dist = np.abs(part[:, None, :] - windows[None, :, :]).max(axis=2)
        # only windows that ended before this one started: no overlap, no future
        later = np.arange(len(windows))[None, :] > np.arange(start, start + len(part))[:, None] - width
        dist[later] = np.inf
        near[start : start + len(part)] = dist.min(axis=1)
    ends = (np.arange(len(windows)) + width) * step - 1
    learnt = near[(ends < probation) & np.isfinite(near)]
    scale = float(learnt.max()) if len(learnt) and learnt.max() > 0 else 1e-3
    out = np.zeros(len(x))
    out[ends] = np.where(np.isfinite(near), near / scale, 0.0)
    return out


def top_plus_rest(members: np.ndarray) -> np.ndarray:
    """The largest likelihood plus ``AGREEMENT`` times the mean of the others."""
    ranked = np.sort(members, axis=0)
    return ranked[-1] + AGREEMENT * ranked[:-1].mean(axis=0)


def probation_level(s: NabSeries, score: np.ndarray, q: float, c: float, level: float) -> np.ndarray:
    probation = known_in_advance(s, MODE).probation
    seen = score[:probation][score[:probation] > 0]
    bar = max(level, c * float(np.quantile(seen, q))) if len(seen) else level
    return score * (level / bar)


def counts(s: NabSeries, scores: np.ndarray, threshold: float) -> tuple[int, int, int]:
    """Windows detected, windows missed and detections outside every window (after
    the probation)."""
    quiet = known_in_advance(s, MODE).probation
    found = np.flatnonzero(scores[quiet:] >= threshold) + quiet
    inside = np.zeros(len(scores), bool)
    hit = 0
    for left, right in s.windows:
        i, j = np.searchsorted(s.timestamps, left), np.searchsorted(s.timestamps, right)
        inside[i : j + 1] = True
        hit += bool(((found >= i) & (found <= j)).any())
    return hit, len(s.windows) - hit, int((~inside[found]).sum())


def breakdown(corpus: list[NabSeries], folds: list[str], runs: dict[str, dict[str, np.ndarray]]) -> None:
    print("| detector | folder | normalised | windows hit | missed | false alarms |\n|---|---|---|---|---|---|")
    for name, scores in runs.items():
        threshold = score_corpus(scores, corpus, ("standard",))["standard"].threshold
        for f in [*folds, "all"]:
            part = [s for s in corpus if f in ("all", folder(s.name))]
            result = score_corpus(scores, part, ("standard",), threshold=threshold)["standard"]
            if result.perfect == result.null:
                continue  # no windows: nothing to normalise
            hit, missed, false = np.sum([counts(s, scores[s.name], threshold) for s in part], axis=0)
            print(f"| {name} | {f} | {result.normalized:.1f} | {hit} | {missed} | {false} |")


def held_out_folder(corpus: list[NabSeries], f: str, scores: dict[str, np.ndarray]) -> float:
    """Folder ``f`` scored at the threshold chosen on the other folders."""
    threshold = score_corpus(scores, [s for s in corpus if folder(s.name) != f],
                             ("standard",))["standard"].threshold
    return score_corpus(scores, [s for s in corpus if folder(s.name) == f], ("standard",),
                        threshold=threshold)["standard"].normalized


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--breakdown", action="store_true",
                        help="only the per-folder comparison with the published ARTime")
    args = parser.parse_args()
    corpus = load_corpus(args.data)
    folds = sorted({folder(s.name) for s in corpus})
    pd_, cn = likelihoods(corpus, "pattern_discord"), likelihoods(corpus, "context_novelty")
    base = {k: np.maximum(pd_[k], cn[k]) + AGREEMENT * np.minimum(pd_[k], cn[k]) for k in pd_}
    if args.breakdown:
        breakdown(corpus, folds, {"triops ensemble": gated(corpus, base),
                                  "published ARTime": load_published_scores(args.data, "ARTime")})
        return
    level = Ensemble().gate.level
    rows: dict[str, dict[str, np.ndarray]] = {"shipped": base}
    excess = {s.name: range_excess(s) for s in corpus}
    for w in (0.5, 1.0, 2.0, 4.0):
        for f in (0.02, 0.05, 0.1):
            rows[f"range excess w={w} f={f}"] = {k: base[k] + w * np.minimum(excess[k] / f, 1.0) for k in base}
    absolute = {s.name: absolute_discord(s) for s in corpus}
    for d0 in (0.02, 0.05, 0.1, 0.2):
        rows[f"absolute discord d0={d0}"] = {k: base[k] * np.minimum(1.0, absolute[k] / d0) for k in base}
    for a in (0.5, 0.7):
        for d0 in (0.05, 0.1):
            for w in (0.0, 0.5, 1.0, 2.0):
                rows[f"soft absolute discord a={a} d0={d0} + range excess w={w}"] = {
                    k: base[k] * (a + (1 - a) * np.minimum(1.0, absolute[k] / d0))
                    + w * np.minimum(excess[k] / 0.05, 1.0) for k in base}
    for q in (0.9, 0.99, 1.0):
        for c in (0.6, 0.8, 1.0, 1.2):
            rows[f"probation level q={q} c={c}"] = {
                s.name: probation_level(s, base[s.name], q, c, level) for s in corpus}
    for step in (3, 6, 12):
        coarse = {s.name: coarse_discord(s, step) for s in corpus}
        rows[f"coarse discord step={step}"] = {
            k: top_plus_rest(np.stack([pd_[k], cn[k], coarse[k]])) for k in base}
    for per in (4, 13):
        novel = {s.name: nearest_block_window(s, per) for s in corpus}
        for k_ in (1.0, 1.5, 2.0):
            rows[f"nearest block window per={per} k={k_}"] = {
                k: np.maximum(base[k], level * novel[k] / k_) for k in base}
    windowed = [f for f in folds if any(s.windows for s in corpus if folder(s.name) == f)]
    print(f"{len(corpus)} series, protocol mode, {len(folds)} folders as folds; then each "
          "folder with windows held out\n")
    print(f"| idea | in-sample | held-out (pooled) | held-out (folder mean) | {' | '.join(windowed)} |")
    print("|---" * (4 + len(windowed)) + "|")
    table = {}
    for name, combined in rows.items():
        scores = table[name] = gated(corpus, combined)
        inside = score_corpus(scores, corpus, ("standard",))["standard"].normalized
        pooled, mean = held_out(corpus, folds, {f: scores for f in folds})
        each = [held_out_folder(corpus, f, scores) for f in windowed]
        print(f"| {name} | {inside:.1f} | {pooled:.1f} | {mean:.1f} | "
              f"{' | '.join(f'{v:.1f}' for v in each)} |", flush=True)
    print("\nOver every row:")
    nested(corpus, folds, table)
    second = {k: v for k, v in table.items() if k == "shipped" or k.startswith("soft")
              or (k.startswith("range excess") and k.endswith("f=0.05"))}
    print(f"\nOver the second look ({len(second)} rows: shipped, soft absolute discord, "
          "range excess at f=0.05):")
    nested(corpus, folds, second)


if __name__ == "__main__":
    main()
