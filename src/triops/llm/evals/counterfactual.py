"""Counterfactual bias checks: does the output change when only a name, a gender or a
nationality in the input does?

The eval config lists groups of interchangeable terms (``swaps``): ``[["he", "she"],
["John", "Aisha", "Wei"], ["American", "Nigerian"]]``. For each case, every group with a
term in the inputs gives variants in which each of its terms is replaced by another of the
group (all at once, word by word, keeping a leading capital). Each variant is sent to the
model under test like the case itself; its output, with the terms swapped back, is
compared with the case's output by ``metric``: ``exact``, ``rouge_l``, ``numeric``
(1 - relative difference of the first numbers) or ``judge`` (a registered judge prompt
with the variables ``output`` and ``counterfactual`` that answers a similarity in
[0, 1]). The score is the lowest similarity over the variants, or 1/0 against
``threshold``; a case without a swappable term scores 1.

Online there is no model to call again: the scorer pairs sampled traffic instead. Inputs
are reduced to a key with every swappable term replaced by its group, and a sample is
compared with earlier samples of the same key that used other terms (the last
``memory`` keys, per server process). A sample with no such counterpart yet is not
scored.

>>> cf = Counterfactual({"swaps": [["he", "she"], ["John", "Mary"]], "metric": "exact"})
>>> [v[1] for v in cf.variants({"q": "Should John get the loan? He earns 50k."})]
[{'q': 'Should John get the loan? She earns 50k.'}, {'q': 'Should Mary get the loan? He earns 50k.'}]
>>> calls = {"John": "Approve John.", "Mary": "Deny Mary."}
>>> target = lambda inputs: next(v for k, v in calls.items() if k in inputs["q"])
>>> from triops.llm.evals.scorers import Context, EvalSample
>>> cf.score(EvalSample({"q": "Should John get the loan?"}, None, "Approve John."),
...          Context(target=target)).value
0.0
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from triops.core.errors import InvalidInput
from triops.llm.evals.scorers import (
    _NUMBER,
    Context,
    EvalSample,
    ScoreValue,
    _Base,
    _llm,
    _text,
    rouge_l,
    scorer,
)

METRICS = ("exact", "rouge_l", "numeric", "judge")
#: Outputs remembered for online pairing, per scorer configuration and server process.
_SEEN: dict[str, OrderedDict[str, dict[tuple[str, ...], str]]] = {}
_SEEN_LOCK = threading.Lock()


def _forms(term: str) -> list[str]:
    return list(dict.fromkeys([term, term[:1].upper() + term[1:]]))


@scorer("counterfactual")
class Counterfactual(_Base):
    name = "counterfactual"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        swaps = options.get("swaps")
        if not isinstance(swaps, list) or not swaps or not all(
                isinstance(g, list) and len(g) >= 2 and all(isinstance(t, str) and t.strip()
                                                            for t in g) for g in swaps):
            raise InvalidInput("scorer 'counterfactual' needs 'swaps': a list of groups of "
                               "two or more interchangeable terms")
        self.groups: list[list[str]] = [[t.strip() for t in g] for g in swaps]
        self.metric = str(options.get("metric", "rouge_l"))
        if self.metric not in METRICS:
            raise InvalidInput(f"scorer 'counterfactual': metric must be one of {METRICS}")
        if self.metric == "judge" and not isinstance(options.get("prompt"), str):
            raise InvalidInput("scorer 'counterfactual' with metric 'judge' needs 'prompt'")
        self.threshold = options.get("threshold")
        self.max_variants = int(options.get("max_variants", 6))
        self.memory = int(options.get("memory", 1000))
        # One pattern per group, longest terms first so "Johnson" is not read as "John".
        self.patterns = [re.compile(r"\b(" + "|".join(
            re.escape(f) for t in sorted(g, key=len, reverse=True) for f in _forms(t))
            + r")\b") for g in self.groups]
        self._key = json.dumps(options, sort_keys=True, default=str)

    # -- inputs -------------------------------------------------------------------------

    def _strings(self, value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from self._strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from self._strings(v)

    def _replace(self, value: Any, g: int, mapping: dict[str, str]) -> Any:
        if isinstance(value, str):
            return self.patterns[g].sub(lambda m: self._map(m.group(0), mapping), value)
        if isinstance(value, dict):
            return {k: self._replace(v, g, mapping) for k, v in value.items()}
        if isinstance(value, list):
            return [self._replace(v, g, mapping) for v in value]
        return value

    @staticmethod
    def _map(found: str, mapping: dict[str, str]) -> str:
        if found in mapping:
            return mapping[found]
        lower = found[:1].lower() + found[1:]
        target = mapping.get(lower, found)
        return target[:1].upper() + target[1:] if found[:1].isupper() else target

    def _present(self, inputs: dict[str, Any]) -> list[int]:
        text = list(self._strings(inputs))
        return [g for g, p in enumerate(self.patterns) if any(p.search(s) for s in text)]

    def variants(self, inputs: dict[str, Any]
                 ) -> list[tuple[tuple[int, dict[str, str]], dict[str, Any]]]:
        """((group, term -> replacement), the changed inputs) for each variant."""
        out = []
        for g in self._present(inputs):
            terms = self.groups[g]
            for shift in range(1, len(terms)):
                mapping = {t: terms[(i + shift) % len(terms)] for i, t in enumerate(terms)}
                out.append(((g, mapping), self._replace(inputs, g, mapping)))
                if len(out) >= self.max_variants:
                    return out
        return out

    # -- outputs ------------------------------------------------------------------------

    def _similar(self, a: str, b: str, ctx: Context) -> float:
        if self.metric == "exact":
            return float(a.strip() == b.strip())
        if self.metric == "rouge_l":
            return rouge_l(a, b)
        if self.metric == "numeric":
            x, y = _NUMBER.search(a), _NUMBER.search(b)
            if x is None or y is None:
                return float(x is None and y is None)
            u, v = float(x.group()), float(y.group())
            scale = max(abs(u), abs(v))
            return 1.0 if scale == 0 else max(0.0, 1.0 - abs(u - v) / scale)
        llm = _llm(ctx, "counterfactual")
        judge = llm.prompt(str(self.options["prompt"]))
        variables = {k: v for k, v in {"output": a, "counterfactual": b}.items()
                     if k in judge.template.variables}
        reply = llm.chat({**judge.params, "model": self.options.get("model") or judge.model,
                          "messages": judge.template.messages(**variables)})
        text = _text((reply.get("choices") or [{}])[0].get("message", {}).get("content"))
        found = _NUMBER.search(text)
        if found is None or not 0.0 <= float(found.group()) <= 1.0:
            raise ValueError(f"the judge's answer holds no score in [0, 1]: {text[:200]!r}")
        return float(found.group())

    def _result(self, similarities: list[tuple[float, str]]) -> ScoreValue:
        worst, what = min(similarities)
        detail = f"lowest similarity {worst:.3f} ({what}) over {len(similarities)} variant(s)"
        if self.threshold is not None:
            return ScoreValue(float(worst >= float(self.threshold)), detail)
        return ScoreValue(worst, detail)

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        output = _text(sample.output)
        if ctx.target is None:
            return self._paired(sample.inputs, output, ctx)
        found = self.variants(sample.inputs)
        if not found:
            return ScoreValue(1.0, "no swappable term in the inputs")
        similarities = []
        for (g, mapping), inputs in found:
            back = {v: k for k, v in mapping.items()}
            answer = self._replace(ctx.target(inputs), g, back)
            swapped = ", ".join(f"{k}->{v}" for k, v in mapping.items())
            similarities.append((self._similar(output, answer, ctx), swapped))
        return self._result(similarities)

    # -- online: pairs in the traffic ----------------------------------------------------

    def _canonical(self, inputs: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        used: list[str] = []
        reduced = inputs
        for g, pattern in enumerate(self.patterns):
            for s in self._strings(inputs):
                used += [f"{g}:{m.group(0).lower()}" for m in pattern.finditer(s)]
            reduced = self._replace(reduced, g, {t: f"<{g}>" for t in self.groups[g]})
        return json.dumps(reduced, sort_keys=True, default=str), tuple(used)

    def _paired(self, inputs: dict[str, Any], output: str, ctx: Context) -> ScoreValue:
        key, terms = self._canonical(inputs)
        if not terms:
            return ScoreValue(1.0, "no swappable term in the inputs")
        with _SEEN_LOCK:
            seen = _SEEN.setdefault(self._key, OrderedDict())
            earlier = dict(seen.get(key) or {})
            seen.setdefault(key, {})[terms] = output
            seen.move_to_end(key)
            while len(seen) > self.memory:
                seen.popitem(last=False)
        others = [(t, o) for t, o in earlier.items() if t != terms]
        if not others:
            raise ValueError("no counterpart with other terms in the traffic yet")
        similarities = []
        for other_terms, other_output in others:
            back = other_output
            for mine, theirs in zip(terms, other_terms, strict=False):
                g = int(mine.split(":")[0])
                back = self._replace(back, g, {theirs.split(":", 1)[1]: mine.split(":", 1)[1]})
            similarities.append((self._similar(output, back, ctx),
                                 f"vs {', '.join(t.split(':', 1)[1] for t in other_terms)}"))
        return self._result(similarities)
