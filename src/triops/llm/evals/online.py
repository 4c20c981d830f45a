"""Online evaluation: score a sample of live traces continuously and raise a Signal when a
score falls.

Each enabled evaluator (``PUT /api/v1/evals/online/{name}``) is visited every few
seconds. Traces that started since its cursor (less a short lag, because spans are
written in the background) are sampled by a hash of the trace id, so a trace is either
always or never in the sample, and scored on their first LLM span. Scores are attached
to the trace (source ``code``, name ``<evaluator>/<scorer>``). Per scorer the evaluator
keeps the last ``window`` values; the first full window becomes the baseline. When the
window's mean falls below ``threshold``, or below the baseline by more than
``max_drop``, one ``eval_score_drop`` Signal goes to the incident engine; another
follows only after the mean has recovered.

A sampled trace is scored on its first LLM span (the answer, and the template's
variables or else the last user message as the input) and on the documents its RETRIEVER
spans recorded (the context, in span order). Scorers that call a model (judge,
faithfulness, groundedness, embedding) reach it through the server's own gateway (the
``LLMClient`` the server hands in, the same interface the offline runner gives them);
the judge's own calls carry ``triops.online_eval`` and are never sampled themselves.
Without a client they record an error. The ``counterfactual`` bias scorer needs no
second call here: it compares sampled traces whose inputs differ only by swapped terms
(see ``counterfactual``).

Hallucination monitoring: for a scorer that counts calls as ungrounded (``groundedness``,
below its ``ungrounded_below``) the evaluator also keeps the window's share of ungrounded
calls, writes it after each pass as the telemetry series ``triops_llm_ungrounded_rate``
(labels ``evaluator``, ``scorer``), which the anomaly detectors watch like any series,
and raises ``hallucination_rate`` when it exceeds ``max_ungrounded_rate``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.llm.evals.scorers import (
    Context,
    EvalSample,
    LLMClient,
    Scorer,
    ScoreValue,
    build,
)
from triops.llm.spans import SpanKind
from triops.llm.tracing import TraceFilter, add_score, get_trace, list_traces
from triops.store.engine import Database
from triops.store.leases import Lease
from triops.store.repos import evals as repo
from triops.store.schema_prompts import OnlineEvaluator

log = logging.getLogger("triops.llm.evals")
LAG_MS = 2_000
#: The span attribute that marks a judge's call made by online evaluation.
JUDGE_MARK = "triops.online_eval"
RATE_SERIES = "triops_llm_ungrounded_rate"
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def check_config(name: str, config: dict[str, Any]) -> list[Scorer]:
    if not name or len(name) > 128 or not set(name) <= _NAME_OK:
        raise InvalidInput(f"evaluator name {name!r} must be letters, digits, '_', '.', '-'")
    alarms = ("threshold", "max_drop", "max_ungrounded_rate")
    if all(config.get(key) is None for key in alarms):
        raise InvalidInput("give 'threshold', 'max_drop' or 'max_ungrounded_rate', or "
                           "nothing can alarm")
    scorers = [build(spec) for spec in config["scorers"]]
    if len({s.name for s in scorers}) != len(scorers):
        raise InvalidInput("two scorers share a name; give one a 'name'")
    if config.get("max_ungrounded_rate") is not None and not any(
            _cut(s) is not None for s in scorers):
        raise InvalidInput("'max_ungrounded_rate' needs a scorer that counts ungrounded "
                           "answers, such as 'groundedness'")
    return scorers


def _cut(scorer: Scorer) -> float | None:
    """The score below which ``scorer`` counts a call as ungrounded, if it counts them."""
    return getattr(scorer, "ungrounded_below", None)


def sampled(trace_id: str, rate: float) -> bool:
    bucket = int(hashlib.blake2b(trace_id.encode(), digest_size=4).hexdigest(), 16)
    return bucket / 0xFFFFFFFF < rate


def _text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    return "" if content is None else str(content)


def _documents(attrs: dict[str, Any]) -> list[tuple[str, str]]:
    """(id, content) of the documents a RETRIEVER span recorded: a list under
    ``retrieval.documents`` (triops' own spans), or OpenInference's flattened
    ``retrieval.documents.<n>.document.*`` keys (spans sent as they are)."""
    listed = attrs.get("retrieval.documents")
    if isinstance(listed, list):
        found = [d for d in listed if isinstance(d, dict)]
    else:
        by_index: dict[int, dict[str, Any]] = {}
        for key, value in attrs.items():
            index, dot, field = key.removeprefix("retrieval.documents.").partition(".")
            if dot and key.startswith("retrieval.documents.") and index.isdigit():
                by_index.setdefault(int(index), {})[field] = value
        found = [by_index[i] for i in sorted(by_index)]
    return [(str(d.get("document.id", "")), str(d["document.content"]))
            for d in found if d.get("document.content")]


def _last_user(messages: Any) -> str:
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message)
    return ""


def _sample(session: Session, project: str, trace_id: str, prompt: str | None
            ) -> EvalSample | None:
    try:
        detail = get_trace(session, project, trace_id)
    except NotFound:
        return None
    spans = sorted((n.span for n in detail.spans), key=lambda s: s.start_ns)
    llm = [s for s in spans if s.kind is SpanKind.llm]
    if not llm or any(JUDGE_MARK in s.attributes for s in llm):
        return None
    span = llm[0]
    attrs = span.attributes
    if prompt and attrs.get("triops.prompt.name") != prompt:
        return None
    outputs = attrs.get("llm.output_messages") or []
    variables = attrs.get("llm.prompt_template.variables")
    inputs = variables if isinstance(variables, dict) else {
        "input": _last_user(attrs.get("llm.input_messages"))}
    documents = [d for s in spans if s.kind is SpanKind.retriever
                 for d in _documents(s.attributes)]
    return EvalSample(inputs=inputs, expected=None,
                      output=_text(outputs[0]) if outputs else None,
                      latency_ms=span.duration_ms,
                      cost=float(attrs.get("triops.cost_usd") or 0.0),
                      tokens=int(attrs.get("llm.token_count.total") or 0),
                      retrieved=tuple(d[0] for d in documents),
                      contexts=tuple(d[1] for d in documents))


def _judge_rate(row: OnlineEvaluator, scorer: str, slot: dict[str, Any], cut: float
                ) -> Signal | None:
    """The window's share of ungrounded calls, kept in ``slot``; a signal when it passes
    ``max_ungrounded_rate`` (once, until it falls back)."""
    window, limit = slot["window"], row.config.get("max_ungrounded_rate")
    rate = sum(v < cut for v in window) / len(window)
    slot["ungrounded_rate"] = rate
    if limit is None or len(window) < int(row.config["window"]):
        return None
    high = rate > limit
    signal = None
    if high and not slot.get("rate_alarm"):
        signal = Signal(source=Pillar.llm, kind="hallucination_rate",
                        subject=f"evaluator:{row.name}", severity=Severity.warning,
                        value=rate, labels={"evaluator": row.name, "scorer": scorer},
                        summary=f"{rate:.0%} of the last {len(window)} answers scored by "
                                f"{row.name} are ungrounded (allowed: {limit:.0%})")
    slot["rate_alarm"] = high
    return signal


def _judge_window(row: OnlineEvaluator, scorer: str, values: list[float], cut: float | None
                  ) -> list[Signal]:
    config, state = row.config, dict(row.state)
    slot = dict(state.get(scorer) or {"window": [], "baseline": None, "alarm": False})
    window = (slot["window"] + values)[-int(config["window"]):]
    slot["window"] = window
    signals = []
    if cut is not None and window:
        rated = _judge_rate(row, scorer, slot, cut)
        signals += [rated] if rated is not None else []
    if len(window) >= int(config["window"]):
        mean = sum(window) / len(window)
        slot["mean"] = mean
        if slot["baseline"] is None:
            slot["baseline"] = mean
        threshold, drop = config.get("threshold"), config.get("max_drop")
        low = threshold is not None and mean < threshold
        fell = drop is not None and mean < slot["baseline"] - drop
        if (low or fell) and not slot["alarm"]:
            why = (f"below the threshold {threshold}" if low else
                   f"{slot['baseline'] - mean:.3f} below its baseline {slot['baseline']:.3f}")
            subject = (f"prompt:{config['prompt']}" if config.get("prompt")
                       else f"evaluator:{row.name}")
            signals.append(Signal(source=Pillar.llm, kind="eval_score_drop", subject=subject,
                            severity=Severity.warning, value=mean,
                            labels={"evaluator": row.name, "scorer": scorer},
                            summary=f"online score {scorer} of {row.name} is {mean:.3f}, {why}"))
        slot["alarm"] = bool(low or fell)
    state[scorer] = slot
    row.state = state
    return signals


@dataclass(frozen=True)
class _Claimed:
    """The samples one pass took from an evaluator, its cursor already moved past them."""

    config: dict[str, Any]
    samples: list[tuple[str, EvalSample]]


def _claim(session: Session, row: OnlineEvaluator, until_ms: int) -> _Claimed:
    """Take the sampled traces between ``row``'s cursor and ``until_ms`` and move the
    cursor: a replica that locks the row next starts after them, so each trace is
    scored once even though scoring happens outside this transaction."""
    config = row.config
    traces, _ = list_traces(session, row.project, TraceFilter(
        model=config.get("model"), start_ms=row.cursor_ms, end_ms=until_ms - 1, limit=1000))
    samples = []
    for trace in sorted(traces, key=lambda t: t.start_ms):
        if sampled(trace.trace_id, float(config["sample_rate"])):
            sample = _sample(session, row.project, trace.trace_id, config.get("prompt"))
            if sample is not None:
                samples.append((trace.trace_id, sample))
    row.cursor_ms = until_ms
    return _Claimed(dict(config), samples)


def _score(name: str, scorers: list[Scorer], claimed: _Claimed, ctx: Context
           ) -> list[tuple[str, str, ScoreValue]]:
    """(trace id, scorer, score) of every sample; judges are called here, with no
    transaction open, so a slow model holds no lock."""
    scored = []
    for trace_id, sample in claimed.samples:
        for scorer in scorers:
            try:
                scored.append((trace_id, scorer.name, scorer.score(sample, ctx)))
            except Exception as exc:  # noqa: BLE001 - one scorer's failure is logged, never fatal
                log.info("online scorer %s/%s failed on %s: %s", name, scorer.name,
                         trace_id, exc)
    return scored


def _record(session: Session, row: OnlineEvaluator, scorers: list[Scorer],
            scored: list[tuple[str, str, ScoreValue]], at_ms: int) -> list[Signal]:
    """Attach the scores to their traces, move the windows, write the ungrounded rates,
    and ingest the signals raised (which it returns)."""
    from triops.ops import MetricSample, ingest, ingest_samples

    values: dict[str, list[float]] = {s.name: [] for s in scorers}
    for trace_id, scorer_name, got in scored:
        values[scorer_name].append(float(got.value))
        add_score(session, row.project, trace_id, name=f"{row.name}/{scorer_name}",
                  value=float(got.value), comment=got.detail[:1000], source="code",
                  actor=f"online-eval:{row.name}")
    signals, rates = [], []
    for scorer in scorers:
        cut = _cut(scorer)
        for signal in _judge_window(row, scorer.name, values[scorer.name], cut):
            ingest(session, row.project, signal)
            signals.append(signal)
        if cut is not None and values[scorer.name]:
            rates.append(MetricSample(RATE_SERIES, at_ms,
                                      row.state[scorer.name]["ungrounded_rate"],
                                      {"evaluator": row.name, "scorer": scorer.name}))
    if rates:
        ingest_samples(session, row.project, rates)
    return signals


class OnlineEvaluation:
    """The background loop; one per server (the runtime starts it). Of several replicas
    on one store, the one holding the ``online-evals`` lease (``triops.store.leases``)
    scores. Each evaluator's window is claimed under its row lock, in the transaction
    that moves its cursor, then scored with no transaction open (a judge can be slow), so
    no two visits score one window; a replica that dies between the two leaves that
    window unscored rather than scoring it twice."""

    def __init__(self, db: Database, interval_s: float = 5.0,
                 clients: Callable[[str, dict[str, Any]], LLMClient] | None = None) -> None:
        """``clients(project, span attributes)`` gives scorers that call a model their
        gateway client; without it they record an error."""
        self._db = db
        self._interval_s = interval_s
        self.lease = Lease(db, "online-evals")
        self._clients = clients
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="triops-online-evals",
                                        daemon=True)

    def start(self) -> OnlineEvaluation:
        self._thread.start()
        return self

    def tick(self, until_ms: int | None = None) -> int:
        """One pass over every enabled evaluator up to ``until_ms`` (default: now less the
        write lag); returns the number of signals raised."""
        with self._db.read() as session:
            keys = [(r.project, r.name) for r in repo.enabled_online(session)]
        raised = 0
        for project, name in keys:
            try:
                raised += self._evaluate(project, name, until_ms or now_ms() - LAG_MS)
            except Exception:
                log.exception("online evaluator %s/%s failed", project, name)
        return raised

    def _evaluate(self, project: str, name: str, until_ms: int) -> int:
        with self._db.write() as session:
            row = repo.get_online(session, project, name, for_update=True)
            claimed = _claim(session, row, until_ms)
        scorers = check_config(name, claimed.config)
        llm = self._clients(project, {JUDGE_MARK: name}) if self._clients else None
        scored = _score(name, scorers, claimed, Context(llm=llm))
        if not scored and not claimed.samples:
            return 0
        with self._db.write() as session:
            row = repo.get_online(session, project, name, for_update=True)
            if row.config != claimed.config:
                return 0  # changed meanwhile: these scores belong to the old config
            return len(_record(session, row, scorers, scored, until_ms))

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                if self.lease.hold():
                    self.tick()
            except Exception:
                log.exception("online evaluation tick failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.lease.release()

