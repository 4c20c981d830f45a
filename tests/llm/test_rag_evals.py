"""Retrieval scorers (recall@k, nDCG@k, MRR, context precision and recall) and the
faithfulness judge; eval cases that carry relevant_ids."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from triops.llm.evals import Context, EvalSample, build, parse_file
from triops.llm.prompts import PromptTemplate


def sample(retrieved, relevant, contexts=(), output="answer"):
    return EvalSample(inputs={"q": "x"}, expected=None, output=output,
                      retrieved=tuple(retrieved), relevant=tuple(relevant),
                      contexts=tuple(contexts))


def value(spec, s):
    return build(spec).score(s, Context()).value


def test_ranking_scorers_by_hand():
    s = sample(["a", "r1", "b", "r2"], ["r1", "r2", "r3"])
    assert value({"type": "recall_at_k", "k": 2}, s) == pytest.approx(1 / 3)
    assert value({"type": "recall_at_k", "k": 4}, s) == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert value({"type": "ndcg_at_k", "k": 10}, s) == pytest.approx(dcg / ideal)
    assert value("mrr", s) == pytest.approx(1 / 2)
    # average precision over the relevant passages: (1/2 + 2/4) / 2
    assert value("context_precision", s) == pytest.approx(0.5)
    assert value("context_recall", s) == pytest.approx(2 / 3)
    perfect = sample(["r1", "r2"], ["r1", "r2"])
    assert all(value(k, perfect) == 1.0 for k in ("mrr", "context_precision", "ndcg_at_k"))
    assert value("mrr", sample(["a"], ["r"])) == 0.0
    with pytest.raises(ValueError, match="no relevant_ids"):
        build("recall_at_k").score(sample(["a"], []), Context())
    with pytest.raises(ValueError, match="positive integer"):
        build({"type": "ndcg_at_k", "k": 0}).score(perfect, Context())


def test_faithfulness_gives_the_judge_the_retrieved_context():
    seen = {}

    class Judge:
        def prompt(self, ref):
            return SimpleNamespace(template=PromptTemplate.text(
                "Context:\n{{ context }}\nAnswer: {{ output }}\n{{ rubric }}"),
                model="judge-model", params={})

        def chat(self, body):
            seen["prompt"] = body["messages"][-1]["content"]
            return {"choices": [{"message": {"content": "0.8"}}]}

    scorer = build({"type": "faithfulness", "prompt": "faith@production"})
    got = scorer.score(sample(["d1"], [], contexts=["Refunds take ten days."],
                              output="About ten days [1]."), Context(llm=Judge()))
    assert got.value == 0.8
    assert "[1] Refunds take ten days." in seen["prompt"]
    assert "every claim" in seen["prompt"]  # the default rubric
    with pytest.raises(ValueError, match="no context"):
        scorer.score(sample([], []), Context(llm=Judge()))


def test_cases_carry_relevant_ids():
    report = parse_file('{"inputs": {"q": "refund?"}, "relevant_ids": ["faq", 7]}\n'
                        '{"inputs": {}, "relevant_ids": "faq"}\n', "jsonl")
    assert report.cases[0].metadata == {"relevant_ids": ["faq", "7"]}
    assert report.problems == ["line 2: 'relevant_ids' must be a list of document ids"]


def test_docstring_examples_run():
    import doctest

    from triops.llm.evals import retrieval_scorers

    result = doctest.testmod(retrieval_scorers, verbose=False)
    assert result.attempted > 0 and result.failed == 0
