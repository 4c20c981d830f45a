"""Toxic language by a weighted lexicon.

The lexicon (``toxicity_lexicon.tsv`` beside this module) states its source and gives
each term a weight and a category. The score is the noisy-or of the weights of the
distinct terms found, ``1 - prod(1 - w)``, boosted by ``targeted_boost`` when an insult
is aimed at "you". Text is normalised first (leetspeak, letters stretched for emphasis
such as "stuuupid") so that spelling games do not hide a term; matching is on word
boundaries, so "Scunthorpe" and "assess" are not insults.

The lexicon is the fast, explainable first pass; a text it leaves under ``threshold`` goes
to a small model trained on public labelled tweets (``textmodel``: the shipped ``toxicity``
model unless a rule's ``model`` names another or is ``false``), which flags it when its
probability reaches ``model_threshold`` (by default the threshold cross-validation chose
for it). A model finding spans the whole
text, so ``redact`` masks all of it: the model says the text is toxic, not which words.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from triops.llm.guardrails._base import Context, Finding, mask
from triops.llm.guardrails._normalise import CharMap
from triops.llm.guardrails._registry import register
from triops.llm.guardrails.textmodel import verdict

LEXICON = Path(__file__).with_name("toxicity_lexicon.tsv")
_LEET = CharMap({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "@": "a", "$": "s",
                 "*": "u"})
_STRETCH = re.compile(r"([a-z])\1{2,}")
_TARGETED = re.compile(r"\byou(?:'re| are|r| r)? (?:a |an |such an? |so |fucking )?$")


@dataclass(frozen=True)
class Term:
    source: str
    pattern: re.Pattern[str]
    weight: float
    category: str


@functools.cache
def load_lexicon(path: str = str(LEXICON)) -> tuple[Term, ...]:
    terms = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            term, weight, category = line.split("\t")
            terms.append(Term(term, re.compile(rf"(?<![\w'])(?:{term})(?![\w'])"), float(weight),
                              category.strip()))
        except (ValueError, re.error) as exc:
            raise ValueError(f"{path}:{number}: bad lexicon line ({exc})") from None
    return tuple(terms)


def _literal_prefix(term: Term) -> str:
    """The letters every match of the term starts with ("" when it starts with a group)."""
    body = term.source
    if re.sub(r"\([^()]*\)", "", body).count("|"):
        return ""  # alternatives at the top level start differently
    match = re.match(r"[a-z]+", body)
    if match is None:
        return ""
    prefix = match.group(0)
    # A quantifier right after the letters makes the last one optional.
    return prefix[:-1] if body[len(prefix):len(prefix) + 1] in ("?", "*", "{") else prefix


def normalise(text: str) -> str:
    """Lower case, leetspeak undone, stretched letters squeezed; same length as the input
    so that offsets stay valid for redaction.

    >>> normalise("You are STUUUPID")
    'you are stuuupid'
    """
    return _LEET(text.lower())


def _forms(text: str) -> list[tuple[str, list[int] | None]]:
    """The normalised text (offsets unchanged: ``None``), and, when letters are stretched
    for emphasis, a squeezed copy with the offset in the original of each character."""
    norm = normalise(text)
    runs = list(_STRETCH.finditer(norm))
    if not runs:
        return [(norm, None)]
    chars: list[str] = []
    offsets: list[int] = []
    cursor = 0
    for run in runs:  # a loop per run, not per character: texts can be long
        chars.append(norm[cursor:run.start()])
        offsets.extend(range(cursor, run.start()))
        chars.append(run.group(1))
        offsets.append(run.start())
        cursor = run.end()
    chars.append(norm[cursor:])
    offsets.extend(range(cursor, len(norm)))
    return [(norm, None), ("".join(chars), offsets)]


@register
class Toxicity:
    """Insults, obscenity and threats, scored in [0, 1]; ``redact`` masks the terms.

    >>> Toxicity().check("thanks, that fixed it", None)
    []
    >>> Toxicity().check("you are an idiot", None)[0].kind
    'toxicity.insult'
    >>> Toxicity().check("you are garbage and everyone hates you", None)[0].kind
    'toxicity.model'
    >>> Toxicity(model=False).check("you are garbage and everyone hates you", None)
    []
    """

    name: ClassVar[str] = "toxicity"
    redacts: ClassVar[bool] = True

    def __init__(self, threshold: float = 0.5, lexicon: str | None = None,
                 targeted_boost: float = 0.25, model: str | bool | None = True,
                 model_threshold: float | None = None, languages: list[str] | None = None
                 ) -> None:
        if not 0 < float(threshold) <= 1:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = float(threshold)
        self.boost = float(targeted_boost)
        try:
            self.terms = load_lexicon(lexicon or str(LEXICON))
        except OSError as exc:
            raise ValueError(f"cannot read lexicon {lexicon!r}: {exc.strerror}") from None
        # A term's leading letters must occur in the text for the term to match; a
        # substring test runs at C speed, so most terms skip their regex pass.
        self._prefixes = [_literal_prefix(t) for t in self.terms]
        self.model = verdict(model, model_threshold, languages, self.name)

    def matches(self, text: str) -> list[tuple[Term, int, int, float]]:
        found: dict[tuple[int, int], tuple[Term, int, int, float]] = {}
        for form, offsets in _forms(text):
            for term, prefix in zip(self.terms, self._prefixes):
                if prefix and prefix not in form:
                    continue
                for m in term.pattern.finditer(form):
                    if offsets is None:
                        start, end = m.start(), m.end()
                    else:
                        start, end = offsets[m.start()], offsets[m.end() - 1] + 1
                    weight = term.weight
                    if term.category == "insult" and _TARGETED.search(form[max(0, m.start() - 24):m.start()]):
                        weight = min(1.0, weight + self.boost)
                    previous = found.get((start, end))
                    if previous is None or previous[3] < weight:
                        found[(start, end)] = (term, start, end, weight)
        return sorted(found.values(), key=lambda t: t[1])

    def score(self, text: str, found: list[tuple[Term, int, int, float]] | None = None
              ) -> float:
        miss = 1.0
        seen: set[str] = set()
        for term, _, _, weight in self.matches(text) if found is None else found:
            if term.pattern.pattern in seen:
                continue  # repeating one word is not more toxic than saying it once
            seen.add(term.pattern.pattern)
            miss *= 1.0 - weight
        return round(1.0 - miss, 4)

    def check(self, text: str, context: Context | None = None) -> list[Finding]:
        found = self.matches(text)
        score = self.score(text, found)
        if score < self.threshold:
            derived = context.derived if context else None
            verdict = self.model.finding(text, "toxicity.model", derived) if self.model else None
            return [verdict] if verdict else []
        worst = max(found, key=lambda t: t[3])
        return [Finding(f"toxicity.{term.category}", start, end, score,
                        f"toxicity score {score:.2f} ({worst[0].category})")
                for term, start, end, _ in found]

    def redact(self, text: str, context: Context | None = None,
               findings: list[Finding] | None = None) -> str:
        return mask(text, self.check(text, context) if findings is None else findings,
                    lambda f: "*" * (f.end - f.start))
