"""Scorers of retrieval and of answers grounded in it.

Ranking scorers compare the documents a call retrieved (``EvalSample.retrieved``, best
first) with the case's ``relevant_ids`` (binary relevance): ``recall_at_k``,
``ndcg_at_k``, ``mrr``, ``context_precision`` (average precision of the retrieved list:
relevant passages ranked high score high) and ``context_recall`` (the share of the
relevant documents retrieved at all). A case without ``relevant_ids`` cannot be scored
by them (an error on that case, not a zero). ``faithfulness`` asks the LLM judge whether
the answer is supported by the retrieved passages (its prompt may use ``context``);
``groundedness`` is the same question with a built-in judge prompt, sent to the gateway
route named by ``model``, which is what hallucination monitoring runs online.

>>> s = EvalSample(inputs={}, expected=None, output="", retrieved=("a", "b", "c"),
...                relevant=("c", "x"))
>>> build({"type": "recall_at_k", "k": 3}).score(s, Context()).value
0.5
>>> build("mrr").score(s, Context()).value
0.3333333333333333
"""

from __future__ import annotations

import math
from typing import Any

from triops.client.template import PromptTemplate
from triops.core.errors import InvalidInput
from triops.llm.evals.scorers import (
    Context,
    EvalSample,
    Judge,
    LLMClient,
    ScoreValue,
    _Base,
    _need,
    build,  # noqa: F401 - the doctest above
    scorer,
)
from triops.llm.prompts.registry import ResolvedPrompt


def _relevant(sample: EvalSample) -> set[str]:
    if not sample.relevant:
        raise ValueError("the case has no relevant_ids to score retrieval against")
    return set(sample.relevant)


def _k(options: dict[str, Any], default: int = 10) -> int:
    k = options.get("k", default)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError("'k' must be a positive integer")
    return k


@scorer("recall_at_k")
class RecallAtK(_Base):
    name = "recall_at_k"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        relevant, k = _relevant(sample), _k(self.options)
        found = len(relevant & set(sample.retrieved[:k]))
        return ScoreValue(found / len(relevant), f"{found} of {len(relevant)} in the top {k}")


@scorer("ndcg_at_k")
class NdcgAtK(_Base):
    name = "ndcg_at_k"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        relevant, k = _relevant(sample), _k(self.options)
        dcg = sum(1 / math.log2(rank + 2) for rank, doc in enumerate(sample.retrieved[:k])
                  if doc in relevant)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
        return ScoreValue(dcg / ideal, f"DCG {dcg:.4f} of {ideal:.4f}")


@scorer("mrr")
class Mrr(_Base):
    name = "mrr"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        relevant, k = _relevant(sample), _k(self.options, 1000)
        for rank, doc in enumerate(sample.retrieved[:k], 1):
            if doc in relevant:
                return ScoreValue(1 / rank, f"first relevant at rank {rank}")
        return ScoreValue(0.0, "no relevant document retrieved")


@scorer("context_precision")
class ContextPrecision(_Base):
    name = "context_precision"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        relevant = _relevant(sample)
        hits, total = 0, 0.0
        for rank, doc in enumerate(sample.retrieved, 1):
            if doc in relevant:
                hits += 1
                total += hits / rank
        if hits == 0:
            return ScoreValue(0.0, f"none of {len(sample.retrieved)} passages relevant")
        return ScoreValue(total / hits, f"{hits} of {len(sample.retrieved)} passages relevant")


@scorer("context_recall")
class ContextRecall(_Base):
    name = "context_recall"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        relevant = _relevant(sample)
        found = len(relevant & set(sample.retrieved))
        return ScoreValue(found / len(relevant), f"{found} of {len(relevant)} retrieved")


@scorer("faithfulness")
class Faithfulness(Judge):
    """The LLM judge, given the retrieved passages as ``context``: is every claim of the
    answer supported by them? The prompt (``prompt: faithfulness@production``) may use
    input, output, context and rubric, and must answer with a number in [0, 1]."""

    name = "faithfulness"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.rubric = self.rubric or (
            "1 if every claim of the output is supported by the context, 0 if none is; "
            "the share of supported claims otherwise.")

    def variables(self, sample: EvalSample) -> dict[str, str]:
        if not sample.contexts:
            raise ValueError("the call retrieved no context to judge the answer against")
        context = "\n\n".join(f"[{n}] {text}" for n, text in enumerate(sample.contexts, 1))
        return {**super().variables(sample), "context": context}


_GROUNDEDNESS_PROMPT = PromptTemplate.chat([
    {"role": "system", "content":
        "You check whether an answer is grounded in the context it was given. {{ rubric }} "
        "Reply with the number alone."},
    {"role": "user", "content":
        "Context:\n{{ context }}\n\nQuestion:\n{{ input }}\n\nAnswer:\n{{ output }}"},
])


@scorer("groundedness")
class Groundedness(Faithfulness):
    """Hallucination check: the judge (the route ``model`` through the gateway, with a
    built-in prompt, or a registry prompt named by ``prompt``) says which share of the
    answer the retrieved context supports. A call scoring below ``ungrounded_below``
    (default 0.5) counts as ungrounded; online, the share of such calls is the
    evaluator's hallucination rate."""

    name = "groundedness"

    def __init__(self, options: dict[str, Any]) -> None:
        _Base.__init__(self, options)
        self.prompt_ref = options.get("prompt")
        if self.prompt_ref is None:
            _need(options, "model", str, "groundedness")
        elif not isinstance(self.prompt_ref, str):
            raise InvalidInput("scorer 'groundedness': 'prompt' must name a prompt")
        self.rubric = str(options.get("rubric") or (
            "Answer 1 if every claim of the answer is supported by the context, 0 if none "
            "is, and the share of supported claims otherwise."))
        cut = options.get("ungrounded_below", 0.5)
        if isinstance(cut, bool) or not isinstance(cut, (int, float)) or not 0 < cut <= 1:
            raise InvalidInput("scorer 'groundedness': 'ungrounded_below' must be a number "
                               "in (0, 1]")
        self.ungrounded_below = float(cut)

    def judge_prompt(self, llm: LLMClient) -> Any:
        if self.prompt_ref is not None:
            return llm.prompt(self.prompt_ref)
        return ResolvedPrompt(name="groundedness", version=0, label=None,
                              template=_GROUNDEDNESS_PROMPT, model=self.options["model"])
