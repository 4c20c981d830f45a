"""Output validation against a JSON schema, with a bounded re-ask.

The model's answer must parse as JSON (a fenced ```json block is accepted) and satisfy
``schema`` (JSON Schema 2020-12, checked with ``jsonschema``). When it does not, the
engine may re-send the conversation with the validation error appended, at most
``max_reasks`` times; this module only says what is wrong and how to ask again.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from triops.llm.guardrails._base import Context, Finding
from triops.llm.guardrails._registry import register

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL)
MAX_REASKS = 5


@register
class JsonSchema:
    """The answer is JSON that satisfies a schema.

    >>> guard = JsonSchema(schema={"type": "object", "required": ["city"]})
    >>> guard.check('{"city": "Lyon"}', None)
    []
    >>> guard.check('{"town": "Lyon"}', None)[0].message
    "$: 'city' is a required property"
    """

    name: ClassVar[str] = "json_schema"
    redacts: ClassVar[bool] = False
    #: The engine re-asks the upstream when this guardrail blocks an answer.
    reasks: ClassVar[bool] = True

    def __init__(self, schema: dict[str, Any], max_reasks: int = 1) -> None:
        if not isinstance(schema, dict):
            raise TypeError("'schema' must be a JSON Schema object")
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"'schema' is not a valid JSON Schema: {exc.message}") from None
        if not 0 <= int(max_reasks) <= MAX_REASKS:
            raise ValueError(f"max_reasks must be between 0 and {MAX_REASKS}")
        self.validator = Draft202012Validator(schema)
        self.max_reasks = int(max_reasks)

    def check(self, text: str, context: Context | None = None) -> list[Finding]:
        fenced = _FENCE.match(text)
        try:
            value = json.loads(fenced.group(1) if fenced else text)
        except (json.JSONDecodeError, TypeError) as exc:
            return [Finding("json_schema.not_json", 0, len(text or ""), 1.0,
                            f"the answer is not JSON: {exc}")]
        error = best_match(self.validator.iter_errors(value))
        if error is None:
            return []
        return [Finding("json_schema.invalid", 0, len(text), 1.0,
                        f"{error.json_path}: {error.message}")]

    def reask_message(self, findings: list[Finding]) -> dict[str, str]:
        problems = "; ".join(f.message for f in findings)
        return {"role": "user", "content": (
            "Your previous answer did not satisfy the required JSON schema: "
            f"{problems}. Reply again with only a JSON value that satisfies the schema.")}
