"""Cost the gateway adds to a request that names a prompt: render the cached prompt into
the chat body (variables checked, sandboxed Jinja2, model and parameters merged).

    .venv/bin/python bench/prompt_render.py
"""

from __future__ import annotations

import timeit

from triops.client.template import PromptTemplate
from triops.llm.prompts.registry import ResolvedPrompt
from triops.llm.prompts.resolver import render_request


def main(runs: int = 20_000) -> None:
    template = PromptTemplate.chat([
        {"role": "system", "content": "You are the support desk of {{ company }}."},
        {"role": "user", "content": "Customer asks: {{ question }}"}])
    found = ResolvedPrompt("support", 3, "production", template, "chat", {"temperature": 0.2})
    body = {"prompt": "support@production", "model": "", "messages": [],
            "variables": {"company": "ACME", "question": "where is my parcel?"}}
    render_request(body, found)  # first call compiles the templates
    seconds = timeit.timeit(lambda: render_request(body, found), number=runs)
    print(f"render_request: {seconds / runs * 1e6:.1f} us per request ({runs} runs)")


if __name__ == "__main__":
    main()
