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

Scorers that call a model (judge, embedding) have no gateway client here and record an
error; online evaluation is meant for the cheap scorers (regex, JSON schema, contains,
latency, cost, user Python functions). The ``counterfactual`` bias scorer needs no
second call here: it compares sampled traces whose inputs differ only by swapped terms
(see ``counterfactual``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput, NotFound
from triops.core.ids import now_ms
from triops.core.signals import Pillar, Severity, Signal
from triops.llm.evals.scorers import Context, EvalSample, Scorer, build
from triops.llm.spans import SpanKind
from triops.llm.tracing import TraceFilter, add_score, get_trace, list_traces
from triops.store.engine import Database
from triops.store.leases import Lease
from triops.store.repos import evals as repo
from triops.store.schema_prompts import OnlineEvaluator

log = logging.getLogger("triops.llm.evals")
LAG_MS = 2_000
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def check_config(name: str, config: dict[str, Any]) -> list[Scorer]:
    if not name or len(name) > 128 or not set(name) <= _NAME_OK:
        raise InvalidInput(f"evaluator name {name!r} must be letters, digits, '_', '.', '-'")
    if config.get("threshold") is None and config.get("max_drop") is None:
        raise InvalidInput("give 'threshold', 'max_drop' or both, or nothing can alarm")
    scorers = [build(spec) for spec in config["scorers"]]
    if len({s.name for s in scorers}) != len(scorers):
        raise InvalidInput("two scorers share a name; give one a 'name'")
    return scorers


def sampled(trace_id: str, rate: float) -> bool:
    bucket = int(hashlib.blake2b(trace_id.encode(), digest_size=4).hexdigest(), 16)
    return bucket / 0xFFFFFFFF < rate


def _text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    return "" if content is None else str(content)


def _sample(session: Session, project: str, trace_id: str, prompt: str | None
            ) -> EvalSample | None:
    try:
        detail = get_trace(session, project, trace_id)
    except NotFound:
        return None
    llm = [n.span for n in detail.spans if n.span.kind is SpanKind.llm]
    if not llm:
        return None
    span = llm[0]
    attrs = span.attributes
    if prompt and attrs.get("triops.prompt.name") != prompt:
        return None
    outputs = attrs.get("llm.output_messages") or []
    variables = attrs.get("llm.prompt_template.variables")
    return EvalSample(inputs=variables if isinstance(variables, dict) else {}, expected=None,
                  output=_text(outputs[0]) if outputs else None,
                  latency_ms=span.duration_ms, cost=float(attrs.get("triops.cost_usd") or 0.0),
                  tokens=int(attrs.get("llm.token_count.total") or 0))


def _judge_window(row: OnlineEvaluator, scorer: str, values: list[float]) -> Signal | None:
    config, state = row.config, dict(row.state)
    slot = dict(state.get(scorer) or {"window": [], "baseline": None, "alarm": False})
    window = (slot["window"] + values)[-int(config["window"]):]
    slot["window"] = window
    signal = None
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
            signal = Signal(source=Pillar.llm, kind="eval_score_drop", subject=subject,
                            severity=Severity.warning, value=mean,
                            labels={"evaluator": row.name, "scorer": scorer},
                            summary=f"online score {scorer} of {row.name} is {mean:.3f}, {why}")
        slot["alarm"] = bool(low or fell)
    state[scorer] = slot
    row.state = state
    return signal


def evaluate(session: Session, row: OnlineEvaluator, until_ms: int) -> list[Signal]:
    """Score the sampled traces of ``row`` between its cursor and ``until_ms``; returns
    the signals raised (already ingested in ``session``)."""
    from triops.ops import ingest

    config = row.config
    scorers = check_config(row.name, config)
    traces, _ = list_traces(session, row.project, TraceFilter(
        model=config.get("model"), start_ms=row.cursor_ms, end_ms=until_ms - 1, limit=1000))
    values: dict[str, list[float]] = {s.name: [] for s in scorers}
    ctx = Context()
    for trace in sorted(traces, key=lambda t: t.start_ms):
        if not sampled(trace.trace_id, float(config["sample_rate"])):
            continue
        sample = _sample(session, row.project, trace.trace_id, config.get("prompt"))
        if sample is None:
            continue
        for scorer in scorers:
            try:
                got = scorer.score(sample, ctx)
            except Exception as exc:  # noqa: BLE001 - one scorer's failure is logged, never fatal
                log.info("online scorer %s/%s failed on %s: %s", row.name, scorer.name,
                         trace.trace_id, exc)
                continue
            values[scorer.name].append(float(got.value))
            add_score(session, row.project, trace.trace_id, name=f"{row.name}/{scorer.name}",
                      value=float(got.value), comment=got.detail[:1000], source="code",
                      actor=f"online-eval:{row.name}")
    row.cursor_ms = until_ms
    signals = []
    for name, got_values in values.items():
        signal = _judge_window(row, name, got_values)
        if signal is not None:
            ingest(session, row.project, signal)
            signals.append(signal)
    return signals


class OnlineEvaluation:
    """The background loop; one per server (the runtime starts it). Of several replicas
    on one store, the one holding the ``online-evals`` lease (``triops.store.leases``)
    scores; each evaluator's window is also scored under its row lock in the transaction
    that moves its cursor, so a window is scored once even by a replica that died half-way
    (its transaction rolls back and the next holder scores the window again)."""

    def __init__(self, db: Database, interval_s: float = 5.0) -> None:
        self._db = db
        self._interval_s = interval_s
        self.lease = Lease(db, "online-evals")
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
                with self._db.write() as session:
                    row = repo.get_online(session, project, name, for_update=True)
                    raised += len(evaluate(session, row, until_ms or now_ms() - LAG_MS))
            except Exception:
                log.exception("online evaluator %s/%s failed", project, name)
        return raised

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

