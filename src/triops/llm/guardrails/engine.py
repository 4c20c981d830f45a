"""Applies guardrail rules to a gateway call: input before it, output after it.

The gateway hands ``around`` its call trace, the request body and a function that
serves a body; everything guardrails do happens here. Input rules run over every text
the request's messages carry, whatever their role: content strings and text parts,
refusals, and tool and function call arguments (redaction replaces it, so the upstream
never sees the original). A rule scoped to routes applies to every request that may be
served through one of them: the route it names and the routes it falls back into.
Output rules run over the answer's choices, and a rule that can re-ask (a JSON schema)
re-sends the conversation with its complaint appended, a bounded number of times.
Streamed requests under output rules follow ``_stream``: served whole and replayed when a
rule may change or refuse the answer, checked after the stream when rules only flag.
Every rule that runs becomes one GUARDRAIL span, a child of the call's gateway span, and
one check record that the dashboard and the block-rate spike check count.

A check that fails to run (its embedding upstream is down…) fails closed in block mode
(the request is refused with a 502 naming the rule) and open in the other modes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from triops.core.errors import InvalidInput, UpstreamError
from triops.core.guardrail_settings import GuardrailRule, GuardrailSettings
from triops.core.signals import Signal
from triops.llm.guardrails._base import Context, Finding
from triops.llm.guardrails._derived import DerivedOnce
from triops.llm.guardrails._log import CheckLog, observe
from triops.llm.guardrails._registry import build
from triops.llm.guardrails._stream import replay, then
from triops.llm.guardrails.spikes import BlockRateSpikes
from triops.llm.spans import Span, SpanKind, SpanStatus
from triops.store.engine import Database
from triops.store.records import RecordRow
from triops.store.repos import guardrails as repo

log = logging.getLogger("triops.llm.guardrails")

Serve = Callable[[Any, dict[str, Any]], Awaitable[Any]]
_OUTCOME = {"block": "blocked", "redact": "redacted", "flag": "flagged"}


class CheckSink(Protocol):
    """Where the spans and records of the checks that ran go (written off the request)."""

    def record(self, project: str, span: Span, row: RecordRow) -> None: ...

    def flush(self, timeout: float = 10.0) -> bool: ...

    def close(self) -> None: ...


class GuardrailBlocked(InvalidInput):
    """A rule in block mode found something; OpenAI clients see ``guardrail_blocked``."""

    code = "guardrail_blocked"

    def __init__(self, rule: str, message: str, param: str | None = None) -> None:
        super().__init__(message, code="guardrail_blocked")
        self.rule = rule
        self.param = param


@dataclass(frozen=True)
class Rule:
    config: GuardrailRule
    guard: Any

    @property
    def name(self) -> str:
        return self.config.name

    def applies(self, stage: str, routes: frozenset[str], key_id: str) -> bool:
        c = self.config
        return (c.enabled and c.stage in (stage, "both")
                and (not c.routes or not routes.isdisjoint(c.routes))
                and (not c.keys or key_id in c.keys))


def _span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def compile_rule(config: GuardrailRule) -> Rule:
    """Build a rule's guardrail; ``InvalidInput`` says what is wrong with it."""
    guard = build(config.check, config.options)
    if config.mode == "redact" and not getattr(guard, "redacts", False):
        raise InvalidInput(f"rule {config.name!r}: check {config.check!r} cannot redact; "
                           "use mode 'block' or 'flag'", code="invalid_request_error")
    return Rule(config, guard)


Path = tuple[str | int, ...]


@dataclass
class _Text:
    """One text the rules of a request read, where it came from, and how a redaction is
    written back there; each rule reads what the rules before it left."""

    where: str
    role: str
    text: str
    write: Callable[[str], None]

    def put(self, new: str) -> None:
        self.text = new
        self.write(new)


def _text_paths(message: dict[str, Any]) -> list[tuple[Path, str]]:
    """Every text a message carries, whatever its role: the content (a string or parts
    with text or a refusal), a refusal, and the arguments of the calls it makes."""
    found: list[tuple[Path, str]] = []
    content = message.get("content")
    if isinstance(content, str):
        found.append((("content",), content))
    elif isinstance(content, list):
        for i, part in enumerate(content):
            for field_name in ("text", "refusal"):
                if isinstance(part, dict) and isinstance(part.get(field_name), str):
                    found.append((("content", i, field_name), part[field_name]))
    if isinstance(message.get("refusal"), str):
        found.append((("refusal",), message["refusal"]))
    for i, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            found.append((("tool_calls", i, "function", "arguments"), function["arguments"]))
    function_call = message.get("function_call")
    if isinstance(function_call, dict) and isinstance(function_call.get("arguments"), str):
        found.append((("function_call", "arguments"), function_call["arguments"]))
    return found


def _where(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _replace(container: Any, path: Path, text: str) -> None:
    """Set the text at ``path``, copying each list or object on the way: redaction
    never edits the caller's body."""
    head, *rest = path
    if not rest:
        container[head] = text
        return
    child = container[head]
    container[head] = child = list(child) if isinstance(child, list) else dict(child)
    _replace(child, tuple(rest), text)


def _summary(findings: list[Finding]) -> str:
    # Kinds and counts only: an error message must not echo the personal data it found.
    messages = [f.message for f in findings if f.message]
    if messages:
        return messages[0]
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return "found " + ", ".join(f"{k}" + (f" x{n}" if n > 1 else "") for k, n in counts.items())


class GuardrailEngine:
    def __init__(self, settings: GuardrailSettings, db: Database,
                 embed: Callable[[str, str, list[str]], Awaitable[list[list[float]]]] | None = None,
                 refresh_s: float = 5.0, log: CheckSink | None = None) -> None:
        """``log`` writes each check's span and record (``record(project, span, row)``,
        ``flush()``, ``close()``) and feeds it to ``observe_check``; by default a
        ``CheckLog`` of the engine's own."""
        self.settings = settings
        self._db = db
        self._embed = embed
        self.spikes = BlockRateSpikes(settings)
        self.log: CheckSink = log if log is not None else CheckLog(db, self.spikes)
        self._refresh_s = refresh_s
        self._file_rules = [compile_rule(r) for r in settings.rules]
        self.rules: list[Rule] = []
        #: The routes whose rules govern a request for a model name; the gateway's
        #: routing table answers (the name and what it falls back into).
        self.routes_for: Callable[[str], frozenset[str]] = lambda model: frozenset((model,))
        self.version: tuple[int, int] = (-1, -1)
        self.reload()
        self._next_refresh = time.monotonic() + refresh_s
        self._refreshing = False

    def observe_check(self, project: str, row: RecordRow) -> list[Signal]:
        """Count a written check in the block-rate spike check (for a ``log`` given)."""
        return observe(self.spikes, project, row)

    # -- configuration -------------------------------------------------------------

    def reload(self) -> None:
        """Re-read stored rules now (after this process changed them)."""
        with self._db.read() as session:
            version = repo.version(session)
            stored = [(row.name, row.spec) for row in repo.list_rules(session)]
        rules = {r.name: r for r in self._file_rules}
        for name, spec in stored:
            try:
                rules[name] = compile_rule(GuardrailRule(name=name, **spec))
            except Exception as exc:  # noqa: BLE001  validated when stored; a plug-in may be gone
                log.error("stored guardrail rule %r is skipped: %s", name, exc)
        self.rules, self.version = list(rules.values()), version
        self._next_refresh = time.monotonic() + self._refresh_s

    def _maybe_refresh(self) -> None:
        # Other replicas may have changed the stored rules: check now and then, off-path.
        if self._refreshing or time.monotonic() < self._next_refresh:
            return
        self._refreshing = True
        self._next_refresh = time.monotonic() + self._refresh_s

        async def refresh() -> None:
            try:
                version = await anyio.to_thread.run_sync(self._stored_version)
                if version != self.version:
                    await anyio.to_thread.run_sync(self.reload)
            except Exception:
                log.exception("could not refresh the guardrail rules")
            finally:
                self._refreshing = False

        asyncio.get_running_loop().create_task(refresh())

    def _stored_version(self) -> tuple[int, int]:
        with self._db.read() as session:
            return repo.version(session)

    def applicable(self, stage: str, route: str, key_id: str) -> list[Rule]:
        if not self.settings.enabled:
            return []
        routes = self.routes_for(route)
        return [r for r in self.rules if r.applies(stage, routes, key_id)]

    # -- running -------------------------------------------------------------------

    async def run_check(self, rule: Rule, text: str, context: Context) -> list[Finding]:
        result = rule.guard.check(text, context)
        if inspect.isawaitable(result):
            result = await result
        return list(result)

    def context(self, trace: Any, stage: str, role: str = "") -> Context:
        """The context of a request's checks: embeddings as the caller's project, and one
        ``derived`` that every check of the request reads (``_apply`` gives each text a
        copy with its role)."""
        embed = None
        if self._embed is not None:
            outer = self._embed

            async def embed(model: str, texts: list[str]) -> list[list[float]]:
                return await outer(trace.project, model, texts)
        return Context(stage=stage, route=trace.route, key_id=trace.key_id, role=role,  # type: ignore[arg-type]
                       embed=embed, derived=DerivedOnce())

    def _record(self, trace: Any, rule: Rule, stage: str, outcome: str, started: float,
                start_ns: int, found: list[tuple[str, Finding]], error: str = "") -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        c = rule.config
        attributes = {
            "openinference.span.kind": "GUARDRAIL", "triops.guardrail.rule": c.name,
            "triops.guardrail.check": c.check, "triops.guardrail.stage": stage,
            "triops.guardrail.mode": c.mode, "triops.guardrail.outcome": outcome,
            "triops.guardrail.findings": [
                {"where": where, "kind": f.kind, "start": f.start, "end": f.end,
                 "score": round(f.score, 4), "message": f.message} for where, f in found[:50]],
            "triops.gateway.route": trace.route, "triops.key": trace.key_id,
            "triops.latency_ms": round(elapsed_ms, 3),
        }
        if error:
            attributes["error.message"] = error
        span = Span(trace_id=trace.trace_id, span_id=_span_id(),
                    parent_span_id=trace.span_id, name=f"guardrail {c.name}"[:512],
                    start_ns=start_ns,
                    end_ns=start_ns + int(elapsed_ms * 1e6), kind=SpanKind.guardrail,
                    status=SpanStatus.error if error else SpanStatus.ok,
                    status_message=error[:2000], attributes=attributes,
                    service_name="triops-gateway")
        row = RecordRow(stream=c.name, ts_ms=start_ns // 1_000_000, data={
            "outcome": outcome, "stage": stage, "check": c.check, "route": trace.route,
            "latency_ms": round(elapsed_ms, 3)})
        self.log.record(trace.project, span, row)
        trace.extra.setdefault("triops.guardrails", []).append(f"{c.name}:{stage}:{outcome}")

    async def _apply(self, trace: Any, rule: Rule, request: Context, items: list[_Text]
                     ) -> list[Finding]:
        """Run one rule over a request's texts; returns what it found. Each text's check
        gets a context of its own, with the request's embedder and ``derived``."""
        stage = request.stage
        started, start_ns = time.perf_counter(), time.time_ns()
        found: list[tuple[str, Finding]] = []
        try:
            for item in items:
                context = Context(stage=stage, route=request.route, key_id=request.key_id,
                                  role=item.role, embed=request.embed,
                                  derived=request.derived)
                findings = await self.run_check(rule, item.text, context)
                if findings and rule.config.mode == "redact":
                    item.put(rule.guard.redact(item.text, None, findings))
                found += [(item.where, f) for f in findings]
        except Exception as exc:  # noqa: BLE001  any check's failure is the rule's, reported
            message = f"guardrail rule {rule.name!r} could not run: {exc}"
            self._record(trace, rule, stage, "error", started, start_ns, found, message)
            if rule.config.mode == "block":
                raise UpstreamError(message, code="guardrail_error") from None
            log.warning("%s (mode %s: let through)", message, rule.config.mode)
            return []
        outcome = _OUTCOME[rule.config.mode] if found else "passed"
        self._record(trace, rule, stage, outcome, started, start_ns, found)
        if found and rule.config.mode == "block" and not getattr(rule.guard, "reasks", False):
            raise GuardrailBlocked(rule.name, f"blocked by guardrail rule {rule.name!r} "
                                   f"({rule.config.check}, {stage}): {_summary([f for _, f in found])}",
                                   param=found[0][0])
        return [f for _, f in found]

    async def check_input(self, trace: Any, body: dict[str, Any]) -> dict[str, Any]:
        """The body the upstream may see: refused, redacted or passed by input rules."""
        rules = self.applicable("input", trace.route, trace.key_id)
        if not rules:
            return body
        messages = [dict(m) for m in body["messages"]]  # redaction never edits the caller's
        body = {**body, "messages": messages}
        items = []
        for index, message in enumerate(messages):
            for path, text in _text_paths(message):
                def write(new: str, m: dict[str, Any] = message, p: Path = path) -> None:
                    _replace(m, p, new)
                items.append(_Text(f"messages[{index}].{_where(path)}", message["role"], text,
                                   write))
        request = self.context(trace, "input")
        for rule in rules:
            await self._apply(trace, rule, request, items)
        return body

    async def check_output(self, trace: Any, body: dict[str, Any], result: dict[str, Any],
                           serve: Serve, reasked: int = 0) -> dict[str, Any]:
        rules = self.applicable("output", trace.route, trace.key_id)
        if not rules:
            return result
        items = []
        for index, choice in enumerate(result.get("choices") or ()):
            message = choice.get("message") or {}
            if isinstance(message.get("content"), str):
                def write(new: str, m: dict[str, Any] = message) -> None:
                    m["content"] = new
                items.append(_Text(f"choices[{index}].message.content", "assistant",
                                   message["content"], write))
        request = self.context(trace, "output")
        for rule in rules:
            findings = await self._apply(trace, rule, request, items)
            if findings and rule.config.mode == "block":  # a rule that re-asks
                if reasked < rule.guard.max_reasks:
                    answer = items[0].text if items else ""
                    again = {**body, "messages": [*body["messages"],
                                                  {"role": "assistant", "content": answer},
                                                  rule.guard.reask_message(findings)]}
                    # The re-asked call is a span of its own under the call's span.
                    retry = dataclasses.replace(
                        trace, body=again, span_id=_span_id(), parent_span_id=trace.span_id,
                        recorded=False, start_ns=time.time_ns(), started=time.perf_counter(),
                        attempts=[], first_token_ms=None, output=None, usage=None, cost=0.0,
                        error="", cache="off", extra={
                            **{k: v for k, v in trace.extra.items() if k != "triops.guardrails"},
                            "triops.guardrail.reask": reasked + 1})
                    answer_again = await serve(retry, again)
                    return await self.check_output(retry, again, answer_again, serve,
                                                   reasked + 1)
                trace.output = None  # the span must not keep the answer the rule refused
                raise GuardrailBlocked(rule.name, f"blocked by guardrail rule {rule.name!r} "
                                       f"({rule.config.check}, output, after {reasked} "
                                       f"re-asks): {_summary(findings)}",
                                       param=items[0].where if items else None)
        return result

    async def around(self, trace: Any, body: dict[str, Any], serve: Serve) -> Any:
        """Serve ``body`` through ``serve(trace, body)`` with the rules that apply."""
        self._maybe_refresh()
        try:
            body = await self.check_input(trace, body)
        except GuardrailBlocked:
            # The call's span must not keep what the rule refused (a secret, an attack).
            trace.body = {k: v for k, v in body.items() if k != "messages"}
            raise
        trace.body = body  # the trace keeps what was sent, not what was redacted away
        output_rules = self.applicable("output", trace.route, trace.key_id)
        if body.get("stream") and output_rules:
            return await self._guard_stream(trace, body, serve, output_rules)
        result = await serve(trace, body)
        if not isinstance(result, dict):
            return result
        return await self.check_output(trace, body, result, serve)

    async def _guard_stream(self, trace: Any, body: dict[str, Any], serve: Serve,
                            rules: list[Rule]) -> Any:
        if any(r.config.mode != "flag" for r in rules):
            # Nothing may reach the caller before the answer is checked: serve it whole.
            whole = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
            trace.body = whole
            result = await self.check_output(trace, whole, await serve(trace, whole), serve)
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return replay(result, include_usage)

        async def flag() -> None:
            message = (trace.output or [{}])[0] or {}
            if isinstance(message.get("content"), str):
                items = [_Text("choices[0].message.content", "assistant", message["content"],
                               lambda _new: None)]
                request = self.context(trace, "output")
                for rule in rules:
                    await self._apply(trace, rule, request, items)

        return then(await serve(trace, body), flag)

    def close(self) -> None:
        self.log.close()
