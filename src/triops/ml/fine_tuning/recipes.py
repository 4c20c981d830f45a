"""Fine-tuning recipes that run as triops pipelines, for teams that train themselves.

A fine-tuning pipeline takes two parameters, ``training`` (the job's chat JSONL file as
text) and ``hyperparameters`` (the job's, with ``seed`` added when the job has one), and
produces ``model`` (what is kept: bytes, or anything JSON can hold) and ``metrics`` (a
list of ``{"step": n, <name>: <number>, ...}``, which become the job's metrics events
and the run's metrics).

``answer_classifier`` is the recipe triops ships: it does not train a language model. It
fits a small softmax classifier that, given a user message, picks one of the assistant
answers of the training file — a reply selector for the questions people keep asking.
Features are hashed word unigrams and bigrams of the last user message; training is
full-batch gradient descent on the cross-entropy for ``n_epochs`` epochs (default 20)
with learning rate ``learning_rate_multiplier`` (default 1.0) × 0.5. The model is JSON:
the hashing width, the weights, the bias and the answers.

>>> line = '{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}'
>>> examples = parse(line)
>>> examples
[('2+2?', '4')]
>>> out = fit(examples, {"n_epochs": 5})
>>> predict(out["model"], "what is 2+2?")
'4'
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from typing import Any

import numpy as np

from triops.core.errors import InvalidInput
from triops.ml.pipelines import Pipeline

_DIMS = 1024

answer_classifier = Pipeline(
    "answer_classifier", params=["training", "hyperparameters"],
    description="a reply selector fitted on the chat fine-tuning file")


def _features(text: str) -> np.ndarray:
    words = re.findall(r"\w+", text.lower())
    vector = np.zeros(_DIMS)
    for gram in words + [f"{a} {b}" for a, b in itertools.pairwise(words)]:
        vector[int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=4).digest()) % _DIMS] += 1
    norm = np.linalg.norm(vector)
    return vector / norm if norm else vector


def parse(training: str) -> list[tuple[str, str]]:
    """(last user message, assistant answer) of every line of a chat JSONL file."""
    examples = []
    for number, line in enumerate(training.splitlines(), 1):
        if not line.strip():
            continue
        try:
            messages = json.loads(line)["messages"]
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(f"line {number} is not a chat example") from None
        users = [m.get("content") for m in messages if m.get("role") == "user"]
        answers = [m.get("content") for m in messages if m.get("role") == "assistant"]
        if users and answers and isinstance(users[-1], str) and isinstance(answers[-1], str):
            examples.append((users[-1], answers[-1]))
    if not examples:
        raise InvalidInput("the training file holds no user message with an answer")
    return examples


def fit(examples: list[tuple[str, str]], hyperparameters: dict[str, Any]) -> dict[str, Any]:
    """The fitted model and the loss and accuracy of every epoch."""
    epochs = int(hyperparameters.get("n_epochs", 20))
    rate = 0.5 * float(hyperparameters.get("learning_rate_multiplier", 1.0))
    answers = sorted({a for _, a in examples})
    x = np.stack([_features(q) for q, _ in examples])
    y = np.array([answers.index(a) for _, a in examples])
    rng = np.random.default_rng(int(hyperparameters.get("seed", 0)))
    weights = rng.normal(0, 0.01, (_DIMS, len(answers)))
    bias = np.zeros(len(answers))
    onehot = np.eye(len(answers))[y]
    metrics = []
    for epoch in range(1, epochs + 1):
        logits = x @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        loss = float(-np.log(probs[np.arange(len(y)), y] + 1e-12).mean())
        accuracy = float((probs.argmax(axis=1) == y).mean())
        metrics.append({"step": epoch, "train_loss": round(loss, 6),
                        "train_accuracy": round(accuracy, 6)})
        grad = (probs - onehot) / len(y)
        weights -= rate * len(answers) * (x.T @ grad)
        bias -= rate * grad.sum(axis=0)
    model = {"kind": "answer_classifier", "dims": _DIMS, "answers": answers,
             "weights": weights.round(6).tolist(), "bias": bias.round(6).tolist()}
    return {"model": model, "metrics": metrics}


def predict(model: dict[str, Any], question: str) -> str:
    """The answer the model picks for ``question``."""
    scores = _features(question) @ np.asarray(model["weights"]) + np.asarray(model["bias"])
    return str(model["answers"][int(scores.argmax())])


@answer_classifier.step(inputs=["training"], outputs=["examples"])
def read_examples(training: str) -> list[tuple[str, str]]:
    return parse(training)


@answer_classifier.step(inputs=["examples", "hyperparameters"], outputs=["model", "metrics"])
def train(examples: list[tuple[str, str]], hyperparameters: dict[str, Any]
          ) -> dict[str, Any]:
    return fit(examples, hyperparameters)
