"""An LLM application that traces its calls and renders a registered prompt, using the
SDK alone.

Run by ``tests/sdk/test_fresh_venv.py``; configured from ``TRIOPS_URL``,
``TRIOPS_API_KEY`` and ``TRIOPS_SERVICE``; prints the rendered prompt.
"""

import triops
import triops.client as tc

tc.from_env()


@triops.trace(kind="retriever")
def retrieve(query: str) -> list[str]:
    return [f"a document about {query}"]


@triops.trace(kind="agent")
def answer(question: str) -> str:
    prompt = triops.prompts.get("sdk-only", label="production")
    return prompt.render(question=question, docs=retrieve(question))


print(answer("what is triops"))
assert tc.flush(10)
