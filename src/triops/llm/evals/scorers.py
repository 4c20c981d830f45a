"""Scorers: one protocol, one registry.

A scorer turns one ``EvalSample`` (a case's inputs, expected output, the model's output and
what the call cost) into a value in [0, 1] — 1 is good. Adding one is writing a class
with ``score`` and registering its factory with ``@scorer("kind")``; users register
theirs from their own package through the ``triops.scorers`` entry point group, or name
a plain function with ``{type: python, function: "pkg.module:fn"}``.

>>> build({"type": "contains", "value": "Paris"}).score(
...     EvalSample(inputs={}, expected=None, output="It is Paris."), Context()).value
1.0
"""

from __future__ import annotations

import importlib
import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jsonschema
import numpy as np

from triops.core.errors import InvalidInput
from triops.core.registry import Registry


@dataclass(frozen=True)
class EvalSample:
    inputs: dict[str, Any]
    expected: str | None
    output: str | None
    latency_ms: float = 0.0
    cost: float = 0.0
    tokens: int = 0
    #: Document ids the call retrieved, best first (a chat with ``retrieval``).
    retrieved: tuple[str, ...] = ()
    #: The retrieved passages' text, in the same order.
    contexts: tuple[str, ...] = ()
    #: The case's relevant document ids (its ``relevant_ids``).
    relevant: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScoreValue:
    value: float
    detail: str = ""


class LLMClient(Protocol):
    """What scorers that need a model use: the gateway, over HTTP or in process."""

    def chat(self, body: dict[str, Any]) -> dict[str, Any]: ...

    def embed(self, model: str, texts: list[str]) -> list[list[float]]: ...

    def prompt(self, ref: str) -> Any: ...  # a ResolvedPrompt


@dataclass
class Context:
    llm: LLMClient | None = None
    #: Calls the model under test again with other inputs and returns its output text
    #: (set by the eval runner for each case; absent online).
    target: Callable[[dict[str, Any]], str] | None = None


class Scorer(Protocol):
    name: str

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue: ...


Factory = Callable[[dict[str, Any]], Scorer]
#: Every scorer factory by type: the one place scorers are declared (the counterfactual
#: scorer lives in its own module, which the package imports).
SCORERS: Registry[Factory] = Registry("scorer type", group="triops.scorers")


def scorer(kind: str) -> Callable[[Factory], Factory]:
    """Decorator: register a scorer factory under ``kind``."""
    return SCORERS.register(name=kind)


kinds = SCORERS.names


def build(spec: str | dict[str, Any]) -> Scorer:
    """A scorer from its config: ``"exact"`` or ``{"type": "regex", "pattern": ...}``."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise InvalidInput(f"a scorer is a name or an object with 'type', got {spec!r}")
    factory = SCORERS.get(spec["type"])
    options = {k: v for k, v in spec.items() if k not in ("type", "name")}
    built = factory(options)
    if spec.get("name"):
        built.name = str(spec["name"])
    return built


def _need(options: dict[str, Any], key: str, kind: type | tuple[type, ...], scorer_name: str
          ) -> Any:
    if key not in options or not isinstance(options[key], kind):
        raise InvalidInput(f"scorer {scorer_name!r} needs option {key!r}")
    return options[key]


def _text(value: str | None) -> str:
    return "" if value is None else value


class _Base:
    name = "scorer"

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options


@scorer("exact")
class Exact(_Base):
    name = "exact"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        if sample.expected is None:
            raise ValueError("the case has no expected output to compare with")
        strip = self.options.get("strip", True)
        a, b = _text(sample.output), sample.expected
        if strip:
            a, b = a.strip(), b.strip()
        if self.options.get("ignore_case"):
            a, b = a.lower(), b.lower()
        return ScoreValue(float(a == b))


@scorer("contains")
class Contains(_Base):
    name = "contains"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        needle = self.options.get("value", sample.expected)
        if needle is None:
            raise ValueError("give 'value' or an expected output to look for")
        hay = _text(sample.output)
        if self.options.get("ignore_case"):
            return ScoreValue(float(str(needle).lower() in hay.lower()))
        return ScoreValue(float(str(needle) in hay))


@scorer("regex")
class Regex(_Base):
    name = "regex"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        try:
            self.pattern = re.compile(_need(options, "pattern", str, "regex"))
        except re.error as exc:
            raise InvalidInput(f"scorer 'regex': bad pattern: {exc}") from None

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        return ScoreValue(float(self.pattern.search(_text(sample.output)) is not None))


@scorer("json_schema")
class JsonSchema(_Base):
    name = "json_schema"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.schema = _need(options, "schema", dict, "json_schema")
        try:
            jsonschema.Draft202012Validator.check_schema(self.schema)
        except jsonschema.SchemaError as exc:
            raise InvalidInput(f"scorer 'json_schema': the schema is invalid: {exc.message}"
                               ) from None
        self.validator = jsonschema.Draft202012Validator(self.schema)

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        try:
            value = json.loads(_text(sample.output))
        except json.JSONDecodeError as exc:
            return ScoreValue(0.0, f"not JSON: {exc.msg}")
        error = next(iter(self.validator.iter_errors(value)), None)
        return ScoreValue(0.0, error.message) if error is not None else ScoreValue(1.0)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


@scorer("numeric")
class Numeric(_Base):
    """1 when the first number in the output is within ``tolerance`` of the expected one
    (absolute, or relative with ``relative: true``)."""

    name = "numeric"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        if sample.expected is None:
            raise ValueError("the case has no expected number")
        expected = float(sample.expected)
        found = _NUMBER.search(_text(sample.output))
        if found is None:
            return ScoreValue(0.0, "no number in the output")
        got = float(found.group())
        tolerance = float(self.options.get("tolerance", 0.0))
        if self.options.get("relative"):
            tolerance *= abs(expected)
        return ScoreValue(float(abs(got - expected) <= tolerance), f"got {got}")


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 on lower-cased word tokens (longest common subsequence)."""
    a, b = re.findall(r"\w+", candidate.lower()), re.findall(r"\w+", reference.lower())
    if not a or not b:
        return float(a == b)
    lcs = _lcs(a, b)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


@scorer("rouge_l")
class RougeL(_Base):
    name = "rouge_l"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        if sample.expected is None:
            raise ValueError("the case has no expected output to compare with")
        return ScoreValue(rouge_l(_text(sample.output), sample.expected))


@scorer("latency")
class Latency(_Base):
    name = "latency"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        ceiling = float(_need(self.options, "max_ms", (int, float), "latency"))
        return ScoreValue(float(sample.latency_ms <= ceiling), f"{sample.latency_ms:.0f} ms")


@scorer("cost")
class Cost(_Base):
    name = "cost"

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        ceiling = float(_need(self.options, "max_usd", (int, float), "cost"))
        return ScoreValue(float(sample.cost <= ceiling), f"${sample.cost:.6f}")


def _llm(ctx: Context, kind: str) -> LLMClient:
    if ctx.llm is None:
        raise RuntimeError(f"scorer {kind!r} calls a model through the gateway, and none is "
                           "configured here")
    return ctx.llm


@scorer("embedding")
class Embedding(_Base):
    """Cosine similarity of output and expected embeddings, from the gateway's
    ``/v1/embeddings``; with ``threshold`` the score is 1/0 against it."""

    name = "embedding"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.model = _need(options, "model", str, "embedding")

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        if sample.expected is None:
            raise ValueError("the case has no expected output to compare with")
        a, b = (np.asarray(v, dtype=float) for v in _llm(ctx, "embedding").embed(
            self.model, [_text(sample.output), sample.expected]))
        norm = float(np.linalg.norm(a) * np.linalg.norm(b))
        cosine = float(a @ b / norm) if norm else 0.0
        threshold = self.options.get("threshold")
        if threshold is not None:
            return ScoreValue(float(cosine >= float(threshold)), f"cosine {cosine:.4f}")
        return ScoreValue(max(0.0, min(1.0, cosine)), f"cosine {cosine:.4f}")


_JUDGE_VARIABLES = ("input", "output", "expected", "rubric")


@scorer("judge")
class Judge(_Base):
    """LLM-as-judge: the judge prompt comes from the registry (``prompt: judge@production``)
    and may use the variables input, output, expected and rubric; the judge's answer must
    hold a number in [0, 1] (the first number found is the score)."""

    name = "judge"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.prompt_ref = _need(options, "prompt", str, "judge")
        self.rubric = str(options.get("rubric", ""))

    def variables(self, sample: EvalSample) -> dict[str, str]:
        """What the judge prompt may use."""
        return {"input": json.dumps(sample.inputs, ensure_ascii=False),
                "output": _text(sample.output), "expected": _text(sample.expected),
                "rubric": self.rubric}

    def judge_prompt(self, llm: LLMClient) -> Any:
        """The judge's prompt (a ``ResolvedPrompt``)."""
        return llm.prompt(self.prompt_ref)

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        llm = _llm(ctx, self.name)
        judge = self.judge_prompt(llm)
        given = self.variables(sample)
        variables = {k: v for k, v in given.items() if k in judge.template.variables}
        body = {**judge.params, "model": self.options.get("model") or judge.model,
                "messages": judge.template.messages(**variables)}
        reply = llm.chat(body)
        text = _text((reply.get("choices") or [{}])[0].get("message", {}).get("content"))
        found = _NUMBER.search(text)
        if found is None:
            raise ValueError(f"the judge's answer holds no score: {text[:200]!r}")
        value = float(found.group())
        if not 0.0 <= value <= 1.0 or math.isnan(value):
            raise ValueError(f"the judge's score {value} is outside [0, 1]")
        return ScoreValue(value, text[:500])


@scorer("python")
class Python(_Base):
    """A user function ``fn(output, expected, inputs)`` returning a number, a bool or
    ``{"value": ..., "detail": ...}``; ``path`` is added to ``sys.path`` first."""

    name = "python"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        target = _need(options, "function", str, "python")
        module_name, sep, attr = target.partition(":")
        if not sep or not module_name or not attr:
            raise InvalidInput(f"scorer 'python': function must be 'module:function', "
                               f"got {target!r}")
        if options.get("path"):
            folder = str(Path(str(options["path"])).resolve())
            if folder not in sys.path:
                sys.path.insert(0, folder)
        try:
            self.fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise InvalidInput(f"scorer 'python': cannot load {target!r}: {exc}") from None
        self.name = attr

    def score(self, sample: EvalSample, ctx: Context) -> ScoreValue:
        got = self.fn(sample.output, sample.expected, sample.inputs)
        if isinstance(got, dict):
            return ScoreValue(float(got["value"]), str(got.get("detail", "")))
        return ScoreValue(float(got))
