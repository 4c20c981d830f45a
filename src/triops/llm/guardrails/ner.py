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
from triops.llm.guardrails._model_file import model_file

MODELS = Path(__file__).with_name("models")
#: Bumped whenever ``token_features`` changes: a model trained on other features is refused.
FEATURES_VERSION = 3
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


_ASCII_SHAPE = str.maketrans({**{c: "X" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"},
                              **{c: "x" for c in "abcdefghijklmnopqrstuvwxyz"},
                              **{c: "d" for c in "0123456789"}})


def _shape(token: str) -> str:
    """"Ada" → "Xx", "O'Neil" → "X'Xx", "1977" → "d", "Apt." → "Xx." (runs squeezed)."""
    if token.isascii():
        mapped = token.translate(_ASCII_SHAPE)
    else:
        mapped = "".join("X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit()
                         else c for c in token)
    return _SHAPE_RUN.sub(r"\1", mapped)


#: Gazetteer bits: the word alone, then as part of a two-word name with a neighbour.
GAZETTEERS = ("first", "last", "city", "country", "state")
_BITS = (*GAZETTEERS, *(f"{g}2" for g in GAZETTEERS), "orgsfx")
_BIT = {name: 1 << i for i, name in enumerate(_BITS)}
#: Features of fixed kinds per token: 16 of words, shapes and affixes, then one per
#: gazetteer bit for the token and three neighbours, then one per bit with the shape.
N_BASE = 16
N_FEATURES = N_BASE + 4 * len(_BITS) + len(_BITS)
_MIX = np.uint64(0xBF58476D1CE4E5B9)
_PRIMES = tuple(np.uint64(p) for p in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F,
                                       0x165667B19E3779F9, 0x27D4EB2F165667C5))
_BIT_SHIFTS = np.arange(len(_BITS), dtype=np.int64)


def _h(kind: int | np.ndarray, *parts: np.ndarray) -> np.ndarray:
    """A feature's bucket from its kind and up to three per-token hashes (uint64
    arithmetic, wrapping by design; a splitmix-style finaliser spreads the bits)."""
    with np.errstate(over="ignore"):
        x = (np.asarray(kind, np.uint64) + np.uint64(1)) * _PRIMES[0]
        for part, prime in zip(parts, _PRIMES[1:]):
            x = x + part * prime
        x = (x ^ (x >> np.uint64(31))) * _MIX
        return ((x >> np.uint64(40)) & np.uint64(DIM - 1)).astype(np.int64)


_GAZ_BUCKETS = _h(np.arange(N_BASE, N_BASE + 4 * len(_BITS)), np.zeros(1, np.uint64))
_SHAPED_KINDS = np.arange(N_BASE + 4 * len(_BITS), N_FEATURES)


def _crc(values: list[str]) -> np.ndarray:
    return np.fromiter((zlib.crc32(v.encode()) for v in values), np.uint64, len(values))


def token_features(text: str, gazetteers: GazetteerIndex | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each token's features: (buckets, presence), both tokens × ``N_FEATURES``; a
    feature that is absent (a gazetteer the word is not in) has presence 0."""
    gazetteers = gazetteers or {}
    toks = tokens(text)
    n = len(toks)
    if not n:
        return np.zeros((0, N_FEATURES), np.int64), np.zeros((0, N_FEATURES), np.float32)
    words = [t.lower() for t, _, _ in toks]
    shapes = [_shape(t) for t, _, _ in toks]
    # A token starts a line or sentence when only white space or ".?!:" separates it
    # from the start or the previous token: capitals there say less.
    starts = np.zeros(n, np.uint64)
    for i, (_, start, _) in enumerate(toks):
        before = text[toks[i - 1][2]:start] if i else text[:start]
        starts[i] = i == 0 or "\n" in before or words[i - 1] in (".", "?", "!", ":")
    # Gazetteer hits of each token alone and as part of a two-word name either side.
    single = _crc(words)
    bits = np.zeros(n, np.int64)
    for i, word in enumerate(words):
        mask = 0
        for g in gazetteers.get(int(single[i]), ()):
            mask |= _BIT[g]
        if word in ORG_SUFFIXES:
            mask |= _BIT["orgsfx"]
        bits[i] = mask
    for i, (a, b) in enumerate(itertools.pairwise(words)):
        if a.isalpha() and b.isalpha():
            for g in gazetteers.get(zlib.crc32(f"{a} {b}".encode()), ()):
                bits[i] |= _BIT[f"{g}2"]
                bits[i + 1] |= _BIT[f"{g}2"]
    pad_s, pad_e = np.uint64(zlib.crc32(b"<s>")), np.uint64(zlib.crc32(b"</s>"))
    w = np.concatenate([[pad_s, pad_s], single, [pad_e, pad_e]]).astype(np.uint64)
    sh = _crc(shapes)
    s = np.concatenate([[pad_s, pad_s], sh, [pad_e, pad_e]]).astype(np.uint64)
    g = np.concatenate([[0, 0], bits, [0, 0]])
    j = np.arange(2, n + 2)
    zero = np.zeros(n, np.uint64)
    base = [
        _h(0, zero), _h(1, w[j]), _h(2, s[j]), _h(3, w[j - 1]), _h(4, w[j + 1]),
        _h(5, w[j - 2]), _h(6, w[j + 2]), _h(7, s[j - 1]), _h(8, s[j + 1]),
        _h(9, _crc([x[:3] for x in words])), _h(10, _crc([x[-3:] for x in words])),
        _h(11, w[j - 1], w[j]), _h(12, w[j], w[j + 1]), _h(13, s[j - 1], s[j], s[j + 1]),
        _h(14, starts, s[j]), _h(15, np.minimum([len(x) for x in words], 8).astype(np.uint64))]
    n_bits = len(_BITS)
    # The gazetteer features of the token and three neighbours: fixed buckets, present
    # where the bit is set; then each bit of the token with its shape.
    hits = np.stack([g[j], g[j - 1], g[j + 1], g[j + 2]], axis=1)  # tokens × 4
    present = (hits[:, :, None] >> _BIT_SHIFTS) & 1  # tokens × 4 × bits
    shaped = _h(_SHAPED_KINDS[None, :], s[j][:, None])  # tokens × bits
    buckets = np.concatenate([np.stack(base, axis=1),
                              np.broadcast_to(_GAZ_BUCKETS, (n, 4 * n_bits)), shaped], axis=1)
    presence = np.concatenate([np.ones((n, N_BASE), np.float32),
                               present.reshape(n, 4 * n_bits).astype(np.float32),
                               (hits[:, :1] >> _BIT_SHIFTS[None, :]).astype(np.float32)
                               % 2], axis=1)
    return buckets, presence


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
        buckets, presence = token_features(text, self.index)
        # One gather and one weighted sum for all tokens and features.
        scores = np.einsum("tfk,tf->tk", self.weights[buckets], presence) + self.bias
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
    with model_file(path, f"tagger {name_or_path!r}") as data:
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
