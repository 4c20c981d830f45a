"""The playground: load a prompt version (or write one), fill its variables, run it on one
or two of the gateway's models side by side, and save what works as a new version.

Runs go through the gateway in-process as the signed-in key, so they are metered,
guarded and traced like any other call (the span says ``triops.playground``, and names
the prompt version when the template is the stored one unchanged).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import APIRouter
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from triops.core.errors import InvalidInput, TriopsError
from triops.core.principals import Role
from triops.llm import GatewayCaller, prompts
from triops.llm import prompt_store as repo
from triops.server.auth import AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.ui.rendering import render

router = APIRouter(route_class=RoleFirstRoute, prefix="/ui/llm/playground",
                   include_in_schema=False)

#: Messages a chat draft may hold; the page always offers one empty row to add one more.
MAX_MESSAGES = 40
ROLES = ("system", "user", "assistant", "developer")


@dataclass
class Draft:
    """What the playground's form holds."""

    kind: str = "chat"
    messages: list[dict[str, str]] = field(default_factory=lambda: [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "{{ question }}"}])
    text: str = ""
    values: dict[str, str] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    temperature: str = ""
    max_tokens: str = ""
    #: The stored version the draft was loaded from, as (name, version).
    loaded: tuple[str, int] | None = None

    def template(self) -> Any:
        """The draft as a checked prompt template (raises ``InvalidInput`` if it is not)."""
        if self.kind == "text":
            return prompts.PromptTemplate.text(self.text)
        return prompts.PromptTemplate.chat(self.messages)

    def variables(self) -> list[str]:
        try:
            return list(self.template().variables)
        except InvalidInput:
            return sorted(self.values)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.temperature.strip():
            out["temperature"] = _number(self.temperature, "temperature", 0.0, 2.0)
        if self.max_tokens.strip():
            out["max_tokens"] = int(_number(self.max_tokens, "max tokens", 1, 1_000_000))
        return out


@dataclass(frozen=True)
class Result:
    model: str
    text: str = ""
    error: str = ""
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    trace_id: str = ""


def _number(raw: str, name: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidInput(f"{name} must be a number from {low:g} to {high:g}, got {raw!r}")
    return value


def _draft_from(form: FormData) -> Draft:
    def text(name: str, limit: int = 100_000) -> str:
        value = form.get(name, "")
        return value[:limit] if isinstance(value, str) else ""

    messages = []
    for i in range(MAX_MESSAGES + 1):
        role, content = text(f"role_{i}", 32), text(f"content_{i}")
        if content.strip():
            messages.append({"role": role if role in ROLES else "user", "content": content})
    loaded = None
    name, version = text("loaded_name", 256), text("loaded_version", 12)
    if name and version.isdigit():
        loaded = (name, int(version))
    models = [m for m in (text("model_a", 256), text("model_b", 256)) if m]
    return Draft(kind="text" if text("kind") == "text" else "chat", messages=messages,
                 text=text("text"), loaded=loaded, models=models,
                 values={k[4:]: v for k, v in form.items()
                         if k.startswith("var_") and isinstance(v, str)},
                 temperature=text("temperature", 32), max_tokens=text("max_tokens", 32))


def _page(request: Request, caller: Caller, draft: Draft, results: list[Result] | None = None,
          problem: str = "") -> HTMLResponse:
    runtime = runtime_of(request)
    with runtime.db.read() as session:
        stored = repo.list_prompts(session, caller.project)
    rows = draft.messages + [{"role": "user", "content": ""}]
    return render(request, "llm_playground.html", draft=draft, rows=rows[:MAX_MESSAGES + 1],
                  roles=ROLES, variables=draft.variables(), models=runtime.gateway.models(),
                  prompts=stored, results=results, problem=problem,
                  chosen={"a": draft.models[0] if draft.models else "",
                          "b": draft.models[1] if len(draft.models) > 1 else ""},
                  can_run=caller.principal.allows(Role.editor))


@router.get("", response_class=HTMLResponse)
def playground(request: Request, prompt: str = "", version: str = "",
               caller: Caller = AsViewer) -> HTMLResponse:
    draft = Draft()
    if prompt:
        with runtime_of(request).db.read() as session:
            found = repo.get_prompt(session, caller.project, prompt[:256])
            number = int(version) if version.isdigit() else found.latest_version
            row = repo.get_version(session, caller.project, found.name, number)
        template = row.template
        draft = Draft(kind=found.kind, messages=list(template.get("messages") or []),
                      text=template.get("text") or "", loaded=(found.name, row.version),
                      models=[row.model] if row.model else [],
                      temperature=str((row.params or {}).get("temperature", "")),
                      max_tokens=str((row.params or {}).get("max_tokens", "")))
    return _page(request, caller, draft)


async def _run_one(request: Request, caller: Caller, model: str, body: dict[str, Any],
                   attributes: dict[str, Any]) -> Result:
    gateway = runtime_of(request).gateway
    who = GatewayCaller(project=caller.project, key_id=caller.principal.key_id, cache=False)
    started = time.perf_counter()
    try:
        trace, answer = await gateway.chat(who, {**body, "model": model}, dict(attributes))
    except TriopsError as exc:
        return Result(model=model, error=exc.message,
                      latency_ms=(time.perf_counter() - started) * 1000)
    latency = (time.perf_counter() - started) * 1000
    choice = (answer.get("choices") or [{}])[0] if isinstance(answer, dict) else {}
    usage = (answer.get("usage") or {}) if isinstance(answer, dict) else {}
    content = (choice.get("message") or {}).get("content")
    return Result(model=model, text=content if isinstance(content, str) else str(content or ""),
                  latency_ms=latency, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                  completion_tokens=int(usage.get("completion_tokens") or 0),
                  cost=trace.cost, trace_id=trace.trace_id)


@router.post("", response_class=HTMLResponse)
async def run_or_save(request: Request, caller: Caller = AsEditor) -> Response:
    form = await request.form()
    draft = _draft_from(form)
    action = form.get("action")
    try:
        template = draft.template()
        if action == "save":
            return await anyio.to_thread.run_sync(_save, request, caller, draft, template, form)
        if action != "run":  # "refresh": show the variables the edited template uses
            return _page(request, caller, draft)
        if not draft.models:
            raise InvalidInput("pick a model to run the prompt on")
        values = {name: draft.values.get(name, "") for name in template.variables}
        body = {"messages": template.messages(**values), **draft.params()}
    except InvalidInput as exc:
        return _page(request, caller, draft, problem=exc.message)
    attributes: dict[str, Any] = {"triops.playground": True,
                                  "llm.prompt_template.variables": values}
    if draft.loaded and await anyio.to_thread.run_sync(_unchanged, request, caller, draft,
                                                       template):
        attributes["triops.prompt.name"], attributes["triops.prompt.version"] = draft.loaded
    results = await asyncio.gather(*(_run_one(request, caller, m, body, attributes)
                                     for m in draft.models))
    return _page(request, caller, draft, results=list(results))


def _unchanged(request: Request, caller: Caller, draft: Draft, template: Any) -> bool:
    assert draft.loaded is not None
    with runtime_of(request).db.read() as session:
        row = repo.get_version(session, caller.project, *draft.loaded)
    return bool(row.template == template.stored())


def _save(request: Request, caller: Caller, draft: Draft, template: Any, form: FormData
          ) -> Response:
    name = str(form.get("save_name") or "").strip()[:256]
    if not name:
        raise InvalidInput("name the prompt to save the draft as a version of")
    message = str(form.get("save_message") or "").strip()[:2000] or "from the playground"
    runtime = runtime_of(request)
    with runtime.db.write() as session:
        prompts.create_version(
            session, caller.project, name, kind=draft.kind,
            template=draft.text if draft.kind == "text" else draft.messages,
            variables=None, model=draft.models[0] if draft.models else None,
            params=draft.params(), message=message, actor=caller.actor)
    runtime.prompt_changed(caller.project, name)
    return RedirectResponse(f"/ui/llm/prompts/{name}#versions", status_code=303)
