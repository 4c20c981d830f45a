"""Cross-validate the default detector's settings on NAB, leaving whole folders out.

Usage: python bench/nab_cv.py [--data /work/shared/datasets/nab] [--mode streaming|protocol]
                              [--only SETTING ...] [--base SETTING=VALUE ...]

Every tunable setting of the default detector (``ensemble``: its members and the
weight of their agreement, the
raw-surprise settings of ``pattern_discord`` and ``context_novelty``, the anomaly
likelihood's window, horizon, warm-up and cap, the alarm gate's level, silence, hold
and penalty) is varied one at a time around the shipped value. The folds are NAB's
folders (``realKnownCause``, ``realTweets``, ...): each is scored with the setting and
threshold that are best on the other folders, so no series helps choose how it is
scored. Printed per mode:

* per setting: the in-sample score (its own NAB-optimal threshold on all 47 series)
  and the held-out score (each folder at the threshold chosen without it), pooled over
  folders and as the mean of the folders that have anomaly windows;
* the nested figures: each folder scored with the setting *and* threshold chosen
  without it, which is what a held-back series can expect. The setting is chosen on
  the other folders either by its score on them (in-sample there) or by its
  folder-out score among them (an inner cross-validation, which does not reward a
  setting that only fits the series it is scored on).

``--base`` moves the centre of the grid (``--base context_novelty.bins=12`` varies
every other setting around 12 bins).

Raw surprises are computed once per raw setting and replayed through the real
``Ensemble`` (likelihoods and gate), so the grid costs seconds per setting.
"""

from __future__ import annotations

import argparse
import ast
import inspect
from collections import defaultdict
from pathlib import Path

import numpy as np
from nab import DEFAULT_DATA, MODES, epoch_seconds, known_in_advance

from triops.ops.detectors import DETECTORS, Ensemble
from triops.ops.evaluation.nab import NabSeries, load_corpus, score_corpus

SHIPPED = {"members": ("pattern_discord", "context_novelty")}
# Each entry: the setting, the values tried besides the shipped one.
GRID: dict[str, tuple] = {
    "members": (("pattern_discord",), ("pattern_discord", "context_novelty", "seasonal_zscore")),
    "agreement": (0.0, 0.1, 0.25, 0.5, 0.75, 1.0),
    "pattern_discord.length": (4, 16),
    "pattern_discord.memory": (500, 2000),
    "context_novelty.bins": (8, 12, 16, 32, 48, 64, 96),
    "context_novelty.scale_points": (50, 300),
    "context_novelty.bins_from_given_range": (True,),
    "short": (4, 16),
    "long": (1000, 4000),
    "warmup": (75, 300),
    "clip": (3.0, float("inf")),
    "alarm": (0.45, 0.55),
    "refractory": (20, 100),
    "hold": (100, 400),
    "penalty": (0.3, 0.6),
}


def candidates(only: list[str] | None, base: dict) -> list[dict]:
    out = [dict(base)]
    for key, values in GRID.items():
        if not only or key in only:
            out += [{**base, key: v} for v in values if base.get(key, shipped(key)) != v]
    return out


def shipped(key: str):
    """The value a setting has when nothing is given (so it is not tried twice)."""
    if key == "members":
        return SHIPPED["members"]
    owner, _, name = key.rpartition(".")
    cls = DETECTORS.get(owner) if owner else Ensemble
    for klass in cls.__mro__:
        param = inspect.signature(klass.__init__).parameters.get(name)
        if param is not None and param.default is not inspect.Parameter.empty:
            return param.default
    return None


def parse_base(items: list[str] | None) -> dict:
    base = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if key not in GRID:
            raise SystemExit(f"--base: unknown setting {key!r}")
        base[key] = ast.literal_eval(value)
    return base


def label(setting: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in setting.items()) or "shipped"


class RawCache:
    """Raw surprises of one member on every series, per member setting and mode."""

    def __init__(self, corpus: list[NabSeries]) -> None:
        self.corpus = corpus
        self.cache: dict = {}

    def get(self, member: str, params: tuple, mode: str) -> dict[str, list]:
        key = (member, params, mode)
        if key not in self.cache:
            out = {}
            for series in self.corpus:
                known = known_in_advance(series, mode).params()
                known.pop("probation", None)
                d = DETECTORS.get(member)(**dict(params), **known)
                out[series.name] = d._raw_many(
                    np.asarray(epoch_seconds(series)), series.values.astype(float))
            self.cache[key] = out
        return self.cache[key]


def run(setting: dict, raws: RawCache, mode: str) -> dict[str, np.ndarray]:
    """Scores of the ensemble with ``setting`` on every series (raw surprises replayed)."""
    members = setting.get("members", SHIPPED["members"])
    own = {k: v for k, v in setting.items() if "." not in k and k != "members"}
    per_member = defaultdict(dict)
    for k, v in setting.items():
        if "." in k:
            m, p = k.split(".")
            per_member[m][p] = v
    replays = [raws.get(m, tuple(sorted(per_member[m].items())), mode) for m in members]
    scores = {}
    for series in raws.corpus:
        d = Ensemble(members=members, **own, **known_in_advance(series, mode).params())
        for member, replay in zip(d.members, replays, strict=True):
            member._raw_many = _replayer(replay[series.name])
        scores[series.name] = np.array(d.update_many(epoch_seconds(series), series.values))
    return scores


def _replayer(values: list):
    return lambda ts, xs: values


def folder(name: str) -> str:
    return name.split("/")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--mode", action="append", choices=MODES)
    parser.add_argument("--only", action="append", choices=list(GRID), help="vary only these")
    parser.add_argument("--base", action="append", help="centre of the grid, SETTING=VALUE")
    args = parser.parse_args()
    base = parse_base(args.base)
    corpus = load_corpus(args.data)
    folds = sorted({folder(s.name) for s in corpus})
    raws = RawCache(corpus)
    for mode in args.mode or MODES:
        print(f"\n### {mode}: {len(corpus)} series, {len(folds)} folders as folds\n")
        print("| setting | in-sample | held-out (pooled) | held-out (folder mean) |")
        print("|---|---|---|---|")
        table = {}
        for setting in candidates(args.only, base):
            scores = run(setting, raws, mode)
            table[label(setting)] = scores
            inside = score_corpus(scores, corpus, ("standard",))["standard"].normalized
            pooled, mean = held_out(corpus, folds, {f: scores for f in folds})
            print(f"| {label(setting)} | {inside:.1f} | {pooled:.1f} | {mean:.1f} |", flush=True)
        nested(corpus, folds, table)


def nested(corpus, folds, table) -> None:
    """Each folder scored with the setting and threshold chosen without it."""

    def in_sample(train_folds):
        train = [s for s in corpus if folder(s.name) in train_folds]
        return lambda k: score_corpus(table[k], train, ("standard",))["standard"].raw

    def inner_cv(train_folds):
        train = [s for s in corpus if folder(s.name) in train_folds]
        return lambda k: held_out(train, train_folds, {f: table[k] for f in train_folds})[0]

    for how, criterion in (("its score on them", in_sample), ("folder-out CV among them", inner_cv)):
        chosen = {f: max(table, key=criterion([g for g in folds if g != f])) for f in folds}
        pooled, mean = held_out(corpus, folds, {f: table[chosen[f]] for f in folds})
        print(f"\nnested, setting chosen on the other folders by {how}: pooled {pooled:.1f}, "
              f"folder mean {mean:.1f}")
        for f in folds:
            print(f"- {f}: {chosen[f]}")


def held_out(corpus, folds, scores_for) -> tuple[float, float]:
    """Each folder scored at the threshold that is best without it: pooled and mean."""
    raw, null, perfect, normalised = 0.0, 0.0, 0.0, []
    for f in folds:
        train = [s for s in corpus if folder(s.name) != f]
        test = [s for s in corpus if folder(s.name) == f]
        scores = scores_for[f]
        threshold = score_corpus(scores, train, ("standard",))["standard"].threshold
        result = score_corpus(scores, test, ("standard",), threshold=threshold)["standard"]
        raw, null, perfect = raw + result.raw, null + result.null, perfect + result.perfect
        if result.perfect > result.null:  # a folder without windows has no normalised score
            normalised.append(result.normalized)
    return 100 * (raw - null) / (perfect - null), float(np.mean(normalised))


if __name__ == "__main__":
    main()
