"""Trains the shipped guardrail models (``src/triops/llm/guardrails/models/*.npz``).

Each public set in ``../shared/datasets/guardrails/`` (see its README and licences) is
split once, stratified, seed 21: 80 % to train, 20 % held out for ``bench/guardrails.py``
(the parts of each set that its publishers keep apart are not available here). On the
80 %, 5-fold stratified cross-validation picks the regularisation ``C`` of a logistic
regression over ``triops.llm.guardrails.textmodel.features`` and the decision threshold
that maximises F1 on the out-of-fold probabilities; the model is then fit on the whole
80 % and written with its data card. scikit-learn is needed here only, not at runtime.

    python bench/train_guardrails.py [--data ../shared/datasets/guardrails]
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import StratifiedKFold, train_test_split

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from triops.llm.guardrails.textmodel import DIM, MODELS, TextModel, features

DATA = ROOT.parent.parent / "shared" / "datasets" / "guardrails"
SEED = 21
C_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


@dataclass(frozen=True)
class PublicSet:
    model: str
    file: str
    source: str
    licence: str
    positive: str

    def read(self, data: Path) -> tuple[list[str], np.ndarray]:
        with (data / self.file).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        if self.model == "injection":
            return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])
        return [r["tweet"] for r in rows], np.array([int(r["class"]) in (0, 1) for r in rows],
                                                    dtype=int)


SETS = (
    PublicSet("injection", "deepset_prompt_injections_train.csv",
              "deepset/prompt-injections, train split (English and German), as redistributed "
              "in sinanw/llm-security-prompt-injection", "MIT (sinanw/llm-security-prompt-"
              "injection, the redistribution triops trains on)",
              "1 = injection"),
    PublicSet("toxicity", "davidson_labeled_data.csv",
              "t-davidson/hate-speech-and-offensive-language data/labeled_data.csv "
              "(Davidson et al., ICWSM 2017), 80 % of its rows", "MIT",
              "class 0 (hate speech) or 1 (offensive language) against 2 (neither)"),
)


def split(public: PublicSet, data: Path) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """(train texts, train labels, held-out texts, held-out labels): the one split both
    this script and ``bench/guardrails.py`` use."""
    texts, labels = public.read(data)
    train, held, y_train, y_held = train_test_split(
        texts, labels, test_size=0.2, stratify=labels, random_state=SEED)
    return train, y_train, held, y_held


def matrix(texts: list[str]) -> csr_matrix:
    indptr, indices, values = [0], [], []
    for text in texts:
        index, value = features(text)
        indices.append(index)
        values.append(value)
        indptr.append(indptr[-1] + len(index))
    return csr_matrix((np.concatenate(values), np.concatenate(indices), indptr),
                      shape=(len(texts), DIM))


def best_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 over the candidate cut points."""
    best = (0.5, -1.0)
    for t in np.unique(np.round(p, 3)):
        f1 = precision_recall_fscore_support(y, p >= t, average="binary", zero_division=0)[2]
        if f1 > best[1]:
            best = (float(t), float(f1))
    return best


def train(public: PublicSet, data: Path) -> TextModel:
    texts, y, held, y_held = split(public, data)
    x = matrix(texts)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=SEED).split(x, y))
    results = []
    for c in C_GRID:
        oof = np.zeros(len(y))
        for fit, check in folds:
            clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
            oof[check] = clf.fit(x[fit], y[fit]).predict_proba(x[check])[:, 1]
        threshold, f1 = best_threshold(y, oof)
        p, r, _, _ = precision_recall_fscore_support(y, oof >= threshold, average="binary")
        results.append((f1, c, threshold, float(p), float(r)))
        print(f"  {public.model}: C={c:g} CV F1 {f1:.3f} at threshold {threshold:.3f}")
    f1, c, threshold, p, r = max(results)
    clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, y)
    card = {"source": public.source, "licence": public.licence, "positive": public.positive,
            "train_texts": len(texts), "train_positives": int(y.sum()),
            "held_out_texts": len(held), "held_out_positives": int(y_held.sum()),
            "split": f"stratified 80/20, seed {SEED}",
            "model": f"logistic regression, class_weight=balanced, C={c:g}",
            "features": f"hashed words, word pairs and character 2-5-grams, {DIM} buckets",
            "cv": {"folds": 5, "f1": round(f1, 4), "precision": round(p, 4),
                   "recall": round(r, 4), "threshold": threshold}}
    return TextModel(public.model, clf.coef_[0].astype(np.float32), float(clf.intercept_[0]),
                     threshold, card)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    MODELS.mkdir(exist_ok=True)
    for public in SETS:
        model = train(public, args.data)
        path = MODELS / f"{public.model}.npz"
        model.save(path)
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB, {model.card['model']}, "
              f"CV F1 {model.card['cv']['f1']:.3f} at threshold {model.threshold:.3f}")


if __name__ == "__main__":
    main()
