"""Names, places and organisations: a small token tagger shipped with the package.

Regexes cannot tell "Ada Lovelace" from "Data Science"; a tagger that reads each word
with its neighbours can. Each token gets hashed features — the word and its neighbours
(lower case), their shapes ("Xx", "d", "X."), prefixes and suffixes, the word pairs
around it, and which gazetteers the word and its neighbours are in (first names, last
names, cities, countries, US states, company suffixes) — and a multinomial logistic
regression scores the tags ``O``, ``B-``/``I-`` of ``person``, ``location`` and
``organization``; a Viterbi pass keeps the tag sequence well formed (no ``I-person``
after ``O``), and pieces of one entity split only by spaces, commas or full stops (the
lines of an address) are joined. Scoring is a gather and a sum in numpy, so it runs
offline on a CPU in a few milliseconds per kilobyte of text, with no spaCy or Presidio
installed. The gazetteers ship inside the model file as CRC-32 hashes of lower-case
names, so the tagger recognises names it never saw in training.

The model lives in ``models/ner.tagger.npz`` with its data card (sources, licences, sizes,
scores); ``bench/train_guardrails.py`` trains it.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from triops.llm.guardrails._base import Finding

MODELS = Path(__file__).with_name("models")
#: Bumped whenever ``token_features`` changes: a model trained on other features is refused.
FEATURES_VERSION = 2
DIM = 1 << 18
ENTITIES = ("person", "location", "organization")
TAGS = ("O", *(f"{p}-{e}" for e in ENTITIES for p in ("B", "I")))
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SHAPE_RUN = re.compile(r"(.)\1+")
_JOIN = re.compile(r"[\s,.]*")
#: Words that end a company's name: a closed class, listed rather than learned.
ORG_SUFFIXES = frozenset({"inc", "llc", "ltd", "limited", "corp", "corporation", "co",
    "company", "group", "gmbh", "ag", "sa", "plc", "lp", "llp", "partners", "associates",
    "holdings", "industries", "technologies", "solutions", "systems", "services", "bank",
    "university", "institute", "foundation", "association", "society", "agency", "labs",
    "studios"})
Gazetteers = dict[str, frozenset[int]]
#: A name's hash → the gazetteers it is in: one dictionary look-up per word.
GazetteerIndex = dict[int, tuple[str, ...]]


def gazetteer_index(gazetteers: Gazetteers) -> GazetteerIndex:
    index: dict[int, list[str]] = {}
    for name, hashes in sorted(gazetteers.items()):
        for h in hashes:
            index.setdefault(h, []).append(name)
    return {h: tuple(names) for h, names in index.items()}


def name_hash(name: str) -> int:
    """How a gazetteer stores a name: CRC-32 of its lower-case form (words joined by one
    space)."""
    return zlib.crc32(" ".join(name.lower().split()).encode())




def tokens(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end): runs of word characters, and each other visible character."""
    return [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _shape(token: str) -> str:
    """"Ada" → "Xx", "O'Neil" → "X'Xx", "1977" → "d", "Apt." → "Xx." (runs squeezed)."""
    mapped = "".join("X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit()
                     else c for c in token)
    return _SHAPE_RUN.sub(r"\1", mapped)


def token_features(text: str, gazetteers: GazetteerIndex | None = None) -> list[list[str]]:
    """The feature names of each token of ``text`` (see the module docstring)."""
    gazetteers = gazetteers or {}
    no_hits: tuple[str, ...] = ()
    toks = tokens(text)
    words = [t.lower() for t, _, _ in toks]
    shapes = [_shape(t) for t, _, _ in toks]
    # A token starts a line or sentence when only white space or ".?!:" separates it
    # from the start or the previous token: capitals there say less.
    starts = []
    for i, (_, start, _) in enumerate(toks):
        before = text[toks[i - 1][2]:start] if i else text[:start]
        starts.append(i == 0 or "\n" in before or words[i - 1] in (".", "?", "!", ":"))
    # Gazetteer hits of each token alone and as part of a two-word name either side.
    single = [zlib.crc32(word.encode()) for word in words]
    pairs = [zlib.crc32(f"{a} {b}".encode()) if a.isalpha() and b.isalpha() else -1
             for a, b in itertools.pairwise(words)]
    gaz: list[list[str]] = []
    for i, word in enumerate(words):
        hits = list(gazetteers.get(single[i], no_hits))
        for pair in (pairs[i - 1] if i else -1, pairs[i] if i < len(pairs) else -1):
            if pair != -1:
                hits += [f"{g}2" for g in gazetteers.get(pair, no_hits)]
        if word in ORG_SUFFIXES:
            hits.append("orgsfx")
        gaz.append(list(dict.fromkeys(hits)))  # a name in both pairs counts once
    pad = ["<s>", "<s>"]
    w = pad + words + ["</s>", "</s>"]
    s = pad + shapes + ["</s>", "</s>"]
    g: list[list[str]] = [[], [], *gaz, [], []]
    out = []
    for i in range(len(toks)):
        j = i + 2
        word = words[i]
        feats = [
            "b", f"w={word}", f"s={s[j]}", f"p1={w[j - 1]}", f"n1={w[j + 1]}",
            f"p2={w[j - 2]}", f"n2={w[j + 2]}", f"ps={s[j - 1]}", f"ns={s[j + 1]}",
            f"pre={word[:3]}", f"suf={word[-3:]}", f"b1={w[j - 1]}|{word}",
            f"b2={word}|{w[j + 1]}", f"ss={s[j - 1]}|{s[j]}|{s[j + 1]}",
            f"st={starts[i]}|{s[j]}", f"len={min(len(word), 8)}"]
        for k, prefix in ((j, "g"), (j - 1, "pg"), (j + 1, "ng"), (j + 2, "n2g")):
            feats.extend(f"{prefix}={hit}" for hit in g[k])
        feats.extend(f"gs={hit}|{s[j]}" for hit in g[j])
        out.append(feats)
    return out


def hashed(feature_lists: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """All tokens' features as indices below ``DIM`` (CRC-32: the same in every process),
    flat, and where each token's run starts."""
    flat = np.array([zlib.crc32(f.encode()) for feats in feature_lists for f in feats],
                    dtype=np.int64) & (DIM - 1)
    starts = np.cumsum([0] + [len(feats) for feats in feature_lists[:-1]])
    return flat, starts


def _allowed() -> np.ndarray:
    """allowed[a, b]: may tag ``b`` follow tag ``a``? ``I-x`` only after ``B-x``/``I-x``."""
    n = len(TAGS)
    allowed = np.ones((n, n), dtype=bool)
    for b, tag in enumerate(TAGS):
        if tag.startswith("I-"):
            allowed[:, b] = [a_tag in (f"B-{tag[2:]}", tag) for a_tag in TAGS]
    return allowed


_ALLOWED = _allowed()
_START_OK = np.array([not t.startswith("I-") for t in TAGS])


def viterbi(log_probs: np.ndarray) -> list[int]:
    """The best well-formed tag sequence for per-token log-probabilities (tokens × tags)."""
    penalty = np.where(_ALLOWED, 0.0, -1e9)
    score = log_probs[0] + np.where(_START_OK, 0.0, -1e9)
    back = np.zeros(log_probs.shape, dtype=np.int64)
    for i in range(1, len(log_probs)):
        total = score[:, None] + penalty
        back[i] = total.argmax(axis=0)
        score = total.max(axis=0) + log_probs[i]
    path = [int(score.argmax())]
    for i in range(len(log_probs) - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return path[::-1]


#: A token the model calls ``O`` with at least this probability is fixed to ``O``; Viterbi
#: then runs only over the stretches between such tokens (``O`` may follow and precede
#: any tag, so the stretches decode independently), which is most of the time saved.
SURE_O = np.log(0.99)


def decode(log_probs: np.ndarray) -> list[int]:
    """Viterbi over the uncertain stretches; ``O`` elsewhere."""
    sure = log_probs[:, 0] >= SURE_O
    path = [0] * len(log_probs)
    i = 0
    while i < len(path):
        if sure[i]:
            i += 1
            continue
        j = i
        while j < len(path) and not sure[j]:
            j += 1
        path[i:j] = viterbi(log_probs[i:j])
        i = j
    return path


@dataclass(frozen=True)
class Tagger:
    """Weights (``DIM`` × tags) and a bias per tag; ``find(text)`` returns entity spans."""

    weights: np.ndarray
    bias: np.ndarray
    threshold: float
    card: dict[str, Any]
    gazetteers: Gazetteers
    index: GazetteerIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", gazetteer_index(self.gazetteers))

    def log_probs(self, text: str) -> tuple[list[tuple[str, int, int]], np.ndarray]:
        toks = tokens(text)
        if not toks:
            return toks, np.zeros((0, len(TAGS)), np.float32)
        flat, starts = hashed(token_features(text, self.index))
        # One gather and one segmented sum for all tokens: a numpy call per token would
        # cost more than the features themselves.
        scores = np.add.reduceat(self.weights[flat], starts, axis=0)
        scores += self.bias
        scores -= scores.max(axis=1, keepdims=True)
        return toks, scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))

    def find(self, text: str, entities: tuple[str, ...] = ENTITIES,
             threshold: float | None = None) -> list[Finding]:
        """Entity spans whose mean tag probability reaches ``threshold``."""
        toks, logp = self.log_probs(text)
        if not toks:
            return []
        cut = self.threshold if threshold is None else threshold
        path = decode(logp)
        runs: list[list[Any]] = []  # [entity, first token, last token + 1]
        i = 0
        while i < len(path):
            tag = TAGS[path[i]]
            if tag == "O":
                i += 1
                continue
            entity, j = tag[2:], i + 1
            while j < len(path) and TAGS[path[j]] == f"I-{entity}":
                j += 1
            last = runs[-1] if runs else None
            if (last is not None and last[0] == entity
                    and _JOIN.fullmatch(text[toks[last[2] - 1][2]:toks[i][1]])):
                last[2] = j  # the next line of an address, "Smith, Jones and Co"
            else:
                runs.append([entity, i, j])
            i = j
        found: list[Finding] = []
        for entity, i, j in runs:
            p = float(np.exp(logp[np.arange(i, j), path[i:j]]).mean())
            if entity in entities and p >= cut:
                found.append(Finding(entity, toks[i][1], toks[j - 1][2], round(p, 4),
                                     f"model 'ner' probability {p:.2f}"))
        return found

    def save(self, path: Path) -> None:
        np.savez_compressed(path, weights=self.weights.astype(np.float16),
                            bias=self.bias.astype(np.float64),
                            threshold=np.float64(self.threshold),
                            features_version=np.int64(FEATURES_VERSION),
                            tags=np.array(json.dumps(TAGS)), card=np.array(json.dumps(self.card)),
                            **{f"gazetteer_{name}": np.array(sorted(hashes), np.uint32)
                               for name, hashes in self.gazetteers.items()})


@functools.cache
def load(name_or_path: str = "ner") -> Tagger:
    """The shipped tagger (``ner``) or one from an ``.npz`` path."""
    path = (Path(name_or_path) if name_or_path.endswith(".npz")
            else MODELS / f"{name_or_path}.tagger.npz")
    if not path.is_file():
        raise ValueError(f"unknown tagger {name_or_path!r}")
    with np.load(path) as data:
        if int(data["features_version"]) != FEATURES_VERSION:
            raise ValueError(f"tagger {name_or_path!r} was trained on other features")
        if tuple(json.loads(str(data["tags"]))) != TAGS:
            raise ValueError(f"tagger {name_or_path!r} has other tags than {TAGS}")
        weights = data["weights"].astype(np.float32)
        if weights.shape != (DIM, len(TAGS)):
            raise ValueError(f"tagger {name_or_path!r} has {weights.shape} weights")
        gazetteers = {key.removeprefix("gazetteer_"): frozenset(data[key].tolist())
                      for key in data.files if key.startswith("gazetteer_")}
        return Tagger(weights, data["bias"].astype(np.float32), float(data["threshold"]),
                      json.loads(str(data["card"])), gazetteers)
