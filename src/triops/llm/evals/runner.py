"""Eval runs: one prompt version × one model × one dataset, through the gateway, over HTTP.

The runner lives where ``triops eval run`` runs, not in the server: every case goes to the
server's own ``/v1/chat/completions`` with the caller's key (so the gateway's routing,
budgets and tracing apply and each case gets a trace), user scorers are imported from
the user's own code, and results are stored through the native API in batches as
cases finish. The prompt is pinned to one version when the run starts, so a label
moved during the run does not mix two versions in one run.

Failures stay local: a case whose call fails is stored with its error, a scorer that
raises stores that score's error, and the run goes on; every finished case is sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import httpx

from triops.client.template import PromptTemplate
from triops.core.errors import (
    InvalidInput,
    NotFound,
    PermissionDenied,
    TriopsError,
    Unauthenticated,
    UpstreamError,
)
from triops.llm.evals.compare import failed_gates
from triops.llm.evals.config import EvalConfig
from triops.llm.evals.scorers import Context, EvalSample
from triops.llm.prompts.registry import PromptRef, ResolvedPrompt
from triops.store.repos.evals import CaseData

_BATCH = 25


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(body.get("message") or body)[:1000]


class ServerClient:
    """The triops server as the runner and model-using scorers see it."""

    def __init__(self, url: str, api_key: str | None, project: str | None = None,
                 timeout_s: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if project:
            headers["X-Triops-Project"] = project
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)
        self._prompts: dict[str, ResolvedPrompt] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"cannot reach the triops server at {self.http.base_url}: "
                                f"{exc}") from None
        if response.status_code == 404:
            raise NotFound(_message(response))
        if response.status_code == 401:
            raise Unauthenticated(f"{method} {path}: {_message(response)}")
        if response.status_code == 403:
            raise PermissionDenied(f"{method} {path}: {_message(response)}")
        if 400 <= response.status_code < 500:
            raise InvalidInput(f"{method} {path}: {_message(response)}")
        if response.status_code >= 500:
            raise UpstreamError(f"{method} {path}: {_message(response)}")
        if not response.content:  # 204 No Content (a delete)
            return None
        return response.json()

    # -- what scorers use ------------------------------------------------------------

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/v1/chat/completions", json=body)

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        reply = self.call("POST", "/v1/embeddings", json={"model": model, "input": texts})
        return [d["embedding"] for d in sorted(reply["data"], key=lambda d: d["index"])]

    def prompt(self, ref: str) -> ResolvedPrompt:
        with self._lock:
            hit = self._prompts.get(ref)
        if hit is not None:
            return hit
        parsed = PromptRef.parse(ref)
        params = {"label": parsed.label} if parsed.label else (
            {"version": parsed.version} if parsed.version else {})
        got = self.call("GET", f"/api/v1/prompts/{parsed.name}/resolve", params=params)
        found = ResolvedPrompt(
            name=got["name"], version=got["version"], label=got["label"],
            template=PromptTemplate.from_stored(got["kind"], got["template"], got["variables"]),
            model=got["model"], params=got["params"])
        with self._lock:
            self._prompts[ref] = found
        return found

    # -- what the runner stores ------------------------------------------------------

    def stored_cases(self, dataset: str) -> list[CaseData]:
        """``NAME`` (the newest version) or ``NAME@VERSION`` (a pinned one)."""
        name, _, version = dataset.partition("@")
        query = f"?version={version}" if version else ""
        got = self.call("GET", f"/api/v1/evals/datasets/{name}/cases{query}")
        return [CaseData(c["inputs"], c["expected"], c["metadata"], c["source"]) for c in got]

    def create_run(self, body: dict[str, Any]) -> str:
        return self.call("POST", "/api/v1/evals/runs", json=body)["id"]

    def put_results(self, run_id: str, results: list[dict[str, Any]]) -> None:
        # Results are idempotent per case index: re-sending after a lost answer is safe.
        for attempt in range(4):
            try:
                self.call("POST", f"/api/v1/evals/runs/{run_id}/results",
                           json={"results": results})
                return
            except UpstreamError:
                if attempt == 3:
                    raise
                time.sleep(0.5 * 2 ** attempt)

    def finish(self, run_id: str, status: str) -> dict[str, Any]:
        return self.call("POST", f"/api/v1/evals/runs/{run_id}/finish",
                          json={"status": status})


@dataclass
class RunOutcome:
    run_id: str
    summary: dict[str, Any]
    failed: list[str] = field(default_factory=list)
    import_problems: list[str] = field(default_factory=list)


def _output_of(reply: dict[str, Any]) -> str:
    choices = reply.get("choices") or [{}]
    content = (choices[0].get("message") or {}).get("content")
    return "" if content is None else str(content)


class Runner:
    def __init__(self, config: EvalConfig, client: ServerClient) -> None:
        self.config = config
        self.client = client

    def _body(self, prompt: ResolvedPrompt | None, case: CaseData) -> dict[str, Any]:
        if prompt is not None:
            body: dict[str, Any] = {"prompt": f"{prompt.name}@{prompt.version}",
                                    "variables": case.inputs}
        else:
            messages = case.inputs.get("messages")
            if not isinstance(messages, list):
                raise InvalidInput("without a prompt, every case needs 'messages' in its inputs")
            body = {"messages": messages}
        if self.config.model:
            body["model"] = self.config.model
        if self.config.retrieval is not None:
            body["retrieval"] = self.config.retrieval
        return body

    def _again(self, prompt: ResolvedPrompt | None, case: CaseData, inputs: dict[str, Any]
               ) -> str:
        """The model under test on other inputs (for counterfactual scorers)."""
        body = self._body(prompt, CaseData(inputs, case.expected, case.metadata, case.source))
        return _output_of(self.client.call("POST", "/v1/chat/completions", json=body,
                                           headers={"x-triops-cache": "no"}))

    def run_case(self, index: int, case: CaseData, prompt: ResolvedPrompt | None
                 ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "case_index": index, "inputs": case.inputs, "expected": case.expected,
            "output": None, "error": "", "latency_ms": 0.0, "prompt_tokens": 0,
            "completion_tokens": 0, "cost": 0.0, "trace_id": None, "scores": {}}
        started = time.perf_counter()
        try:
            # No cache: an eval measures the model, not yesterday's answer.
            response = self.client.http.post("/v1/chat/completions",
                                             json=self._body(prompt, case),
                                             headers={"x-triops-cache": "no"})
        except (httpx.HTTPError, InvalidInput) as exc:
            result["error"] = str(exc) or type(exc).__name__
            return result
        result["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
        result["trace_id"] = response.headers.get("x-triops-trace-id")
        if response.status_code != 200:
            result["error"] = f"HTTP {response.status_code}: {_message(response)}"
            return result
        reply = response.json()
        usage = reply.get("usage") or {}
        result["output"] = _output_of(reply)
        result["prompt_tokens"] = int(usage.get("prompt_tokens") or 0)
        result["completion_tokens"] = int(usage.get("completion_tokens") or 0)
        result["cost"] = float(response.headers.get("x-triops-cost-usd") or 0.0)
        cited = [c for c in reply.get("citations") or () if isinstance(c, dict)]
        relevant = case.metadata.get("relevant_ids") or ()
        sample = EvalSample(inputs=case.inputs, expected=case.expected, output=result["output"],
                            latency_ms=result["latency_ms"], cost=result["cost"],
                            tokens=result["prompt_tokens"] + result["completion_tokens"],
                            retrieved=tuple(str(c.get("doc_id")) for c in cited),
                            contexts=tuple(str(c.get("text", "")) for c in cited),
                            relevant=tuple(str(r) for r in relevant))
        ctx = Context(llm=self.client, target=lambda inputs: self._again(prompt, case, inputs))
        for scorer in self.config.scorers:
            try:
                got = scorer.score(sample, ctx)
                result["scores"][scorer.name] = {"value": float(got.value), "error": "",
                                                 "detail": got.detail[:2000]}
            except Exception as exc:  # noqa: BLE001 - a broken scorer costs its score, not the run
                result["scores"][scorer.name] = {
                    "value": None, "detail": "",
                    "error": f"{type(exc).__name__}: {exc}"[:2000]}
        return result

    def cases(self) -> tuple[list[CaseData], list[str]]:
        source = self.config.dataset
        if source.stored is not None:
            return self.client.stored_cases(source.stored), []
        assert source.report is not None
        return source.report.cases, source.report.problems

    def run(self, on_case: Callable[[int, int], None] | None = None) -> RunOutcome:
        cfg = self.config
        prompt = self.client.prompt(str(cfg.prompt)) if cfg.prompt is not None else None
        cases, problems = self.cases()
        run_id = self.client.create_run({
            "name": cfg.name, "prompt_name": prompt.name if prompt else None,
            "prompt_version": prompt.version if prompt else None,
            "prompt_label": cfg.prompt.label if cfg.prompt else None,
            "model": cfg.model or (prompt.model if prompt else "") or "",
            "dataset": cfg.dataset.label, "case_count": len(cases),
            "config": {"scorers": cfg.scorer_specs, "concurrency": cfg.concurrency,
                       "scorer_names": [s.name for s in cfg.scorers],
                       "import_problems": problems[:100]}})
        pending: list[dict[str, Any]] = []
        done = 0
        status = "finished"
        try:
            with ThreadPoolExecutor(max_workers=cfg.concurrency) as pool:
                futures = [pool.submit(self.run_case, i, c, prompt) for i, c in enumerate(cases)]
                for future in as_completed(futures):
                    pending.append(future.result())
                    done += 1
                    if on_case is not None:
                        on_case(done, len(cases))
                    if len(pending) >= _BATCH:
                        self.client.put_results(run_id, pending)
                        pending = []
        except BaseException:
            status = "failed"
            raise
        finally:
            try:
                if pending:
                    self.client.put_results(run_id, pending)
                summary = self.client.finish(run_id, status)["summary"]
            except TriopsError:
                if status == "finished":
                    raise
                summary = {}
        return RunOutcome(run_id=run_id, summary=summary,
                          failed=failed_gates(summary, cfg.gates), import_problems=problems)
